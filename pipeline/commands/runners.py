"""`newswire runners`: the Beam runners beyond the DirectRunner, set up once per machine.

Prism is built from Beam's Go module at the installed Beam's version, with newswire's patches
(`local.prism_patches`); Flink and Spark job servers are
resolved with Maven and started through a launcher jar (a manifest naming the driver, the lib jars
and the JDK packages the engine opens on Java 17). Where each is kept, and what a run takes from
there: pipeline/job/runners.py.

    newswire runners install prism   # idempotent: a second call finds the binary and returns
    newswire runners install flink   # idempotent likewise (and spark); needs Java 17 and Maven
    newswire runners list            # what is installed where, and what each runner needs
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.parse
import zipfile
from typing import Callable, Optional, Sequence

from newswire.pipeline.job.runners import (INSTALL_COMMAND, JAVA_JOB_SERVERS, LAUNCHER, JavaJobServer,
                                           RunnerSetupError, beam_version, cache_dir,
                                           installed_job_server, installed_prism, job_server_dir,
                                           prism_path)
from newswire.pipeline.local.prism_patches import PatchMismatch, apply_patches

PRISM_MODULE = 'github.com/apache/beam/sdks/v2'
PRISM_PACKAGE = f'{PRISM_MODULE}/go/cmd/prism'


# What `go install` prints when the module could not be fetched (proxy refusal, no network, no
# such version), as opposed to a compile or link error.
_DOWNLOAD_FAILURES = ('reading http', 'not found', 'dial tcp', 'unknown revision',
                      'invalid version', 'module lookup disabled', 'tls:', 'connection refused',
                      'no such host', 'i/o timeout', 'verifying module')

# The plugin that copies the resolved jars, pinned so an install never asks for whatever is newest.
_MAVEN_DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1'


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
    (minutes the first time). Go fetches Beam's Go module (`go mod download`, through the module
    proxy and Go's module cache); its `go/` tree is copied beside the cache entry, newswire's
    changes (`local.prism_patches`) are applied there, and `go build` writes the binary, renamed
    into place only once complete, so an interrupted build never leaves a binary that looks
    installed.

    Raises:
        RunnerSetupError: no Go toolchain on PATH, the module could not be fetched, a patch does not
            fit it, or it did not build; go's whole output is kept in install.log beside the binary.
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
    module = f'{PRISM_MODULE}@v{version}'
    announce(f'building Prism {version} ({PRISM_PACKAGE}, with newswire\'s patches) into {target}')
    outputs = []
    with tempfile.TemporaryDirectory(prefix='build-', dir=target.parent) as build:
        download = _run_go([go, 'mod', 'download', '-json', module], outputs)
        if download.returncode != 0:
            log.write_text(''.join(outputs), encoding='utf-8')
            raise RunnerSetupError(f'go mod download {module} exited with {download.returncode}: '
                                   f'{_go_failure(outputs[-1])} (whole output in {log})')
        source = pathlib.Path(json.loads(download.stdout)['Dir'])
        tree = pathlib.Path(build) / 'src'
        tree.mkdir()
        shutil.copytree(source / 'go', tree / 'go')
        for name in ('go.mod', 'go.sum'):
            shutil.copyfile(source / name, tree / name)
        for path in [tree, *tree.rglob('*')]:  # the module cache's files are read-only
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
        try:
            apply_patches(tree, version)
        except PatchMismatch as error:
            raise RunnerSetupError(f'Beam {version}\'s Prism source does not take newswire\'s '
                                   f'patch: {error} (pipeline/local/prism_patches.py)') from None
        built = pathlib.Path(build) / 'prism'
        process = _run_go([go, 'build', '-mod=mod', '-trimpath', '-o', str(built),
                           './go/cmd/prism'], outputs, cwd=tree)
        log.write_text(''.join(outputs), encoding='utf-8')
        if process.returncode != 0 or not built.is_file():
            raise RunnerSetupError(
                f'go build {PRISM_PACKAGE} ({version}) exited with {process.returncode}: '
                f'{_go_failure(outputs[-1])} (whole output in {log})')
        os.replace(built, target)
    return target, True


def _run_go(argv: list, outputs: list, cwd=None) -> subprocess.CompletedProcess:
    """Runs go, its stderr (and, for a failure, its stdout) added to `outputs`."""
    process = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                             check=False)
    stderr = process.stderr.decode('utf-8', errors='replace')
    outputs.append(f'$ {" ".join(argv)}\n{stderr}'
                   + (process.stdout.decode('utf-8', errors='replace')
                      if process.returncode else ''))
    return process


def _pom(server: JavaJobServer) -> str:
    dependencies = ''.join(
        f'    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>'
        f'<version>{version}</version></dependency>\n'
        for group, artifact, version in (coordinates.split(':')
                                         for coordinates in server.artifacts))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by `{server.install_command}`: Maven resolves Beam's {server.runner} and everything
     it needs at run time; the jars are copied into lib/ for the launcher jar's Class-Path. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>newswire</groupId>
  <artifactId>{server.name}-job-server</artifactId>
  <version>{server.version}</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}  </dependencies>
</project>
"""


def _manifest(attributes: Sequence[tuple[str, str]]) -> bytes:
    """A jar manifest: lines of at most 72 bytes, longer values continued after a newline and a
    space (the JAR file specification)."""
    lines = []
    for name, value in attributes:
        line = f'{name}: {value}'.encode('utf-8')
        lines.append(line[:72])
        lines += [b' ' + line[start:start + 71] for start in range(72, len(line), 71)]
    return b'\r\n'.join(lines) + b'\r\n\r\n'


def _write_launcher(path: pathlib.Path, server: JavaJobServer, jars: Sequence[str]) -> None:
    """A jar holding only a manifest: `java -jar` runs the job server's driver with the lib jars
    (relative to the launcher) on its class path and the engine's JDK packages opened (the
    manifest is where `java -jar` takes them from, and how Beam's runners start a job server)."""
    attributes = [('Manifest-Version', '1.0'), ('Created-By', server.install_command),
                  ('Main-Class', server.driver),
                  ('Class-Path', ' '.join(f'lib/{urllib.parse.quote(jar)}' for jar in jars)),
                  ('Add-Opens', ' '.join(server.add_opens))]
    if server.add_exports:
        attributes.append(('Add-Exports', ' '.join(server.add_exports)))
    with zipfile.ZipFile(path, 'w') as launcher:
        launcher.writestr('META-INF/MANIFEST.MF', _manifest(attributes))


def _maven_failure(output: str) -> str:
    """Maven's first error line, which says what it could not resolve or do, without the
    '-> [Help 1]' pointer."""
    errors = [line.strip()[len('[ERROR]'):].strip() for line in output.splitlines()
              if line.strip().startswith('[ERROR]') and line.strip() != '[ERROR]']
    if not errors:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        return lines[-1] if lines else 'Maven printed nothing'
    return errors[0].replace(' -> [Help 1]', '')


def install_job_server(server: JavaJobServer, announce: Callable[[str], None] = lambda message: None
                       ) -> tuple[pathlib.Path, bool]:
    """Resolves `server`'s jars with Maven into the cache and writes its launcher, unless there.

    Returns (the launcher jar's path, whether it was installed now); `announce` is told before
    Maven starts (150-260 MB of jars, which Maven keeps in ~/.m2 as well). Everything is written
    in a temporary directory beside the cache entry and renamed into place once complete, so an
    interrupted install never leaves a launcher that looks installed.

    Raises:
        RunnerSetupError: no `java` or `mvn` on PATH, or Maven failed (a download refused, no
            network); Maven's whole output is kept in install.log in the cache entry.
    """
    target = job_server_dir(server)
    if installed_job_server(server):
        return target / LAUNCHER, False
    for tool, why in ((('java', f'{server.engine}\'s job server is a Java program'),
                       ('mvn', 'its jars are resolved from Maven Central with Maven'))):
        if shutil.which(tool) is None:
            raise RunnerSetupError(
                f'{why}, and no `{tool}` is on PATH: install Java 17 and Maven (Debian: apt-get '
                f'install openjdk-17-jdk-headless maven), or pass {server.jar_flag}=JAR or '
                f'--job_endpoint=HOST:PORT to newswire run')
    target.parent.mkdir(parents=True, exist_ok=True)
    what = ', '.join(server.artifacts)
    announce(f'resolving {what} with Maven into {target}')
    with tempfile.TemporaryDirectory(prefix=f'{server.version}-', dir=target.parent) as work:
        work = pathlib.Path(work)
        (work / 'pom.xml').write_text(_pom(server), encoding='utf-8')
        process = subprocess.run(
            [shutil.which('mvn'), '--batch-mode', '--file', str(work / 'pom.xml'),
             f'{_MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies', '-DincludeScope=runtime',
             f'-DoutputDirectory={work / "lib"}'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=work, check=False)
        output = process.stdout.decode('utf-8', errors='replace')
        (work / 'install.log').write_text(output, encoding='utf-8')
        jars = sorted(path.name for path in (work / 'lib').glob('*.jar'))
        if process.returncode != 0 or not jars:
            if target.exists():
                shutil.rmtree(target)
            target.mkdir()
            os.replace(work / 'install.log', target / 'install.log')
            reason = _maven_failure(output) if process.returncode else 'it copied no jars'
            raise RunnerSetupError(
                f'Maven could not resolve {what} (exit {process.returncode}): {reason} (whole '
                f'output in {target / "install.log"})')
        _write_launcher(work / LAUNCHER, server, jars)
        if target.exists():  # a failed attempt's log, or an incomplete install
            shutil.rmtree(target)
        os.replace(work, target)
        work.mkdir()  # for TemporaryDirectory's clean-up
    return target / LAUNCHER, True


def _list() -> int:
    version = beam_version()
    binary = installed_prism(version)
    print(f'prism   Beam {version}  ' + (f'installed: {binary}' if binary else
                                          f'not installed: {INSTALL_COMMAND}'))
    others = sorted(p.parent.name for p in (cache_dir() / 'prism').glob('*/prism')
                    if p.parent.name != version)
    if others:
        print(f'        also cached, unused by this Beam: {", ".join(others)}')
    for server in JAVA_JOB_SERVERS.values():
        launcher = installed_job_server(server)
        print(f'{server.name:<7} Beam {server.version} ({server.engine})  ' + (
            f'installed: {launcher}' if launcher else f'not installed: {server.install_command}'))
    return 0


def _install(name: str) -> int:
    """Installs the runner `name` ('prism', 'flink', 'spark'), printing where; 2 with one line
    saying why not."""
    if name == 'prism':
        install, version = install_prism, beam_version()
    else:
        server = {server.name: server for server in JAVA_JOB_SERVERS.values()}[name]
        version = server.version

        def install(announce):
            return install_job_server(server, announce)
    try:
        path, built = install(announce=lambda message: print(
            f'newswire runners: {message} (minutes the first time)', file=sys.stderr, flush=True))
    except RunnerSetupError as error:
        print(f'newswire runners: {error}', file=sys.stderr)
        return 2
    print(f'{name} {version} {"installed" if built else "already installed"}: {path}')
    return 0


def main(argv: Sequence[str]) -> int:
    """`newswire runners install prism|flink|spark | list`: 0 when done, 2 when a runner cannot be
    set up."""
    parser = argparse.ArgumentParser(
        prog='newswire runners',
        description='Set up the Beam runners beyond the DirectRunner, once per machine, in '
                    f'{cache_dir()}.')
    commands = parser.add_subparsers(dest='command', required=True)
    install = commands.add_parser(
        'install', help='build or fetch a runner into the cache (idempotent)')
    install.add_argument('runner', choices=['prism', 'flink', 'spark'])
    commands.add_parser('list', help='what is installed, and what each runner needs')
    args = parser.parse_args(list(argv))
    if args.command == 'list':
        return _list()
    return _install(args.runner)
