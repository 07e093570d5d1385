"""Flink and Spark through Beam's Java job servers: `newswire runners install flink|spark` and
`newswire run --runner=FlinkRunner|SparkRunner`.

Fast tests: the set-up's error paths (no Java, no Maven, Maven failing, nothing installed) with
stand-in executables on PATH, the launcher jar an install writes, what a run takes from the cache,
and Spark refusing to stream. Slow tests: Maven refused by a repository that has nothing, and, with
the job servers `.ci/run` installs, the seeds and the bench's 2,000-document corpus on an embedded
Flink and Spark give the DirectRunner's files byte for byte, and a stream polling a local feed on
Flink publishes what a batch run decides to the emulator's topic.
"""

import json
import stat
import subprocess
import sys
import zipfile

import pytest

from bench import corpus
from newswire.pipeline.commands import runners as runner_commands
from newswire.pipeline.job import runners
from newswire.pipeline.cli import main
from newswire.pipeline.job.run import pipeline_options
from tests.conftest import REPO, SEEDS, missing_tool, needs_bench_corpus
from tests.deploy.test_prism import OUTPUT_FILES, stream_feeds_and_check
from tests.local_http import LocalHttpServer

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A cache with nothing installed (XDG_CACHE_HOME is where `runners.cache_dir` looks)."""
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    return tmp_path / 'cache' / 'newswire'


def _tools(tmp_path, monkeypatch, **scripts):
    """A PATH holding only the named stand-in executables (name -> shell script body)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\n{body}\n')
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv('PATH', str(bin_dir))
    return bin_dir


# A Maven stand-in that "resolves" two jars: it writes them where -DoutputDirectory= says.
FAKE_MAVEN = '''for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}" ;; esac
done
/bin/mkdir -p "$out"
echo jar > "$out/beam-runners-flink-1.19-2.62.0.jar" && echo jar > "$out/a b.jar"
echo "[INFO] BUILD SUCCESS"'''


def _one_error_line(capsys, prefix):
    """The one line of stderr (besides an install's announcement) that says what went wrong."""
    lines = [line for line in capsys.readouterr().err.splitlines()
             if not line.startswith('newswire runners: resolving')]
    assert len(lines) == 1 and lines[0].startswith(prefix), lines
    return lines[0]


SERVERS = pytest.mark.parametrize('server', [runners.FLINK, runners.SPARK],
                                  ids=lambda server: server.name)


@SERVERS
@pytest.mark.parametrize('present,missing', [((), 'java'), (('java',), 'mvn')])
def test_install_without_java_or_maven_is_one_line_naming_it(server, present, missing, empty_cache,
                                                             tmp_path, monkeypatch, capsys):
    _tools(tmp_path, monkeypatch, **{name: 'exit 0' for name in present})
    assert main(['runners', 'install', server.name]) == 2
    err = _one_error_line(capsys, 'newswire runners: ')
    assert f'no `{missing}` is on PATH' in err and f'{server.jar_flag}=JAR' in err, err
    assert runners.installed_job_server(server) is None
    assert not runners.job_server_dir(server).exists()


@SERVERS
def test_a_failing_maven_is_one_line_with_its_reason_and_installs_nothing(server, empty_cache,
                                                                         tmp_path, monkeypatch,
                                                                         capsys):
    reason = (f'Failed to execute goal on project {server.name}-job-server: Could not resolve '
              f'dependencies: Could not find artifact {server.artifacts[0]}')
    _tools(tmp_path, monkeypatch, java='exit 0',
           mvn=f'echo "[INFO] Scanning"; echo "[ERROR] {reason} -> [Help 1]"; echo "[ERROR] "; '
               f'exit 1')
    assert main(['runners', 'install', server.name]) == 2
    err = _one_error_line(capsys,
                          f'newswire runners: Maven could not resolve {server.artifacts[0]}')
    entry = runners.job_server_dir(server)
    assert err.endswith(f'(exit 1): {reason} (whole output in {entry / "install.log"})'), err
    assert runners.installed_job_server(server) is None
    assert [p.name for p in entry.iterdir()] == ['install.log']
    assert reason in (entry / 'install.log').read_text()
    assert [p.name for p in entry.parent.iterdir()] == [server.version]  # no temporary left


@SERVERS
def test_an_install_writes_a_launcher_naming_the_driver_and_the_resolved_jars(
        server, empty_cache, tmp_path, monkeypatch, capsys):
    _tools(tmp_path, monkeypatch, java='exit 0', mvn=FAKE_MAVEN)
    assert main(['runners', 'install', server.name]) == 0
    launcher = runners.job_server_dir(server) / runners.LAUNCHER
    assert capsys.readouterr().out == f'{server.name} {server.version} installed: {launcher}\n'
    assert runners.installed_job_server(server) == launcher
    with zipfile.ZipFile(launcher) as jar:
        manifest = jar.read('META-INF/MANIFEST.MF').decode()
    assert all(len(line.encode()) <= 72 for line in manifest.split('\r\n')), manifest
    attributes = runners._manifest_attributes(launcher)
    assert attributes['Main-Class'] == server.driver
    assert attributes['Class-Path'].split() == ['lib/a%20b.jar',
                                                'lib/beam-runners-flink-1.19-2.62.0.jar']
    assert 'java.base/java.util' in attributes['Add-Opens'].split()
    pom = (runners.job_server_dir(server) / 'pom.xml').read_text()
    for coordinates in server.artifacts:
        group, artifact, version = coordinates.split(':')
        assert (f'<groupId>{group}</groupId><artifactId>{artifact}</artifactId>'
                f'<version>{version}</version>') in pom
    # Idempotent: found, not resolved again (Maven now fails).
    _tools(tmp_path, monkeypatch, java='exit 0', mvn='exit 1')
    assert main(['runners', 'install', server.name]) == 0
    assert capsys.readouterr().out.startswith(f'{server.name} {server.version} already installed')


def test_an_install_missing_a_jar_is_not_installed_and_is_redone(empty_cache, tmp_path,
                                                                 monkeypatch, capsys):
    _tools(tmp_path, monkeypatch, java='exit 0', mvn=FAKE_MAVEN)
    assert main(['runners', 'install', 'flink']) == 0
    (runners.job_server_dir(runners.FLINK) / 'lib' / 'a b.jar').unlink()
    assert runners.installed_job_server(runners.FLINK) is None
    assert main(['runners', 'install', 'flink']) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        f'flink {runners.FLINK.version} installed')
    assert runners.installed_job_server(runners.FLINK) is not None


@SERVERS
def test_a_run_without_the_job_server_says_to_install_it(server, empty_cache, tmp_path, capsys):
    argv = ['run', f'--runner={server.runner}', '--input', str(SEEDS), '--output',
            str(tmp_path / 'out')]
    assert main(argv) == 2
    err = _one_error_line(capsys, f'newswire run: --runner={server.runner} needs Beam\'s '
                                  f'{server.engine} job server')
    assert f'`{server.install_command}`' in err and f'{server.jar_flag}=JAR' in err
    assert not (tmp_path / 'out').exists()
    assert main(argv + [f'{server.jar_flag}={tmp_path / "missing.jar"}']) == 2
    assert _one_error_line(capsys, 'newswire run: ').endswith(
        f'{tmp_path / "missing.jar"}: no such file')


def test_a_flink_run_takes_the_cached_launcher_an_embedded_flink_and_loopback_workers(
        empty_cache, tmp_path, monkeypatch):
    _tools(tmp_path, monkeypatch, java='exit 0', mvn=FAKE_MAVEN)
    launcher, _ = runner_commands.install_job_server(runners.FLINK)
    options = pipeline_options(['--runner=FlinkRunner']).get_all_options()
    assert options['flink_job_server_jar'] == str(launcher)
    assert options['flink_version'] == runners.FLINK_VERSION
    assert options['flink_master'] == '[local]' and options['environment_type'] == 'LOOPBACK'
    assert runners.describe_runner(pipeline_options(['--runner=FlinkRunner'])) == (
        f'FlinkRunner, job server {launcher}, workers LOOPBACK')
    # What the user names stays as named.
    own = tmp_path / 'own.jar'
    own.write_bytes(b'jar')
    options = pipeline_options(['--runner=FlinkRunner', f'--flink_job_server_jar={own}',
                                '--flink_master=flink.example:8081',
                                '--environment_type=PROCESS']).get_all_options()
    assert options['flink_job_server_jar'] == str(own)
    assert options['flink_master'] == 'flink.example:8081'
    assert options['environment_type'] == 'PROCESS'
    options = pipeline_options(['--runner=FlinkRunner', '--job_endpoint=localhost:8099'])
    assert options.get_all_options()['flink_job_server_jar'] is None
    assert runners.describe_runner(options).startswith('FlinkRunner, job endpoint localhost:8099')
    assert runners.describe_runner(pipeline_options(['--runner=DirectRunner'])) is None


def test_a_spark_run_takes_the_cached_launcher_an_embedded_spark_and_loopback_workers(
        empty_cache, tmp_path, monkeypatch):
    _tools(tmp_path, monkeypatch, java='exit 0', mvn=FAKE_MAVEN)
    launcher, _ = runner_commands.install_job_server(runners.SPARK)
    options = pipeline_options(['--runner=SparkRunner']).get_all_options()
    assert options['spark_job_server_jar'] == str(launcher)
    assert options['spark_master_url'].startswith('local')
    assert options['environment_type'] == 'LOOPBACK'
    options = pipeline_options(['--runner=SparkRunner', '--spark_master_url=spark://host:7077'])
    assert options.get_all_options()['environment_type'] is None  # Beam's default, Docker


@SERVERS
def test_a_run_without_java_on_path_is_refused_before_it_starts(server, empty_cache, tmp_path,
                                                               monkeypatch, capsys):
    _tools(tmp_path, monkeypatch, java='exit 0', mvn=FAKE_MAVEN)
    runner_commands.install_job_server(server)
    (tmp_path / 'bin' / 'java').unlink()
    assert main(['run', f'--runner={server.runner}', '--input', str(SEEDS),
                 '--output', str(tmp_path / 'out')]) == 2
    err = _one_error_line(capsys, f'newswire run: --runner={server.runner} starts Beam\'s '
                                  f'{server.engine} job server')
    assert 'no `java` is on PATH' in err, err
    assert not (tmp_path / 'out').exists()


def test_list_says_whether_each_job_server_is_installed(empty_cache, tmp_path, monkeypatch,
                                                        capsys):
    assert main(['runners', 'list']) == 0
    before = capsys.readouterr().out
    assert 'not installed: newswire runners install flink' in before
    assert 'not installed: newswire runners install spark' in before
    _tools(tmp_path, monkeypatch, java='exit 0', mvn=FAKE_MAVEN)
    launcher, _ = runner_commands.install_job_server(runners.FLINK)
    assert main(['runners', 'list']) == 0
    after = capsys.readouterr().out
    assert (f'flink   Beam {runners.FLINK.version} (Flink {runners.FLINK_VERSION})  '
            f'installed: {launcher}') in after
    assert 'not installed: newswire runners install spark' in after


@pytest.mark.slow
def test_maven_refused_by_its_repository_is_one_line_and_installs_nothing(
        empty_cache, tmp_path, monkeypatch, capsys):
    """Real Maven, its user settings (under a user.home of its own, so an empty local repository)
    mirroring every repository to a local server that has nothing: every download is a 404."""
    if not (runner_commands.shutil.which('mvn') and runner_commands.shutil.which('java')):
        missing_tool('Java and Maven are needed to install the Flink job server')
    home = tmp_path / 'home'
    (home / '.m2').mkdir(parents=True)
    with LocalHttpServer() as repository:
        (home / '.m2' / 'settings.xml').write_text(
            '<settings><mirrors><mirror><id>nothing</id><mirrorOf>*</mirrorOf>'
            f'<url>{repository.url("/maven2")}</url></mirror></mirrors></settings>')
        monkeypatch.setenv('MAVEN_OPTS', f'-Duser.home={home}')
        assert main(['runners', 'install', 'flink']) == 2
        asked = [path for path, _ in repository.requests]
    err = _one_error_line(capsys, 'newswire runners: Maven could not resolve ')
    assert '(exit 1): ' in err and repository.url('/maven2') in err, err
    assert any(path.startswith('/maven2/org/apache/maven/plugins/') for path in asked), asked
    assert runners.installed_job_server(runners.FLINK) is None
    assert [p.name for p in runners.job_server_dir(runners.FLINK).iterdir()] == ['install.log']


# --- with the job server ---------------------------------------------------------------------

def _launcher(server) -> str:
    launcher = runners.installed_job_server(server)
    if launcher is None:
        missing_tool(f'Beam\'s {server.engine} job server is not installed '
                     f'({runners.job_server_dir(server)}): {server.install_command}')
    return str(launcher)


def _run(runner, inputs, output) -> str:
    """A batch `newswire run` in a process of its own; its stderr."""
    done = subprocess.run(NEWSWIRE + ['run', '--input', str(inputs), '--output', str(output),
                                      f'--runner={runner}'],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


@pytest.fixture(scope='module')
def direct_seeds(tmp_path_factory):
    output = tmp_path_factory.mktemp('direct') / 'seeds'
    _run('DirectRunner', SEEDS, output)
    return SEEDS, output


@pytest.fixture(scope='module')
def direct_corpus(tmp_path_factory):
    """The bench's 2,000-document corpus and the DirectRunner's output of it."""
    documents = tmp_path_factory.mktemp('corpus')
    corpus.write_corpus(2000, documents)
    output = tmp_path_factory.mktemp('direct') / 'corpus'
    _run('DirectRunner', documents, output)
    return documents, output


def _assert_same_files(server, inputs, direct, tmp_path):
    """`server`'s runner gives the DirectRunner's files byte for byte, on the cached job server."""
    launcher = _launcher(server)
    output = tmp_path / server.name
    stderr = _run(server.runner, inputs, output)
    assert f'job server {launcher}' in stderr  # the run took the cached job server
    for name in OUTPUT_FILES:
        assert (output / name).read_bytes() == (direct / name).read_bytes(), name
    return output


@pytest.mark.slow
@SERVERS
def test_the_seeds_give_the_direct_runners_files(server, direct_seeds, tmp_path):
    output = _assert_same_files(server, *direct_seeds, tmp_path)
    assert (output / OUTPUT_FILES[0]).read_text().count('\n') == len(list(SEEDS.glob('*.txt')))


@pytest.mark.slow
@SERVERS
@needs_bench_corpus
def test_the_bench_corpus_gives_the_direct_runners_files(server, direct_corpus, tmp_path):
    output = _assert_same_files(server, *direct_corpus, tmp_path)
    summary = json.loads((output / 'summary.json').read_text())
    assert summary['documents_read'] == 2000 and summary['accounting_ok']


def test_spark_refuses_to_stream(capsys, tmp_path):
    assert main(['run', '--streaming', '--runner=SparkRunner', '--feeds', str(tmp_path / 'f.txt'),
                 '--output', str(tmp_path / 'out')]) == 2
    err = _one_error_line(capsys, 'newswire run: --streaming cannot run on SparkRunner: ')
    assert 'checkpoint handler' in err and '--runner=FlinkRunner' in err, err


@pytest.mark.slow
def test_a_stream_on_flink_polls_feeds_and_publishes_what_a_batch_run_decides(
        pubsub_emulator, tmp_path):
    """The same checks as on Prism, on an embedded Flink in streaming mode."""
    launcher = _launcher(runners.FLINK)
    assert f'job server {launcher}' in stream_feeds_and_check('FlinkRunner', tmp_path)


@pytest.mark.slow  # Beam tries to start the job server three times
def test_a_job_server_that_exits_at_once_is_one_line_and_exit_2(empty_cache, tmp_path,
                                                                  monkeypatch):
    _tools(tmp_path, monkeypatch, java='exit 0', mvn=FAKE_MAVEN)
    runner_commands.install_job_server(runners.FLINK)
    _tools(tmp_path, monkeypatch, java='exit 3', mvn=FAKE_MAVEN)  # the JVM dies on start
    # A process of its own: what a terminal shows, with no test harness catching thread errors.
    done = subprocess.run(NEWSWIRE + ['run', '--runner=FlinkRunner', '--input', str(SEEDS),
                                      '--output', str(tmp_path / 'out')],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 2, done.stderr
    err = [line for line in done.stderr.splitlines() if line.startswith('newswire run:')]
    assert len(err) == 1 and 'job service did not start' in err[0], err
    assert 'Traceback' not in done.stderr, done.stderr
