"""`newswire run`: parses, calls `run_batch(argv)` and prints the summary; the graph is built in
`assembly`."""

from __future__ import annotations

import glob
import json
import os
import sys
from typing import Sequence

from apache_beam.options.pipeline_options import StandardOptions

from newswire.pipeline.options import NewswireOptions

USAGE = """newswire run [--input PATH ...] [--output DIR] [--taxonomy FILE] [--settings FILE] [beam options ...]
newswire run --streaming --input-subscription projects/P/subscriptions/S --output-topic projects/P/topics/T
             [--dead-letter-topic projects/P/topics/D] [--route-topics] [--output DIR] [beam options ...]

Reads news documents, enriches them (clean, metadata, language, duplicates, topics) and writes
enriched-*.jsonl, dead_letter-*.jsonl and summary.json into the output directory. Any Beam option
(--runner, --direct_num_workers, ...) passes through to Beam; the runner defaults to DirectRunner."""


class UsageError(Exception):
    pass


def pipeline_options(argv: Sequence[str]):
    """Beam options from argv; unknown flags are an error here, not a warning Beam logs and ignores."""
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(list(argv))
    known = options.get_all_options(drop_default=False)
    with_unknown = options.get_all_options(drop_default=False, retain_unknown_options=True)
    unknown = sorted(set(with_unknown) - set(known))
    if unknown:
        raise UsageError(f'unknown option(s): {", ".join("--" + u for u in unknown)}')
    if options.view_as(StandardOptions).runner is None:
        # Named explicitly: left unset, Beam first tries to fetch the Prism runner from the network.
        options.view_as(StandardOptions).runner = 'DirectRunner'
    return options


def _remove_previous_outputs(output_dir: str) -> None:
    """A rerun with another shard count must not leave the last run's shards behind."""
    if '://' in output_dir:
        return
    for pattern in ('enriched-*-of-*.jsonl', 'dead_letter-*-of-*.jsonl', 'summary.json'):
        for path in glob.glob(os.path.join(output_dir, pattern)):
            os.remove(path)


def _job(argv: Sequence[str]):
    """(Beam options, newswire options, settings) from argv, or UsageError."""
    from newswire.pipeline.settings import load_settings

    options = pipeline_options(argv)
    job = options.view_as(NewswireOptions)
    errors = job.validate_paths()
    if options.view_as(StandardOptions).streaming:
        errors += job.validate_streaming()
    if errors:
        raise UsageError('; '.join(errors))
    try:
        settings = load_settings(job.settings_file, job.taxonomy, job.cleaning_rules,
                                 job.metadata_rules)
    except (ValueError, OSError) as error:
        raise UsageError(str(error)) from error
    return options, job, settings


def _publishing(job, settings):
    from newswire.pipeline.assembly import PublishOutputs

    routes = tuple(t.id for t in settings.taxonomy.topics) if job.route_topics else ()
    return PublishOutputs(job.output_topic, job.dead_letter_topic, routes)


def batch_pipeline(argv: Sequence[str]):
    """(the batch pipeline, built and not yet run, and its output directory); the benchmark runs it
    itself to read Beam's metrics from the result."""
    import apache_beam as beam

    from newswire.pipeline.assembly import WriteBatchOutputs, build
    from newswire.transforms.read_files import ReadDocumentFiles

    options, job, settings = _job(argv)
    output = job.output_dir()
    if '://' not in output:
        os.makedirs(output, exist_ok=True)
        _remove_previous_outputs(output)
    pipeline = beam.Pipeline(options=options)
    outputs = build(pipeline, ReadDocumentFiles(job.input_paths(), settings.max_document_bytes),
                    settings)
    outputs | 'Write' >> WriteBatchOutputs(output, settings.num_shards)
    if job.output_topic or job.dead_letter_topic:
        outputs | 'Publish' >> _publishing(job, settings)
    return pipeline, output


def read_summary(output_dir: str) -> dict:
    from apache_beam.io.filesystems import FileSystems

    from newswire.pipeline.assembly import SUMMARY_FILE

    with FileSystems.open(FileSystems.join(output_dir, SUMMARY_FILE)) as handle:
        return json.loads(handle.read().decode('utf-8'))


def run_batch(argv: Sequence[str]) -> dict:
    """Runs the batch pipeline to completion; returns the summary."""
    pipeline, output = batch_pipeline(argv)
    pipeline.run().wait_until_finish()
    return read_summary(output)


def start_streaming(argv: Sequence[str]):
    """Builds and starts the streaming pipeline; returns Beam's PipelineResult (it runs until
    cancelled or drained)."""
    import apache_beam as beam

    from newswire.pipeline.assembly import WriteWindowedOutputs, build
    from newswire.transforms.pubsub import ReadPubSubDocuments

    options, job, settings = _job(argv)
    pipeline = beam.Pipeline(options=options)
    outputs = build(pipeline, ReadPubSubDocuments(job.input_subscription,
                                                  settings.max_document_bytes),
                    settings, streaming=True)
    outputs | 'Publish' >> _publishing(job, settings)
    if job.output:
        outputs | 'WriteFiles' >> WriteWindowedOutputs(job.output, job.window_seconds)
    return pipeline.run()


def format_summary(summary: dict, output_dir: str) -> str:
    def counts(mapping):
        return ', '.join(f'{k} {v}' for k, v in mapping.items()) or 'none'

    lines = [
        f"documents read   {summary['documents_read']}",
        f"enriched         {summary['enriched']}",
        f"dead letters     {summary['dead_letters']} ({counts(summary['dead_letters_by_reason'])})",
        f"duplicates       {counts(summary['duplicates_by_tier'])}",
        f"stories          {summary['stories']}",
        f"topics           {counts(summary['topics'])}",
        f"languages        {counts(summary['languages'])}",
        f"accounting       {'ok' if summary['accounting_ok'] else 'MISMATCH'}: "
        f"read = enriched + dead letters",
        f"output           {output_dir}",
    ]
    return '\n'.join(lines)


def main(argv: Sequence[str]) -> int:
    """`newswire run ARGS`: 0 when the pipeline ran (dead letters or not), 2 on a usage error."""
    from apache_beam.options.pipeline_options import PipelineOptions

    argv = list(argv)
    if argv and argv[0] in ('-h', '--help'):
        print(USAGE)
        return 0
    try:
        if PipelineOptions(argv).view_as(StandardOptions).streaming:
            result = start_streaming(argv)
            print('newswire: streaming; Ctrl-C stops', file=sys.stderr)
            try:
                result.wait_until_finish()
            except KeyboardInterrupt:
                result.cancel()
                print('newswire: stopped', file=sys.stderr)
            return 0
        summary = run_batch(argv)
    except UsageError as error:
        print(f'newswire run: {error}', file=sys.stderr)
        return 2
    print(format_summary(summary, NewswireOptions(argv).output_dir()))
    return 0
