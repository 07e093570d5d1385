"""newswire's performance benchmark: `python -m bench.run --help`."""
