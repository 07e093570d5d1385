"""`newswire runners`: the Beam runners beyond the DirectRunner, set up once per machine.

Prism, Beam's Go runner, is built with `go install` at exactly the Beam version installed (pinned in
one place, pyproject.toml) into a per-machine cache, `$XDG_CACHE_HOME/newswire/prism/<version>/prism`
(`~/.cache/newswire/...` by default). `newswire run --runner=PrismRunner` then passes that binary
as `--prism_location`; without it Beam would try to download a release from GitHub, which a
machine that reaches only package registries cannot do, so the run is refused instead with the
command that installs it.

Flink runs through Beam's Java job server, started by Beam's own FlinkRunner with `java -jar` on
an embedded Flink (`--flink_master=[local]`) and Python workers in this process (LOOPBACK).
`newswire runners install flink` resolves Beam's Flink runner and its dependencies with Maven into
`<cache>/flink/<version>/lib/` and writes a launcher jar beside it (a manifest naming the driver,
the lib jars and the JDK packages Flink opens on Java 17), which `newswire run --runner=FlinkRunner`
passes as `--flink_job_server_jar`. Spark's job server is not installable here: `prepare_runner`
refuses a Spark run unless the job names a jar (`--spark_job_server_jar`) or a running job server
(`--job_endpoint`), so a run never starts a download the user did not ask for.

    newswire runners install prism   # idempotent: a second call finds the binary and returns
    newswire runners install flink   # idempotent likewise; needs Java 17 and Maven
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
import urllib.parse
import zipfile
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

# runner -> (the option naming a local job server jar, what Beam would download otherwise), for
# the Java runners newswire cannot install (Flink: `install_flink`).
_JAVA_RUNNERS = {
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


# Beam's Flink runner, pinned here and nowhere else. Not the Python SDK's version (pyproject.toml):
# Maven Central, as this project reaches it, serves no `beam-runners-flink-*-job-server` jar at any
# version and no Java artifact of the SDK's Beam release, and 2.62.0 is the newest
# beam-runners-flink-1.19 that resolves with all its dependencies (2.70.0 is listed, but its
# beam-runners-java-job-service is not served). SDK and job server meet at Beam's portable Job and
# Fn APIs, so those are what must agree; tests/deploy/test_flink.py proves this pair on our
# pipeline (the DirectRunner's files, byte for byte). Flink 1.19 is the oldest minor the SDK's
# FlinkRunner accepts (--flink_version) and the one Beam 2.62 publishes a runner for.
FLINK_VERSION = '1.19'
FLINK_RUNNER_VERSION = '2.62.0'
FLINK_ARTIFACT = ('org.apache.beam', f'beam-runners-flink-{FLINK_VERSION}', FLINK_RUNNER_VERSION)
FLINK_DRIVER = 'org.apache.beam.runners.flink.FlinkJobServerDriver'
FLINK_INSTALL_COMMAND = 'newswire runners install flink'
FLINK_LAUNCHER = 'flink-job-server.jar'
# The plugin that copies the resolved jars, pinned so an install never asks for whatever is newest.
_MAVEN_DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1'

# The JDK packages Flink's own scripts open (and export) to its classes on Java 17
# (`env.java.opts.all` of Flink 1.19's config.yaml, less the table planner's jdk.compiler ones): its
# serializers and the embedded cluster reflect into them. Written into the launcher's manifest,
# they apply to `java -jar`, which is how Beam's FlinkRunner starts the job server.
_FLINK_ADD_OPENS = ('java.base/java.lang', 'java.base/java.lang.reflect', 'java.base/java.io',
                    'java.base/java.net', 'java.base/java.nio', 'java.base/sun.nio.ch',
                    'java.base/java.text', 'java.base/java.time', 'java.base/java.util',
                    'java.base/java.util.concurrent', 'java.base/java.util.concurrent.atomic',
                    'java.base/java.util.concurrent.locks')
_FLINK_ADD_EXPORTS = ('java.base/sun.net.util', 'java.rmi/sun.rmi.registry')


def flink_dir(version: str = FLINK_RUNNER_VERSION) -> pathlib.Path:
    return cache_dir() / 'flink' / version


def installed_flink(version: str = FLINK_RUNNER_VERSION) -> Optional[pathlib.Path]:
    """The cached launcher jar of Beam's Flink job server at `version`, or None when it or a jar of
    its Class-Path is missing (a job server that cannot start is then reinstalled, not run)."""
    launcher = flink_dir(version) / FLINK_LAUNCHER
    if not launcher.is_file():
        return None
    try:
        class_path = _manifest_attributes(launcher).get('Class-Path', '').split()
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):  # not a jar, or no manifest
        return None
    complete = class_path and all((launcher.parent / urllib.parse.unquote(jar)).is_file()
                                  for jar in class_path)
    return launcher if complete else None


def _manifest_attributes(jar: pathlib.Path) -> dict[str, str]:
    """A jar's main manifest attributes, continuation lines joined."""
    with zipfile.ZipFile(jar) as archive:
        text = archive.read('META-INF/MANIFEST.MF').decode('utf-8')
    attributes, name = {}, None
    for line in text.splitlines():
        if line.startswith(' ') and name:
            attributes[name] += line[1:]
        elif ': ' in line:
            name, value = line.split(': ', 1)
            attributes[name] = value
        elif not line:
            break  # the main section ends at the first blank line
    return attributes


def _flink_pom(version: str) -> str:
    group, artifact, _ = FLINK_ARTIFACT
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by `{FLINK_INSTALL_COMMAND}`: Maven resolves Beam's Flink runner and everything it
     needs at run time; the jars are copied into lib/ for the launcher jar's Class-Path. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>newswire</groupId>
  <artifactId>flink-job-server</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>{group}</groupId>
      <artifactId>{artifact}</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
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


def _write_launcher(path: pathlib.Path, jars: Sequence[str]) -> None:
    """A jar holding only a manifest: `java -jar` runs the Flink job server's driver with the lib
    jars (relative to the launcher) on its class path and Flink's JDK packages opened."""
    manifest = _manifest([
        ('Manifest-Version', '1.0'),
        ('Created-By', FLINK_INSTALL_COMMAND),
        ('Main-Class', FLINK_DRIVER),
        ('Class-Path', ' '.join(f'lib/{urllib.parse.quote(jar)}' for jar in jars)),
        ('Add-Opens', ' '.join(_FLINK_ADD_OPENS)),
        ('Add-Exports', ' '.join(_FLINK_ADD_EXPORTS)),
    ])
    with zipfile.ZipFile(path, 'w') as launcher:
        launcher.writestr('META-INF/MANIFEST.MF', manifest)


def _maven_failure(output: str) -> str:
    """Maven's first error line, which says what it could not resolve or do, without the
    '-> [Help 1]' pointer."""
    errors = [line.strip()[len('[ERROR]'):].strip() for line in output.splitlines()
              if line.strip().startswith('[ERROR]') and line.strip() != '[ERROR]']
    if not errors:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        return lines[-1] if lines else 'Maven printed nothing'
    return errors[0].replace(' -> [Help 1]', '')


def install_flink(version: str = FLINK_RUNNER_VERSION,
                  announce: Callable[[str], None] = lambda message: None) -> tuple[pathlib.Path, bool]:
    """Resolves Beam's Flink runner at `version` with Maven into the cache unless it is there.

    Returns (the launcher jar's path, whether it was installed now); `announce` is told before
    Maven starts (about 150 MB of jars, which Maven keeps in ~/.m2 as well). Everything is written
    in a temporary directory beside the cache entry and renamed into place once complete, so an
    interrupted install never leaves a launcher that looks installed.

    Raises:
        RunnerSetupError: no `java` or `mvn` on PATH, or Maven failed (a download refused, no
            network); Maven's whole output is kept in install.log in the cache entry.
    """
    target = flink_dir(version)
    if installed_flink(version):
        return target / FLINK_LAUNCHER, False
    for tool, why in (('java', 'Flink\'s job server is a Java program'),
                      ('mvn', 'its jars are resolved from Maven Central with Maven')):
        if shutil.which(tool) is None:
            raise RunnerSetupError(
                f'{why}, and no `{tool}` is on PATH: install Java 17 and Maven (Debian: apt-get '
                f'install openjdk-17-jdk-headless maven), or pass --flink_job_server_jar=JAR or '
                f'--job_endpoint=HOST:PORT to newswire run')
    target.parent.mkdir(parents=True, exist_ok=True)
    announce(f'resolving {":".join(FLINK_ARTIFACT[:2])}:{version} with Maven into {target}')
    with tempfile.TemporaryDirectory(prefix=f'{version}-', dir=target.parent) as work:
        work = pathlib.Path(work)
        (work / 'pom.xml').write_text(_flink_pom(version), encoding='utf-8')
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
                f'Maven could not resolve {":".join(FLINK_ARTIFACT[:2])}:{version} (exit '
                f'{process.returncode}): {reason} (whole output in {target / "install.log"})')
        _write_launcher(work / FLINK_LAUNCHER, jars)
        if target.exists():  # a failed attempt's log
            shutil.rmtree(target)
        os.replace(work, target)
        work.mkdir()  # for TemporaryDirectory's clean-up
    return target / FLINK_LAUNCHER, True


def _require_local_file(flag: str, path: str) -> None:
    """A path without a scheme must exist (Beam would report it with a traceback mid-run)."""
    if '://' not in path and not os.path.isfile(path):
        raise RunnerSetupError(f'{flag}={path}: no such file')


def _refuse_pubsub_input(options, runner: str) -> None:
    """Beam's Python Pub/Sub read is a native source that only the DirectRunner and Dataflow
    replace with a reader; a portable runner has none, and Beam's cross-language one needs the Java
    expansion service, which newswire does not download."""
    from apache_beam.options.pipeline_options import StandardOptions

    from newswire.pipeline.options import NewswireOptions

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
    elif runner == 'FlinkRunner':
        _prepare_flink(options)
    elif runner in _JAVA_RUNNERS:
        jar_flag, artifact = _JAVA_RUNNERS[runner]
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


def _prepare_flink(options) -> None:
    """--flink_job_server_jar is the cached launcher and --flink_version its Flink, unless the user
    named a jar or a running job server; Flink is embedded (`[local]`) unless a master is named,
    and an embedded Flink runs the Python workers in this process (LOOPBACK: no Docker here)."""
    from apache_beam.options.pipeline_options import (FlinkRunnerOptions, JobServerOptions,
                                                      PortableOptions)

    flink = options.view_as(FlinkRunnerOptions)
    portable = options.view_as(PortableOptions)
    given = options.get_all_options(drop_default=True)
    if flink.flink_job_server_jar:
        _require_local_file('--flink_job_server_jar', flink.flink_job_server_jar)
    elif not portable.job_endpoint:
        launcher = installed_flink()
        if launcher is None:
            raise RunnerSetupError(
                f'--runner=FlinkRunner needs Beam\'s Flink job server '
                f'({":".join(FLINK_ARTIFACT)}), which is not installed (expected '
                f'{flink_dir() / FLINK_LAUNCHER}): run `{FLINK_INSTALL_COMMAND}` (needs Java 17 '
                f'and Maven), or pass '
                f'--flink_job_server_jar=JAR or --job_endpoint=HOST:PORT')
        flink.flink_job_server_jar = str(launcher)
        if 'flink_version' not in given:
            flink.flink_version = FLINK_VERSION
    if flink.flink_job_server_jar and not portable.job_endpoint:
        java = options.view_as(JobServerOptions).job_server_java_launcher
        if shutil.which(java) is None:
            raise RunnerSetupError(
                f'--runner=FlinkRunner starts Beam\'s Flink job server with `{java} -jar`, and no '
                f'`{java}` is on PATH: install Java 17, or pass --job_server_java_launcher=JAVA')
    if 'flink_master' not in given:
        flink.flink_master = '[local]'
    if flink.flink_master in ('[local]', '[auto]') and not portable.environment_type:
        portable.environment_type = 'LOOPBACK'


def _list() -> int:
    version = beam_version()
    binary = installed_prism(version)
    print(f'prism   Beam {version}  ' + (f'installed: {binary}' if binary else
                                          f'not installed: {INSTALL_COMMAND}'))
    others = sorted(p.parent.name for p in (cache_dir() / 'prism').glob('*/prism')
                    if p.parent.name != version)
    if others:
        print(f'        also cached, unused by this Beam: {", ".join(others)}')
    launcher = installed_flink()
    print(f'flink   Beam {FLINK_RUNNER_VERSION} (Flink {FLINK_VERSION})  ' + (
        f'installed: {launcher}' if launcher else f'not installed: {FLINK_INSTALL_COMMAND}'))
    for runner, (jar_flag, artifact) in _JAVA_RUNNERS.items():
        print(f'{runner[:-6].lower():<7} not installable by newswire: newswire run '
              f'--runner={runner} {jar_flag}=JAR ({artifact}:{version}) or --job_endpoint=HOST:PORT')
    return 0


def _install(runner: str) -> int:
    """Installs `runner` ('prism', 'flink'), printing where; 2 with one line saying why not."""
    install, version = {'prism': (install_prism, beam_version()),
                        'flink': (install_flink, FLINK_RUNNER_VERSION)}[runner]
    try:
        path, built = install(announce=lambda message: print(
            f'newswire runners: {message} (minutes the first time)', file=sys.stderr, flush=True))
    except RunnerSetupError as error:
        print(f'newswire runners: {error}', file=sys.stderr)
        return 2
    print(f'{runner} {version} {"installed" if built else "already installed"}: {path}')
    return 0


def main(argv: Sequence[str]) -> int:
    """`newswire runners install prism|flink | list`: 0 when done, 2 when a runner cannot be set
    up."""
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
    if args.runner == 'spark':
        jar_flag, artifact = _JAVA_RUNNERS['SparkRunner']
        print(f'newswire runners: spark is not installable by newswire (Beam\'s job server jar, '
              f'org.apache.beam:{artifact}:{beam_version()}, comes from Maven): '
              f'newswire run --runner=SparkRunner {jar_flag}=JAR, or --job_endpoint=HOST:PORT of a '
              f'running job server', file=sys.stderr)
        return 2
    return _install(args.runner)
