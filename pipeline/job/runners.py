"""What a run on a Beam runner beyond the DirectRunner needs, and where newswire keeps it.

Prism, Beam's Go runner, is built once per machine (`newswire runners install prism`,
pipeline/commands/runners.py) at exactly the Beam version installed (pinned in one place,
pyproject.toml), with newswire's patches (pipeline/local/prism_patches.py), into
`$XDG_CACHE_HOME/newswire/prism/<version>+<patch level>/prism` (`~/.cache/newswire/...` by default). `newswire run --runner=PrismRunner` passes that binary as `--prism_location`; without it
Beam would try to download a release from GitHub, which a machine that reaches only package
registries cannot do, so the run is refused instead with the command that installs it.

Flink and Spark run through Beam's Java job servers, started by Beam's own FlinkRunner and
SparkRunner with `java -jar` on an embedded engine (`--flink_master=[local]`, Spark `local[4]`) and
Python workers in this process (LOOPBACK). `newswire runners install flink|spark` resolves Beam's
runner and its dependencies with Maven into `<cache>/<name>/<version>/lib/` and writes a launcher
jar beside it, which `prepare_runner` passes as `--flink_job_server_jar` / `--spark_job_server_jar`.
Beam would otherwise download a job server jar on first use; not installed, the run is refused.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import urllib.parse
import zipfile
from typing import NamedTuple, Optional

from newswire.pipeline.job.cache import cache_dir
from newswire.pipeline.local.prism_patches import PATCH_LEVEL, PATCHES

INSTALL_COMMAND = 'newswire runners install prism'

# Runners that execute through Beam's portable Job API (they lack the Python Pub/Sub source).
PORTABLE_RUNNERS = ('PrismRunner', 'FlinkRunner', 'SparkRunner', 'PortableRunner')

class RunnerSetupError(Exception):
    """A runner cannot be installed or used as asked; the message names what is missing and the
    fix."""


def beam_version() -> str:
    """The installed apache_beam's version (pyproject.toml pins it), e.g. '2.77.0'."""
    from apache_beam.version import __version__
    return __version__


def prism_path(version: Optional[str] = None) -> pathlib.Path:
    """Where the Prism of `version` (default: the installed Beam's) is kept; a version newswire
    patches (`local.prism_patches`) is kept under its patch level, so a new patch builds anew."""
    version = version or beam_version()
    build = f'{version}+{PATCH_LEVEL}' if version in PATCHES else version
    return cache_dir() / 'prism' / build / 'prism'


def installed_prism(version: Optional[str] = None) -> Optional[pathlib.Path]:
    """The cached Prism binary of `version` (default: the installed Beam's), or None."""
    path = prism_path(version)
    return path if path.is_file() and os.access(path, os.X_OK) else None


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


def _require_local_file(flag: str, path: str) -> None:
    """A path without a scheme must exist (Beam would report it with a traceback mid-run)."""
    if '://' not in path and not os.path.isfile(path):
        raise RunnerSetupError(f'{flag}={path}: no such file')


def _refuse_pubsub_input(options, runner: str) -> None:
    """Beam's Python Pub/Sub read is a native source that only the DirectRunner and Dataflow
    replace with a reader; a portable runner has none, and Beam's cross-language one needs the Java
    expansion service, which newswire does not download. On Prism and Flink with the workers in
    this process newswire reads the subscription itself (`pipeline/local/portable_pubsub.py`);
    anywhere else the workers could not share its reader."""
    from apache_beam.options.pipeline_options import PortableOptions, StandardOptions

    from newswire.pipeline.job.options import NewswireOptions
    from newswire.pipeline.local.portable_pubsub import IN_PROCESS_RUNNERS, runs_in_process

    if not (runner in PORTABLE_RUNNERS and options.view_as(StandardOptions).streaming
            and options.view_as(NewswireOptions).input_subscription):
        return
    if runner not in IN_PROCESS_RUNNERS:
        raise RunnerSetupError(
            f'--input-subscription cannot be read on {runner}: Beam\'s Python Pub/Sub source runs '
            f'only on the DirectRunner and Dataflow, and newswire\'s own reader streams only on '
            f'PrismRunner and FlinkRunner; stream Pub/Sub with one of those, or poll --feeds on '
            f'{runner}')
    if not runs_in_process(options):
        environment = options.view_as(PortableOptions).environment_type
        raise RunnerSetupError(
            f'--input-subscription cannot be read on {runner} with --environment_type='
            f'{environment or "(default)"} and these options: newswire reads the subscription in '
            f'its own process and acknowledges there, so the workers must run inside it '
            f'(--environment_type=LOOPBACK, an embedded engine, no use_loopback_process_worker); '
            f'on a remote cluster, use Dataflow or poll --feeds')


def prepare_runner(options) -> None:
    """Fills in what the chosen runner needs from the cache, or refuses a run it would break.

    PrismRunner: `--prism_location` is the cached binary unless the user named one.
    FlinkRunner/SparkRunner: the cached launcher as the job server jar, an embedded engine and
    LOOPBACK workers, unless the user named a jar, an endpoint, a master or an environment.
    PortableRunner: needs --job_endpoint (Beam would fail mid-run with a traceback).
    Only Prism and Flink with LOOPBACK workers stream --input-subscription
    (`_refuse_pubsub_input`), and Spark cannot stream at all. `--enrichment-process=true` runs
    only on Prism with LOOPBACK workers (`worker_process.wanted`).

    Raises:
        RunnerSetupError: naming the missing piece and how to provide it.
    """
    from apache_beam.options.pipeline_options import (PortableOptions, PrismRunnerOptions,
                                                      StandardOptions)

    runner = str(options.view_as(StandardOptions).runner or '').rsplit('.', 1)[-1]
    if runner not in ('PrismRunner', 'FlinkRunner'):
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
        else:
            binary = installed_prism()
            if binary is None:
                raise RunnerSetupError(
                    f'--runner=PrismRunner needs the Prism binary for Beam {beam_version()}, which '
                    f'is not installed (expected {prism_path()}): run `{INSTALL_COMMAND}` (needs '
                    f'Go), or pass --prism_location=BINARY')
            prism.prism_location = str(binary)
        _refuse_pubsub_input(options, runner)  # after the binary: a missing one is said first
        if options.view_as(StandardOptions).streaming:
            _no_bundle_splits_on_prism(options)
    elif runner == 'PortableRunner' and not options.view_as(PortableOptions).job_endpoint:
        raise RunnerSetupError('--runner=PortableRunner needs --job_endpoint=HOST:PORT of a running '
                               'job server (deploy/README.md); for a local run: --runner=PrismRunner')
    elif runner in JAVA_JOB_SERVERS:
        _prepare_java_runner(options, JAVA_JOB_SERVERS[runner])
        _refuse_pubsub_input(options, runner)  # the environment is chosen by now
    if runner in PORTABLE_RUNNERS:
        _keep_job_streams_open(options)
    from newswire.pipeline.local.worker_process import EnrichmentProcessError, wanted
    try:
        wanted(options)
    except EnrichmentProcessError as error:
        raise RunnerSetupError(str(error)) from error


# Beam's portable runner reads the job's state and message streams with --job_server_timeout as
# their gRPC deadline, so with Beam's default (300 s) any job running longer, a 100,000-document
# batch or any stream, fails with DEADLINE_EXCEEDED (apache/beam#35867). Unless the user set it,
# the deadline is this when Beam starts the job server itself (it waits for that server's start
# with its own limit). Not with --job_endpoint: there the same value is how long Beam waits for
# the endpoint to answer, and a wrong endpoint must still fail after Beam's 300 s.
JOB_STREAM_TIMEOUT_SECONDS = 30 * 24 * 3600


def _keep_job_streams_open(options) -> None:
    """--job_server_timeout = `JOB_STREAM_TIMEOUT_SECONDS` unless the user gave one or named a
    running job server (--job_endpoint)."""
    from apache_beam.options.pipeline_options import PortableOptions

    portable = options.view_as(PortableOptions)
    if not portable.job_endpoint and (
            'job_server_timeout' not in options.get_all_options(drop_default=True)):
        portable.job_server_timeout = JOB_STREAM_TIMEOUT_SECONDS


# Prism splits a bundle that shows no progress for 100 ms, and gives the split-off elements' keys
# back as free while the first part still runs, so a stateful step can get a second bundle of a
# key whose first has not committed its state: two bundles on one key at once, which Beam's model
# rules out (the split handling behind apache/beam#35771, fixed there only for bundles with
# timers). newswire's streaming dedup keeps state on one key (and, keyed, on every candidate key),
# so a stream on Prism runs without those splits: Prism's own switch, the
# `prism_disable_sdf_split` experiment, which despite its name stops splits of every stage. A batch
# keeps them (no user state).
PRISM_NO_SPLITS = 'prism_disable_sdf_split'


def _no_bundle_splits_on_prism(options) -> None:
    from apache_beam.options.pipeline_options import DebugOptions

    debug = options.view_as(DebugOptions)
    if PRISM_NO_SPLITS not in (debug.experiments or []):
        debug.add_experiment(PRISM_NO_SPLITS)


def describe_runner(options) -> Optional[str]:
    """What a prepared run on a runner beyond the DirectRunner runs with, in a line for the user
    ('PrismRunner, /.../prism'); None for the DirectRunner and Dataflow, which need no set-up."""
    from apache_beam.options.pipeline_options import (PortableOptions, PrismRunnerOptions,
                                                      StandardOptions)

    runner = str(options.view_as(StandardOptions).runner or '').rsplit('.', 1)[-1]
    if runner == 'PrismRunner':
        from newswire.pipeline.local.worker_process import wanted
        process = ', the per-document steps in a worker process' if wanted(options) else ''
        return f'PrismRunner, {options.view_as(PrismRunnerOptions).prism_location}{process}'
    portable = options.view_as(PortableOptions)
    if runner in JAVA_JOB_SERVERS:
        server = JAVA_JOB_SERVERS[runner]
        jar = options.get_all_options(drop_default=True).get(server.jar_flag[2:])
        where = f'job server {jar}' if jar else f'job endpoint {portable.job_endpoint}'
        return f'{runner}, {where}, workers {portable.environment_type or "as the runner picks"}'
    if runner == 'PortableRunner':
        return f'PortableRunner, job endpoint {portable.job_endpoint}'
    return None


def embedded_engine(runner: str, options) -> bool:
    """Whether FlinkRunner or SparkRunner (`runner`) runs an engine inside its job server on this
    machine: Flink's master `[local]` or `[auto]`, or a local Spark master (Beam's own test,
    spark_runner.LOCAL_MASTER_PATTERN)."""
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, SparkRunnerOptions

    if runner == 'FlinkRunner':
        return options.view_as(FlinkRunnerOptions).flink_master in ('[local]', '[auto]')
    return bool(re.match(r'^local(\[.+\])?$', options.view_as(SparkRunnerOptions).spark_master_url))


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
    if embedded_engine(server.runner, options) and not portable.environment_type:
        portable.environment_type = 'LOOPBACK'
