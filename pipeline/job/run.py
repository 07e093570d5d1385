"""`newswire run`: parses, calls `run_batch(argv)` and prints the summary; the graph is built in
`assembly`."""

from __future__ import annotations

import difflib
import glob
import json
import logging
import os
import sys
from typing import Optional, Sequence

from apache_beam.options.pipeline_options import StandardOptions

from newswire.pipeline.job.options import NewswireOptions

USAGE = """newswire run [--input PATH ... [--follow-symlinks]] [--feeds FILE [--allow-host HOST ...]] [--output DIR]
             [--taxonomy FILE] [--settings FILE] [--report] [beam options ...]
newswire run --streaming [--input-subscription projects/P/subscriptions/S] [--feeds FILE [--allow-host HOST ...]]
             [--output-topic projects/P/topics/T] [--dead-letter-topic projects/P/topics/D]
             [--route-topics] [--output DIR] [beam options ...]

Reads news documents (files with --input, RSS/Atom feeds and their article pages with --feeds, or a
Pub/Sub subscription and/or feeds polled for new entries with --streaming), enriches them (clean, metadata, language, duplicates, topics)
and writes enriched-*.jsonl, dead_letter-*.jsonl and summary.json into the output directory, and
report.html with --report. Any Beam option (--runner, --direct_num_workers, ...) passes through to
Beam; the runner defaults to DirectRunner."""


class UsageError(Exception):
    pass


# The runners a user names; Beam also takes a runner class's dotted path.
RUNNERS = ('DirectRunner', 'PrismRunner', 'FlinkRunner', 'SparkRunner', 'PortableRunner',
           'DataflowRunner')


class _QuietUnparseableArgs(logging.Filter):
    """Beam logs "Discarding unparseable args" for a misspelt option; ours says it better (below)."""

    def filter(self, record):
        return 'unparseable args' not in record.getMessage()


class _QuietJobServerLifecycle(logging.Filter):
    """Beam logs starting and stopping a job server (Flink, Spark) or Prism at WARNING on every
    run; routine, so not shown. A failure to start is still logged, at ERROR."""

    def filter(self, record):
        return not record.getMessage().startswith(('Really starting service',
                                                   'Really destroying service'))


_QUIET_JOB_SERVER = _QuietJobServerLifecycle()  # one instance: addFilter keeps it once


def _is_closed_channel_watcher(args) -> bool:
    """Whether a thread ended as gRPC's connectivity watcher does when its channel is closed under
    it: a ValueError "Cannot monitor channel state: ..." raised in grpc's `_poll_connectivity`.

    Beam's `SubprocessServer.start` waits for a job server's (or Prism's) port with
    `grpc.channel_ready_future`, whose watcher thread polls the channel; when the process exits
    first, Beam closes the channel (`stop_force`) without cancelling the future, and the watcher
    dies on the closed channel, printing a traceback beside `main`'s one line. Seen with Beam
    2.77; we found no upstream issue about it (gRPC treats a watch after close as the caller's
    error: grpc/grpc#16290)."""
    import traceback

    error = args.exc_value
    return (isinstance(error, ValueError)
            and str(error).startswith('Cannot monitor channel state')
            and any(frame.name == '_poll_connectivity'
                    for frame in traceback.extract_tb(args.exc_traceback)))


def _quiet_closed_channel_watchers() -> None:
    """From now on, threads ending as `_is_closed_channel_watcher` says print nothing; other thread
    errors go to the hook installed before (idempotent)."""
    import threading

    previous = threading.excepthook
    if getattr(previous, 'drops_closed_channel_watchers', False):
        return

    def hook(args):
        if not _is_closed_channel_watcher(args):
            previous(args)

    hook.drops_closed_channel_watchers = True
    threading.excepthook = hook


def _all_option_names() -> list[str]:
    """Every --option Beam and newswire accept, for "did you mean"."""
    import argparse

    from apache_beam.options.pipeline_options import PipelineOptions

    parser = argparse.ArgumentParser(add_help=False)
    for cls in PipelineOptions.__subclasses__() + [NewswireOptions]:
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:
            continue  # an option two option classes both define
    return sorted({flag for action in parser._actions for flag in action.option_strings})


def _did_you_mean(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return f' (did you mean {close[0]}?)' if close else ''


def _check_runner(runner) -> None:
    if runner is None or not isinstance(runner, str) or '.' in runner:
        return
    from apache_beam.runners.runner import _RUNNER_MAP

    if runner.lower() not in _RUNNER_MAP:
        raise UsageError(f'unknown runner {runner!r}{_did_you_mean(runner, RUNNERS)}; runners: '
                         f'{", ".join(RUNNERS)} (default DirectRunner), or a runner class\'s '
                         f'dotted path')


def pipeline_options(argv: Sequence[str]):
    """Beam options from argv; unknown flags are an error here, not a warning Beam logs and ignores."""
    from apache_beam.options.pipeline_options import PipelineOptions

    beam_logger = logging.getLogger('apache_beam.options.pipeline_options')
    quiet = _QuietUnparseableArgs()
    beam_logger.addFilter(quiet)
    try:
        options = PipelineOptions(list(argv))
        known = options.get_all_options(drop_default=False)
        with_unknown = options.get_all_options(drop_default=False, retain_unknown_options=True)
    finally:
        beam_logger.removeFilter(quiet)
    unknown = sorted(set(with_unknown) - set(known))
    if unknown:
        names = _all_option_names()
        raise UsageError('unknown option(s): ' + ', '.join(
            f'--{name}{_did_you_mean("--" + name, names)}' for name in unknown)
            + '; newswire run --help lists the options')
    _check_runner(options.view_as(StandardOptions).runner)
    if options.view_as(StandardOptions).runner is None:
        # Named explicitly: left unset, Beam first tries to fetch the Prism runner from the network.
        options.view_as(StandardOptions).runner = 'DirectRunner'
    from newswire.pipeline.job.runners import RunnerSetupError, prepare_runner
    try:
        prepare_runner(options)  # the cached Prism binary; no silent job-server download
    except RunnerSetupError as error:
        raise UsageError(str(error)) from error
    return options


def _check_pubsub(job) -> None:
    """The Pub/Sub a job names can be reached and exists, else a `UsageError` naming the fix (a
    running job would otherwise retry a missing subscription for minutes, or die in a thread)."""
    if not (job.input_subscription or job.output_topic or job.dead_letter_topic):
        return
    from newswire.pipeline.commands.pubsub_admin import (PubSubSetupError, check_pubsub_reachable,
                                                         publisher_client, require_subscription,
                                                         require_topic, subscriber_client)

    try:
        check_pubsub_reachable()
        if job.input_subscription:
            subscriber = subscriber_client()
            try:
                require_subscription(subscriber, job.input_subscription)
            finally:
                subscriber.close()
        publisher = publisher_client()
        for topic in (job.output_topic, job.dead_letter_topic):
            if topic:
                require_topic(publisher, topic)
    except PubSubSetupError as error:
        raise UsageError(str(error)) from error


def _remove_previous_outputs(output_dir: str) -> None:
    """A rerun with another shard count must not leave the last run's shards behind."""
    if '://' in output_dir:
        return
    for pattern in ('enriched-*-of-*.jsonl', 'dead_letter-*-of-*.jsonl', 'summary.json',
                    'report.html'):
        for path in glob.glob(os.path.join(output_dir, pattern)):
            os.remove(path)


def _job(options):
    """(newswire options, settings) for Beam options, or UsageError."""
    from newswire.pipeline.job.settings import load_settings

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
    return job, settings


def _publishing(job, settings, local=None):
    from newswire.pipeline.job.assembly import PublishOutputs

    routes = tuple(t.id for t in settings.taxonomy.tags) if job.route_topics else ()
    publisher = (local.publisher(job.output_topic, job.dead_letter_topic, routes)
                 if local is not None else None)
    return PublishOutputs(job.output_topic, job.dead_letter_topic, routes, publisher)


def batch_pipeline(options) -> 'beam.Pipeline':
    """The batch job's graph on a `Pipeline` with `options`, not yet run; building it starts
    nothing.

    `run_batch` runs it; tests and deployment checks read the graph it gives a runner (e.g. the
    Dataflow job of `--dry_run=True`) without running it.
    """
    import apache_beam as beam

    from newswire.pipeline.job.assembly import WriteBatchOutputs, build
    from newswire.pipeline.job.progress import ReportProgress
    from newswire.pipeline.job.sources import SourceError, select_source

    job, settings = _job(options)
    try:
        source = select_source(job, settings)
    except SourceError as error:
        raise UsageError(str(error)) from error
    pipeline = _new_pipeline(options)
    outputs = build(pipeline, source, settings)
    outputs | 'Write' >> WriteBatchOutputs(job.output_dir(), settings.num_shards)
    if settings.progress_seconds > 0:
        outputs | 'Progress' >> ReportProgress(settings.progress_seconds)
    if job.output_topic or job.dead_letter_topic:
        outputs | 'Publish' >> _publishing(job, settings)
    return pipeline


def _new_pipeline(options) -> 'beam.Pipeline':
    """A pipeline on the runner the options name, or on `PrismRunnerWithWorkerProcess` when the
    per-document steps get a worker process of their own (`--enrichment-process`); with
    `beam_memos` installed, so Beam works out its per-transform answers once."""
    import apache_beam as beam

    from newswire.pipeline.job import beam_memos
    from newswire.pipeline.local.worker_process import PrismRunnerWithWorkerProcess, wanted

    beam_memos.install()
    if wanted(options):
        return beam.Pipeline(runner=PrismRunnerWithWorkerProcess(), options=options)
    return beam.Pipeline(options=options)


def streaming_pipeline(options, local=None) -> 'beam.Pipeline':
    """The streaming job's graph (Pub/Sub and/or polled feeds in, topics and/or windowed files
    out), not run; building it starts nothing.

    Without `local` it is the graph Dataflow runs (`ReadFromPubSub`, `PeriodicImpulse`,
    `WriteToPubSub`); with the started `pipeline.local.LocalAdapters` of a local run, their
    source and publisher take those places."""
    import apache_beam as beam

    from newswire.pipeline.job.assembly import WriteWindowedOutputs, build
    from newswire.pipeline.job.progress import ReportProgress
    from newswire.pipeline.job.sources import SourceError, select_stream_source

    job, settings = _job(options)
    try:
        source = (local.source if local is not None and local.source is not None
                  else select_stream_source(job, settings))
    except SourceError as error:
        raise UsageError(str(error)) from error
    pipeline = _new_pipeline(options)
    outputs = build(pipeline, source, settings, streaming=True)
    outputs | 'Publish' >> _publishing(job, settings, local)
    if settings.progress_seconds > 0:
        outputs | 'Progress' >> ReportProgress(settings.progress_seconds)
    if job.output:
        outputs | 'WriteFiles' >> WriteWindowedOutputs(job.output, job.window_seconds)
    return pipeline


def local_adapters(options):
    """`pipeline.local.adapt` for these options: what a run on this runner swaps in and starts,
    planned (nothing started), or UsageError."""
    from newswire.pipeline.local import LocalSetupError, adapt
    from newswire.pipeline.job.sources import SourceError

    # Only a stream's adapters read the settings; a batch job's only choose the data-plane patch.
    streaming = options.view_as(StandardOptions).streaming
    job, settings = _job(options) if streaming else (options.view_as(NewswireOptions), None)
    try:
        return adapt(job, settings, options)
    except (LocalSetupError, SourceError) as error:
        raise UsageError(str(error)) from error


def only_describes_job(options) -> bool:
    """True when running hands the job's description over instead of executing it: a Dataflow
    `--dry_run`, or `--template_location` (how the Flex Template launcher gets the job graph)."""
    from apache_beam.options.pipeline_options import GoogleCloudOptions, TestOptions

    return bool(options.view_as(TestOptions).dry_run
                or options.view_as(GoogleCloudOptions).template_location)


def read_summary(output_dir: str) -> dict:
    from apache_beam.io.filesystems import FileSystems

    from newswire.pipeline.job.assembly import SUMMARY_FILE

    with FileSystems.open(FileSystems.join(output_dir, SUMMARY_FILE)) as handle:
        return json.loads(handle.read().decode('utf-8'))


def prepare_output(output_dir: str) -> None:
    """A local output directory exists and holds nothing of a previous run."""
    if '://' not in output_dir:
        os.makedirs(output_dir, exist_ok=True)
        _remove_previous_outputs(output_dir)


def _announce_runner(options) -> None:
    """One line naming what a run beyond the DirectRunner runs with (the Prism binary, the job
    server jar), so a user sees which install a run took."""
    from newswire.pipeline.job.runners import describe_runner

    described = describe_runner(options)
    if described:
        print(f'newswire: on {described}', file=sys.stderr, flush=True)


def run_batch(argv: Sequence[str]) -> Optional[dict]:
    """Runs the batch pipeline to completion; returns the summary (None when the job was only
    described, see `only_describes_job`: then no output exists yet)."""
    options = pipeline_options(argv)
    _announce_runner(options)
    output = options.view_as(NewswireOptions).output_dir()
    pipeline = batch_pipeline(options)
    if only_describes_job(options):
        pipeline.run().wait_until_finish()
        return None
    _check_pubsub(options.view_as(NewswireOptions))
    prepare_output(output)
    from newswire.pipeline.job import progress

    try:
        with local_adapters(options):
            pipeline.run().wait_until_finish()
    finally:
        progress.stop_all()
    return read_summary(output)


def start_streaming(argv: Sequence[str]):
    """Starts the streaming pipeline; returns Beam's PipelineResult (it runs until cancelled or
    drained), whether the job was only described, and the started `LocalAdapters` (the caller
    stops them once the job ends)."""
    options = pipeline_options(argv)
    _announce_runner(options)
    described = only_describes_job(options)
    local = local_adapters(options)
    if not described:
        _check_pubsub(options.view_as(NewswireOptions))
    local.start()  # the local stream's endpoint goes into the graph
    try:
        return streaming_pipeline(options, local).run(), described, local
    except BaseException:
        local.stop()
        raise


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


def summary_warnings(summary: dict) -> list[str]:
    """What a finished batch run should not let pass unnoticed although it completed."""
    if summary['documents_read'] == 0:
        return ['no records were read: the inputs hold no files (or only empty JSONL files)']
    if summary['enriched'] == 0:
        return [f"none of the {summary['documents_read']} records read was enriched: all are dead "
                'letters (see dead_letter-*.jsonl)']
    return []


def _stream(argv: Sequence[str]) -> int:
    """Runs a stream until Ctrl-C (0), or until a source of a local run gives up or the runner goes
    away (1)."""
    from newswire.pipeline.job import progress
    from newswire.pipeline.job.stream_end import wait_for_stream

    result, described, local = start_streaming(argv)
    if described:
        local.stop()
        print('job described, not run')
        return 0
    print('newswire: streaming; Ctrl-C stops', file=sys.stderr)
    try:
        end = wait_for_stream(result)
    finally:
        progress.stop_all()
        local.stop()
    if end.stopped:
        print('newswire: stopped', file=sys.stderr)
        return 0
    if end.lost_runner:
        print(f'newswire run: lost the connection to the runner ({end.lost_runner}): its '
              f'process ended; what it printed, if anything, is above', file=sys.stderr)
        return 1
    if end.error is not None:
        raise end.error
    if local.error:
        print(f'newswire run: stopped reading: {local.error}', file=sys.stderr)
        return 1
    return 0


def help_text() -> str:
    """The usage, then every newswire option with its help and default."""
    import argparse

    class WithDefaults(argparse.HelpFormatter):
        def _get_help_string(self, action):
            text = action.help or ''
            if 'default' in text.lower():
                return text
            return f'{text} Default: {"off" if action.default in (None, False) else action.default}'

    parser = argparse.ArgumentParser(prog='newswire run', add_help=False, usage=argparse.SUPPRESS,
                                     formatter_class=WithDefaults)
    NewswireOptions._add_argparse_args(parser)
    options = parser.format_help().strip()
    return (f'{USAGE}\n\n{options}\n\nBeam\'s own options pass through (--runner, '
            f'--direct_num_workers, --streaming, ...); runners: {", ".join(RUNNERS)}.')


# How Beam's SubprocessServer says a job server's process exited before its port answered.
_JOB_SERVICE_DID_NOT_START = 'Service failed to start up'


def main(argv: Sequence[str]) -> int:
    """`newswire run ARGS`: 0 when the pipeline ran (dead letters or not), 2 on a usage error, 1
    when the pipeline failed."""
    from apache_beam.options.pipeline_options import PipelineOptions

    argv = list(argv)
    logging.getLogger('apache_beam.utils.subprocess_server').addFilter(_QUIET_JOB_SERVER)
    _quiet_closed_channel_watchers()
    if any(arg in ('-h', '--help') for arg in argv):
        print(help_text())
        return 0
    try:
        if PipelineOptions(argv).view_as(StandardOptions).streaming:
            return _stream(argv)
        summary = run_batch(argv)
    except UsageError as error:
        print(f'newswire run: {error}', file=sys.stderr)
        return 2
    except RuntimeError as error:
        if not str(error).startswith(_JOB_SERVICE_DID_NOT_START):
            raise
        # Beam's SubprocessServer gives up on a job server (or Prism) whose process exited before
        # its port answered; Beam logged the process's own output above, at its level.
        print(f'newswire run: the runner\'s job service did not start ({error}): check the '
              f'runner is installed (newswire runners list; install again with newswire runners '
              f'install NAME) and that the JAR or binary named runs', file=sys.stderr)
        return 2
    except Exception as error:  # the pipeline failed: its traceback, then one line saying so
        import traceback
        traceback.print_exc()
        print(f'newswire run: the pipeline failed: {type(error).__name__}: '
              f'{str(error).splitlines()[0] if str(error) else ""}', file=sys.stderr)
        return 1
    job = NewswireOptions(argv)
    output_dir = job.output_dir()
    if summary is None:
        print(f'job described, not run: no output in {output_dir} yet')
        return 0
    print(format_summary(summary, output_dir))
    for warning in summary_warnings(summary):
        print(f'newswire run: warning: {warning}', file=sys.stderr)
    if job.report:
        from newswire.pipeline.commands.report import write_report
        print(f'report           {write_report(output_dir)}')
    return 0
