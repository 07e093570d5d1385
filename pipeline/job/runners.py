"""What a job needs from a runner beyond the DirectRunner, checked before it runs.

Prism, Beam's Go runner, lives in a per-machine cache at exactly the Beam version installed (pinned
in one place, pyproject.toml): `$XDG_CACHE_HOME/newswire/prism/<version>/prism`
(`~/.cache/newswire/...` by default), put there by `newswire runners install prism`
(pipeline/commands/runners.py). `newswire run --runner=PrismRunner` then passes that binary as
`--prism_location`; without it Beam would try to download a release from GitHub, which a machine
that reaches only package registries cannot do, so the run is refused instead with the command that
installs it.

Flink and Spark run through Beam's Java job servers. Beam fetches their jars from Maven Central on
first use; `prepare_runner` refuses such a run unless the job names a jar (`--flink_job_server_jar`,
`--spark_job_server_jar`) or a running job server (`--job_endpoint`), so a run never starts a
download the user did not ask for.
"""

from __future__ import annotations

import os
import pathlib
from typing import Optional

INSTALL_COMMAND = 'newswire runners install prism'

# Runners that execute through Beam's portable Job API (they lack the Python Pub/Sub source).
PORTABLE_RUNNERS = ('PrismRunner', 'FlinkRunner', 'SparkRunner', 'PortableRunner')

# runner -> (the option naming a local job server jar, what Beam would download otherwise)
_JAVA_RUNNERS = {
    'FlinkRunner': ('--flink_job_server_jar', 'beam-runners-flink-{flink}-job-server'),
    'SparkRunner': ('--spark_job_server_jar', 'beam-runners-spark-3-job-server'),
}


class RunnerSetupError(Exception):
    """A runner cannot be installed or used as asked; the message names what is missing and the
    fix."""


def beam_version() -> str:
    """The installed apache_beam's version (pyproject.toml pins it), e.g. '2.77.0'."""
    from apache_beam.version import __version__
    return __version__


def cache_dir() -> pathlib.Path:
    """Where newswire keeps per-machine downloads and builds (XDG base directory convention)."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return pathlib.Path(base) / 'newswire'


def prism_path(version: Optional[str] = None) -> pathlib.Path:
    return cache_dir() / 'prism' / (version or beam_version()) / 'prism'


def installed_prism(version: Optional[str] = None) -> Optional[pathlib.Path]:
    """The cached Prism binary of `version` (default: the installed Beam's), or None."""
    path = prism_path(version)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _require_local_file(flag: str, path: str) -> None:
    """A path without a scheme must exist (Beam would report it with a traceback mid-run)."""
    if '://' not in path and not os.path.isfile(path):
        raise RunnerSetupError(f'{flag}={path}: no such file')


def _refuse_pubsub_input(options, runner: str) -> None:
    """Beam's Python Pub/Sub read is a native source that only the DirectRunner and Dataflow
    replace with a reader; a portable runner has none, and Beam's cross-language one needs the Java
    expansion service, which newswire does not download."""
    from apache_beam.options.pipeline_options import StandardOptions

    from newswire.pipeline.job.options import NewswireOptions

    if (runner in PORTABLE_RUNNERS and options.view_as(StandardOptions).streaming
            and options.view_as(NewswireOptions).input_subscription):
        raise RunnerSetupError(
            f'--input-subscription cannot be read on {runner}: Beam\'s Python Pub/Sub source runs '
            f'only on the DirectRunner and Dataflow; stream Pub/Sub with --runner=DirectRunner (or '
            f'DataflowRunner), or poll --feeds on {runner}')


def prepare_runner(options) -> None:
    """Fills in what the chosen runner needs from the cache, or refuses a run it would break.

    PrismRunner: `--prism_location` is the cached binary unless the user named one.
    FlinkRunner/SparkRunner: needs a job server jar or endpoint (see the module docstring).
    PortableRunner: needs --job_endpoint (Beam would fail mid-run with a traceback).
    A portable runner cannot stream --input-subscription (`_refuse_pubsub_input`).

    Raises:
        RunnerSetupError: naming the missing piece and how to provide it.
    """
    from apache_beam.options.pipeline_options import (PortableOptions, PrismRunnerOptions,
                                                      StandardOptions)

    runner = str(options.view_as(StandardOptions).runner or '').rsplit('.', 1)[-1]
    _refuse_pubsub_input(options, runner)
    if runner == 'PrismRunner':
        prism = options.view_as(PrismRunnerOptions)
        if prism.prism_location:
            _require_local_file('--prism_location', prism.prism_location)
            return
        binary = installed_prism()
        if binary is None:
            raise RunnerSetupError(
                f'--runner=PrismRunner needs the Prism binary for Beam {beam_version()}, which is '
                f'not installed (expected {prism_path()}): run `{INSTALL_COMMAND}` (needs Go), or '
                f'pass --prism_location=BINARY')
        prism.prism_location = str(binary)
    elif runner == 'PortableRunner' and not options.view_as(PortableOptions).job_endpoint:
        raise RunnerSetupError('--runner=PortableRunner needs --job_endpoint=HOST:PORT of a running '
                               'job server (deploy/README.md); for a local run: --runner=PrismRunner')
    elif runner in _JAVA_RUNNERS:
        jar_flag, artifact = _JAVA_RUNNERS[runner]
        artifact = artifact.format(flink=_flink_version(options))
        jar = options.get_all_options(drop_default=True).get(jar_flag[2:])
        if jar:
            _require_local_file(jar_flag, jar)
            return
        if options.view_as(PortableOptions).job_endpoint:
            return
        raise RunnerSetupError(
            f'--runner={runner} needs Beam\'s job server: pass {jar_flag}=JAR (org.apache.beam:'
            f'{artifact}:{beam_version()}, which newswire does not download) or '
            f'--job_endpoint=HOST:PORT of a running job server (deploy/README.md)')


def _flink_version(options=None) -> str:
    """The Flink minor whose job server Beam would use (--flink_version, else Beam's default)."""
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, PipelineOptions
    return (options or PipelineOptions([])).view_as(FlinkRunnerOptions).flink_version
