"""`newswire runners`: the Beam runners beyond the DirectRunner, set up once per machine.

Prism, Beam's Go runner, is built with `go install` at exactly the Beam version installed (pinned in
one place, pyproject.toml) into a per-machine cache, `$XDG_CACHE_HOME/newswire/prism/<version>/prism`
(`~/.cache/newswire/...` by default). `newswire run --runner=PrismRunner` then passes that binary
as `--prism_location`; without it Beam would try to download a release from GitHub, which a
machine that reaches only package registries cannot do, so the run is refused instead with the
command that installs it.

Flink and Spark run through Beam's Java job servers. Beam fetches their jars from Maven Central on
first use; `prepare_runner` refuses such a run unless the job names a jar (`--flink_job_server_jar`,
`--spark_job_server_jar`) or a running job server (`--job_endpoint`), so a run never starts a
download the user did not ask for.

    newswire runners install prism   # idempotent: a second call finds the binary and returns
    newswire runners list            # what is installed where, and what each runner needs
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from typing import Callable, Optional, Sequence

PRISM_PACKAGE = 'github.com/apache/beam/sdks/v2/go/cmd/prism'
INSTALL_COMMAND = 'newswire runners install prism'

# What `go install` prints when the module could not be fetched (proxy refusal, no network, no
# such version), as opposed to a compile or link error.
_DOWNLOAD_FAILURES = ('reading http', 'not found', 'dial tcp', 'unknown revision',
                      'invalid version', 'module lookup disabled', 'tls:', 'connection refused',
                      'no such host', 'i/o timeout', 'verifying module')

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


def _go_failure(output: str) -> str:
    """'the download was refused' or 'the build failed', and the line of go's output saying why."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if any(marker in line.lower() for marker in _DOWNLOAD_FAILURES):
            return f'the download was refused: {line}'
    errors = [line for line in lines if not line.startswith('go: downloading')]
    return f'the build failed: {errors[-1] if errors else "go printed nothing"}'


def install_prism(version: Optional[str] = None,
                  announce: Callable[[str], None] = lambda message: None) -> tuple[pathlib.Path, bool]:
    """Builds Prism at `version` (default: the installed Beam's) into the cache unless it is there.

    Returns (the binary's path, whether it was built now); `announce` is told before a build starts
    (minutes the first time). `go install` writes into a temporary
    directory beside the cache entry, renamed into place only once complete, so an interrupted
    build never leaves a binary that looks installed.

    Raises:
        RunnerSetupError: no Go toolchain on PATH, the module could not be fetched, or it did not
            build; go's whole output is kept in install.log beside the binary.
    """
    version = version or beam_version()
    target = prism_path(version)
    if installed_prism(version):
        return target, False
    go = shutil.which('go')
    if go is None:
        raise RunnerSetupError(
            f'Prism is built from source with Go, and no `go` is on PATH: install Go '
            f'(https://go.dev/doc/install), or pass --prism_location=BINARY to newswire run')
    target.parent.mkdir(parents=True, exist_ok=True)
    log = target.parent / 'install.log'
    announce(f'building Prism {version} with go install {PRISM_PACKAGE}@v{version} into {target}')
    with tempfile.TemporaryDirectory(prefix='gobin-', dir=target.parent) as gobin:
        process = subprocess.run([go, 'install', f'{PRISM_PACKAGE}@v{version}'],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env={**os.environ, 'GOBIN': gobin}, check=False)
        output = process.stdout.decode('utf-8', errors='replace')
        log.write_text(output, encoding='utf-8')
        built = pathlib.Path(gobin) / 'prism'
        if process.returncode != 0 or not built.is_file():
            raise RunnerSetupError(
                f'go install {PRISM_PACKAGE}@v{version} exited with {process.returncode}: '
                f'{_go_failure(output)} (whole output in {log})')
        os.replace(built, target)
    return target, True


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


def _list() -> int:
    version = beam_version()
    binary = installed_prism(version)
    print(f'prism   Beam {version}  ' + (f'installed: {binary}' if binary else
                                          f'not installed: {INSTALL_COMMAND}'))
    others = sorted(p.parent.name for p in (cache_dir() / 'prism').glob('*/prism')
                    if p.parent.name != version)
    if others:
        print(f'        also cached, unused by this Beam: {", ".join(others)}')
    for runner, (jar_flag, artifact) in _JAVA_RUNNERS.items():
        artifact = artifact.format(flink=_flink_version())
        print(f'{runner[:-6].lower():<7} not installable by newswire: newswire run '
              f'--runner={runner} {jar_flag}=JAR ({artifact}:{version}) or --job_endpoint=HOST:PORT')
    return 0


def main(argv: Sequence[str]) -> int:
    """`newswire runners install prism | list`: 0 when done, 2 when a runner cannot be set up."""
    parser = argparse.ArgumentParser(
        prog='newswire runners',
        description='Set up the Beam runners beyond the DirectRunner, once per machine, in '
                    f'{cache_dir()}.')
    commands = parser.add_subparsers(dest='command', required=True)
    install = commands.add_parser(
        'install', help='build a runner for the installed Beam version (idempotent)')
    install.add_argument('runner', choices=['prism', 'flink', 'spark'])
    commands.add_parser('list', help='what is installed, and what each runner needs')
    args = parser.parse_args(list(argv))
    if args.command == 'list':
        return _list()
    if args.runner != 'prism':
        runner = f'{args.runner.capitalize()}Runner'
        jar_flag, artifact = _JAVA_RUNNERS[runner]
        print(f'newswire runners: {args.runner} is not installable by newswire (Beam\'s job server '
              f'jar, org.apache.beam:{artifact.format(flink=_flink_version())}:{beam_version()}, '
              f'comes from Maven): newswire run --runner={runner} {jar_flag}=JAR, or '
              f'--job_endpoint=HOST:PORT of a running job server', file=sys.stderr)
        return 2
    try:
        path, built = install_prism(announce=lambda message: print(
            f'newswire runners: {message} (minutes the first time)', file=sys.stderr, flush=True))
    except RunnerSetupError as error:
        print(f'newswire runners: {error}', file=sys.stderr)
        return 2
    print(f'prism {beam_version()} {"installed" if built else "already installed"}: {path}')
    return 0
