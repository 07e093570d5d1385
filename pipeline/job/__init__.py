"""Building and running a job: options, settings, sources, the graph, the run itself."""
