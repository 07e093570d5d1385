"""`newswire runners`: the Beam runners beyond the DirectRunner, set up once per machine.

Prism is built with `go install` at exactly the Beam version installed into the cache that
`pipeline/job/runners.py` describes (and a run looks in); Flink and Spark need Beam's job server
jars, which newswire does not download (the run says what to pass).

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

from newswire.pipeline.job.runners import (INSTALL_COMMAND, _JAVA_RUNNERS, RunnerSetupError,
                                           _flink_version, beam_version, cache_dir,
                                           installed_prism, prism_path)

PRISM_PACKAGE = 'github.com/apache/beam/sdks/v2/go/cmd/prism'

# What `go install` prints when the module could not be fetched (proxy refusal, no network, no
# such version), as opposed to a compile or link error.
_DOWNLOAD_FAILURES = ('reading http', 'not found', 'dial tcp', 'unknown revision',
                      'invalid version', 'module lookup disabled', 'tls:', 'connection refused',
                      'no such host', 'i/o timeout', 'verifying module')


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
