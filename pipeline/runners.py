"""`newswire runners`: the Beam runners beyond the DirectRunner, set up once per machine.

Prism, Beam's Go runner, is built with `go install` at exactly the Beam version installed (pinned in
one place, pyproject.toml) into a per-machine cache, `$XDG_CACHE_HOME/newswire/prism/<version>/prism`
(`~/.cache/newswire/...` by default). `newswire run --runner=PrismRunner` then passes that binary
as `--prism_location`; without it Beam would try to download a release from GitHub, which a
machine that reaches only package registries cannot do, so the run is refused instead with the
command that installs it.

Flink and Spark run through Beam's Java job servers, started by Beam's own FlinkRunner and
SparkRunner with `java -jar` on an embedded engine (`--flink_master=[local]`, Spark `local[4]`) and
Python workers in this process (LOOPBACK). `newswire runners install flink|spark` resolves Beam's
runner and its dependencies with Maven into `<cache>/<name>/<version>/lib/` and writes a launcher
jar beside it (a manifest naming the driver, the lib jars and the JDK packages the engine opens on
Java 17), which `newswire run` passes as `--flink_job_server_jar` / `--spark_job_server_jar`. Beam
would otherwise download a job server jar on first use; not installed, the run is refused instead.

    newswire runners install prism   # idempotent: a second call finds the binary and returns
    newswire runners install flink   # idempotent likewise (and spark); needs Java 17 and Maven
    newswire runners list            # what is installed where, and what each runner needs
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import zipfile
from typing import Callable, NamedTuple, Optional, Sequence

PRISM_PACKAGE = 'github.com/apache/beam/sdks/v2/go/cmd/prism'
INSTALL_COMMAND = 'newswire runners install prism'

# What `go install` prints when the module could not be fetched (proxy refusal, no network, no
# such version), as opposed to a compile or link error.
_DOWNLOAD_FAILURES = ('reading http', 'not found', 'dial tcp', 'unknown revision',
                      'invalid version', 'module lookup disabled', 'tls:', 'connection refused',
                      'no such host', 'i/o timeout', 'verifying module')

# Runners that execute through Beam's portable Job API (they lack the Python Pub/Sub source).
PORTABLE_RUNNERS = ('PrismRunner', 'FlinkRunner', 'SparkRunner', 'PortableRunner')

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


class JavaJobServer(NamedTuple):
    """A Beam job server newswire builds from Maven: the runner's library and what it needs at
    run time, resolved into `<cache>/<name>/<version>/lib/`, started through a launcher jar beside
    it."""
    name: str  # 'flink': the command's word and the cache directory
    runner: str  # the Beam runner that starts it, e.g. 'FlinkRunner'
    engine: str  # what it runs the job on, e.g. 'Flink 1.19'
    version: str  # of Beam's Java runner
    artifacts: tuple[str, ...]  # Maven coordinates, group:artifact:version
    driver: str  # the job server's main class
    add_opens: tuple[str, ...]  # JDK packages (module/package) the engine reflects into on Java 17
    add_exports: tuple[str, ...] = ()

    @property
    def install_command(self) -> str:
        return f'newswire runners install {self.name}'

    @property
    def jar_flag(self) -> str:
        return f'--{self.name}_job_server_jar'


# Beam's Java runners, pinned here and nowhere else. Not the Python SDK's version (pyproject.toml):
# Maven Central, as this project reaches it, serves no `beam-runners-*-job-server` jar at any
# version and no Java artifact of the SDK's Beam release, and 2.62.0 is the newest
# beam-runners-flink-1.19 that resolves with all its dependencies (2.70.0 is listed, but its
# beam-runners-java-job-service is not served). SDK and job server meet at Beam's portable Job and
# Fn APIs, so those are what must agree; tests/deploy/test_flink.py proves each pair on our
# pipeline (the DirectRunner's files, byte for byte).
BEAM_JAVA_VERSION = '2.62.0'

# Flink 1.19: the oldest minor the SDK's FlinkRunner accepts (--flink_version) and one Beam 2.62
# publishes a runner for. The opens and exports are what Flink's own scripts pass on Java 17
# (`env.java.opts.all` of its config.yaml, less the table planner's jdk.compiler ones): its
# serializers and the embedded cluster reflect into them.
FLINK_VERSION = '1.19'
FLINK = JavaJobServer(
    name='flink', runner='FlinkRunner', engine=f'Flink {FLINK_VERSION}', version=BEAM_JAVA_VERSION,
    artifacts=(f'org.apache.beam:beam-runners-flink-{FLINK_VERSION}:{BEAM_JAVA_VERSION}',),
    driver='org.apache.beam.runners.flink.FlinkJobServerDriver',
    add_opens=('java.base/java.lang', 'java.base/java.lang.reflect', 'java.base/java.io',
               'java.base/java.net', 'java.base/java.nio', 'java.base/sun.nio.ch',
               'java.base/java.text', 'java.base/java.time', 'java.base/java.util',
               'java.base/java.util.concurrent', 'java.base/java.util.concurrent.atomic',
               'java.base/java.util.concurrent.locks'),
    add_exports=('java.base/sun.net.util', 'java.rmi/sun.rmi.registry'))

# Spark 3.2.2: what beam-runners-spark-3 2.62.0 is compiled against (its pom names Spark as
# `provided`, so the job server brings it). The opens are those Beam's SparkRunner passes to
# `java` itself (SPARK_JAR_JOB_SERVER_JVM_ARGS), so the launcher also runs by hand.
SPARK_VERSION = '3.2.2'
SPARK = JavaJobServer(
    name='spark', runner='SparkRunner', engine=f'Spark {SPARK_VERSION}', version=BEAM_JAVA_VERSION,
    artifacts=(f'org.apache.beam:beam-runners-spark-3:{BEAM_JAVA_VERSION}',) + tuple(
        f'org.apache.spark:spark-{module}_2.12:{SPARK_VERSION}'
        for module in ('core', 'streaming', 'sql')),
    driver='org.apache.beam.runners.spark.SparkJobServerDriver',
    add_opens=('java.base/sun.nio.ch', 'java.base/java.nio', 'java.base/java.util',
               'java.base/java.lang.invoke'))

JAVA_JOB_SERVERS = {server.runner: server for server in (FLINK, SPARK)}
LAUNCHER = 'job-server.jar'
# The plugin that copies the resolved jars, pinned so an install never asks for whatever is newest.
_MAVEN_DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1'


def job_server_dir(server: JavaJobServer) -> pathlib.Path:
    return cache_dir() / server.name / server.version


def installed_job_server(server: JavaJobServer) -> Optional[pathlib.Path]:
    """The cached launcher jar of `server`, or None when it or a jar of its Class-Path is missing
    (a job server that cannot start is then installed again, not run)."""
    launcher = job_server_dir(server) / LAUNCHER
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
    FlinkRunner/SparkRunner: the cached launcher as the job server jar, an embedded engine and
    LOOPBACK workers, unless the user named a jar, an endpoint, a master or an environment.
    PortableRunner: needs --job_endpoint (Beam would fail mid-run with a traceback).
    A portable runner cannot stream --input-subscription (`_refuse_pubsub_input`), and Spark
    cannot stream at all.

    Raises:
        RunnerSetupError: naming the missing piece and how to provide it.
    """
    from apache_beam.options.pipeline_options import (PortableOptions, PrismRunnerOptions,
                                                      StandardOptions)

    runner = str(options.view_as(StandardOptions).runner or '').rsplit('.', 1)[-1]
    _refuse_pubsub_input(options, runner)
    if runner == 'SparkRunner' and options.view_as(StandardOptions).streaming:
        raise RunnerSetupError(
            '--streaming cannot run on SparkRunner: Beam\'s portable Spark runner gives a '
            'splittable DoFn no checkpoint handler, and the feeds\' PeriodicImpulse checkpoints '
            'after every tick (the job fails: "The ActiveBundle does not have a registered bundle '
            'checkpoint handler"); stream with --runner=FlinkRunner or PrismRunner')
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
    elif runner in JAVA_JOB_SERVERS:
        _prepare_java_runner(options, JAVA_JOB_SERVERS[runner])


def _prepare_java_runner(options, server: JavaJobServer) -> None:
    """The job server jar is the cached launcher, unless the user named a jar or a running job
    server (--job_endpoint); the engine is embedded (Flink `[local]`, Spark `local[4]`) unless a
    master is named, and an embedded engine runs the Python workers in this process (LOOPBACK: no
    Docker here)."""
    from apache_beam.options.pipeline_options import (FlinkRunnerOptions, JobServerOptions,
                                                      PortableOptions, SparkRunnerOptions)

    portable = options.view_as(PortableOptions)
    runner_options = options.view_as(FlinkRunnerOptions if server is FLINK else SparkRunnerOptions)
    given = options.get_all_options(drop_default=True)
    jar = given.get(server.jar_flag[2:])
    if jar:
        _require_local_file(server.jar_flag, jar)
    elif not portable.job_endpoint:
        launcher = installed_job_server(server)
        if launcher is None:
            raise RunnerSetupError(
                f'--runner={server.runner} needs Beam\'s {server.engine} job server '
                f'({server.artifacts[0]}), which is not installed (expected '
                f'{job_server_dir(server) / LAUNCHER}): run `{server.install_command}` (needs Java '
                f'17 and Maven), or pass {server.jar_flag}=JAR or --job_endpoint=HOST:PORT')
        setattr(runner_options, server.jar_flag[2:], str(launcher))
        if server is FLINK and 'flink_version' not in given:
            runner_options.flink_version = FLINK_VERSION
        jar = str(launcher)
    if jar and not portable.job_endpoint:
        java = options.view_as(JobServerOptions).job_server_java_launcher
        if shutil.which(java) is None:
            raise RunnerSetupError(
                f'--runner={server.runner} starts Beam\'s {server.engine} job server with `{java} '
                f'-jar`, and no `{java}` is on PATH: install Java 17, or pass '
                f'--job_server_java_launcher=JAVA')
    if server is FLINK:
        if 'flink_master' not in given:
            runner_options.flink_master = '[local]'
        embedded = runner_options.flink_master in ('[local]', '[auto]')
    else:  # Beam's own test for a local Spark master (spark_runner.LOCAL_MASTER_PATTERN)
        embedded = re.match(r'^local(\[.+\])?$', runner_options.spark_master_url)
    if embedded and not portable.environment_type:
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
