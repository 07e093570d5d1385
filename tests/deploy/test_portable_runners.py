"""Flink and Spark through Beam's portable job servers: the compose files pin versions the
installed Beam supports, and the pipeline runs the portable path (Beam's local job service, the
same Job API a Flink or Spark job server serves) with the DirectRunner's output, byte for byte.

Where the supported versions come from: `FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS` and the
choices of `--spark_version` in the installed apache_beam (the release's own list of the Flink
minors and Spark majors it publishes job servers for)."""

import re
import socket
import subprocess
import sys
import time

import pytest
import yaml
from apache_beam.options.pipeline_options import FlinkRunnerOptions, PipelineOptions, \
    SparkRunnerOptions

from newswire.pipeline.cli import main
from tests.conftest import SEEDS
from tests.deploy.conftest import DEPLOY, dockerfile_args, pinned_beam_version

OUTPUT_FILES = ('enriched-00000-of-00001.jsonl', 'dead_letter-00000-of-00001.jsonl',
                'summary.json')


def _services(runner):
    return yaml.safe_load((DEPLOY / runner / 'compose.yaml').read_text(encoding='utf-8'))['services']


def _spark_versions_beam_accepts():
    import argparse

    parser = argparse.ArgumentParser()
    SparkRunnerOptions._add_argparse_args(parser)
    (action,) = [a for a in parser._actions if '--spark_version' in a.option_strings]
    return action.choices


def test_flink_versions_are_a_pair_beam_supports():
    services = _services('flink')
    job_server = re.fullmatch(r'apache/beam_flink(\d+\.\d+)_job_server:(\S+)',
                              services['job-server']['image'])
    assert job_server, services['job-server']['image']
    flink_minor, beam = job_server.groups()
    assert beam == pinned_beam_version()
    assert flink_minor in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    # The cluster must run the job server's Flink minor.
    for name in ('jobmanager', 'taskmanager'):
        cluster = re.fullmatch(r'flink:(\d+\.\d+)\.\d+-scala_2\.12-java\d+', services[name]['image'])
        assert cluster and cluster.group(1) == flink_minor, services[name]['image']
    assert '--flink-master=jobmanager:8081' in services['job-server']['command']


def test_spark_versions_are_a_pair_beam_supports():
    services = _services('spark')
    job_server = re.fullmatch(r'apache/beam_spark(\d+)_job_server:(\S+)',
                              services['job-server']['image'])
    assert job_server, services['job-server']['image']
    spark_major, beam = job_server.groups()
    assert beam == pinned_beam_version()
    assert spark_major in _spark_versions_beam_accepts()
    for name in ('spark-master', 'spark-worker'):
        cluster = re.fullmatch(r'apache/spark:(\d+)\.5\.\d+-scala2\.12-java\d+-ubuntu',
                               services[name]['image'])
        assert cluster and cluster.group(1) == spark_major, services[name]['image']
    assert '--spark-master-url=spark://spark-master:7077' in services['job-server']['command']


@pytest.mark.parametrize('runner,worker_host', [('flink', 'taskmanager'),
                                                ('spark', 'spark-worker')])
def test_worker_pool_reaches_the_runner_and_its_artifacts(runner, worker_host):
    services = _services(runner)
    pool = services['python-worker-pool']
    assert pool['command'] == ['--worker_pool']
    # EXTERNAL environment at localhost:50000 means: the pool shares the worker's network.
    assert pool['network_mode'] == f'service:{worker_host}'
    # The job server stages artifacts where the worker (and the pool) read them.
    staging = '/tmp/beam-artifact-staging'
    assert f'--artifacts-dir={staging}' in services['job-server']['command']
    for name in ('job-server', worker_host, 'python-worker-pool'):
        assert f'beam-artifacts:{staging}' in services[name]['volumes'], name
    # The Python version of the workers is the Dockerfile's, which the submitting SDK must match.
    assert pool['build']['args']['PYTHON_VERSION'] == dockerfile_args()['PYTHON_VERSION']


@pytest.mark.parametrize('runner', ['flink', 'spark'])
def test_documented_command_line_parses(runner):
    text = (DEPLOY / runner / 'compose.yaml').read_text(encoding='utf-8')
    (command,) = re.findall(r'#   (newswire run .+?)\n(?!#     )', text, flags=re.DOTALL)
    argv = command.replace('\\\n#', ' ').split()[2:]
    options = PipelineOptions(argv).get_all_options()
    assert options['runner'] == 'PortableRunner'
    assert options['job_endpoint'] == 'localhost:8099'
    assert options['environment_type'] == 'EXTERNAL'
    assert options['environment_config'] == 'localhost:50000'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process, deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f'job service exited with {process.returncode}')
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f'job service not listening on {port} after {deadline_seconds} s')


@pytest.fixture
def local_job_service(tmp_path):
    """Beam's local job service (the Job API a Flink/Spark job server offers) on a free port."""
    port = _free_port()
    log = open(tmp_path / 'job_service.log', 'wb')
    process = subprocess.Popen(
        [sys.executable, '-m', 'apache_beam.runners.portability.local_job_service_main',
         f'--port={port}'], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, deadline_seconds=60)
        yield f'localhost:{port}'
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope='module')
def direct_output(tmp_path_factory):
    output = tmp_path_factory.mktemp('direct')
    assert main(['run', '--input', str(SEEDS), '--output', str(output), '--runner=DirectRunner',
                 '--direct_num_workers=1']) == 0
    return output


def _assert_same_files(output, expected):
    for name in OUTPUT_FILES:
        assert (output / name).read_bytes() == (expected / name).read_bytes(), name
    assert (output / OUTPUT_FILES[0]).read_text().count('\n') == 5


@pytest.mark.slow
def test_portable_runner_output_equals_direct_runner(local_job_service, direct_output, tmp_path):
    output = tmp_path / 'out'
    assert main(['run', '--input', str(SEEDS), '--output', str(output),
                 '--runner=PortableRunner', f'--job_endpoint={local_job_service}',
                 '--environment_type=LOOPBACK']) == 0
    _assert_same_files(output, direct_output)


@pytest.mark.slow
def test_two_worker_processes_give_the_output_of_one(direct_output, tmp_path):
    output = tmp_path / 'out'
    assert main(['run', '--input', str(SEEDS), '--output', str(output), '--runner=DirectRunner',
                 '--direct_num_workers=2', '--direct_running_mode=multi_processing']) == 0
    _assert_same_files(output, direct_output)
