"""Where newswire keeps what it downloads or builds once per machine: runners (`runners.py`) and
the tables of `transforms/machine_cache.py` (wordfreq's lists, langdetect's profiles). Imports
nothing heavy, so a module outside a pipeline can ask for it."""

import os
import pathlib


def cache_dir() -> pathlib.Path:
    """`$XDG_CACHE_HOME/newswire`, `~/.cache/newswire` by default (XDG base directory convention)."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return pathlib.Path(base) / 'newswire'
