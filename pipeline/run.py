"""`newswire run`: parses, calls `run_batch(argv)` and prints the summary; the graph is built in
`assembly`."""

from __future__ import annotations

import glob
import json
import os
import sys
from typing import Sequence

from newswire.pipeline.options import NewswireOptions

USAGE = """newswire run [--input PATH ...] [--feeds FILE [--allow-host HOST ...]] [--output DIR]
             [--taxonomy FILE] [--settings FILE] [beam options ...]

Reads news documents (files with --input, RSS/Atom feeds and their article pages with --feeds), enriches them (clean, metadata, language, duplicates, topics) and writes
enriched-*.jsonl, dead_letter-*.jsonl and summary.json into the output directory. Any Beam option
(--runner, --direct_num_workers, ...) passes through to Beam; the runner defaults to DirectRunner."""


class UsageError(Exception):
    pass


def pipeline_options(argv: Sequence[str]):
    """Beam options from argv; unknown flags are an error here, not a warning Beam logs and ignores."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

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


def run_batch(argv: Sequence[str]) -> dict:
    """Runs the batch pipeline to completion; returns the summary."""
    import apache_beam as beam

    from newswire.pipeline.assembly import SUMMARY_FILE, WriteBatchOutputs, build
    from newswire.pipeline.settings import load_settings
    from newswire.pipeline.sources import SourceError, select_source

    options = pipeline_options(argv)
    job = options.view_as(NewswireOptions)
    errors = job.validate_paths()
    if errors:
        raise UsageError('; '.join(errors))
    try:
        settings = load_settings(job.settings_file, job.taxonomy, job.cleaning_rules,
                                 job.metadata_rules)
    except (ValueError, OSError) as error:
        raise UsageError(str(error)) from error
    try:
        source = select_source(job, settings)
    except SourceError as error:
        raise UsageError(str(error)) from error
    if '://' not in job.output:
        os.makedirs(job.output, exist_ok=True)
        _remove_previous_outputs(job.output)
    with beam.Pipeline(options=options) as pipeline:
        outputs = build(pipeline, source, settings)
        outputs | 'Write' >> WriteBatchOutputs(job.output, settings.num_shards)
    from apache_beam.io.filesystems import FileSystems
    with FileSystems.open(FileSystems.join(job.output, SUMMARY_FILE)) as handle:
        return json.loads(handle.read().decode('utf-8'))


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
    argv = list(argv)
    if argv and argv[0] in ('-h', '--help'):
        print(USAGE)
        return 0
    try:
        summary = run_batch(argv)
    except UsageError as error:
        print(f'newswire run: {error}', file=sys.stderr)
        return 2
    print(format_summary(summary, NewswireOptions(argv).output))
    return 0
