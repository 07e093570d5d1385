"""`newswire eval`: enrichment quality on benchmarks and labelled texts. Not installed in the
Dataflow worker image (deploy/dataflow/Dockerfile), which runs jobs and never evaluates."""
