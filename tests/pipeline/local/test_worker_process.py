"""The per-document steps in a worker process of their own on Prism (`--enrichment-process`).

Fast tests: when a run asks for it and which runs refuse it, which steps the graph gives the
worker process (and that it gives none on other runners), and the pool's worker processes: started
in a session of their own, stopped when asked, gone when newswire dies. Prism running the worker
process for real: the slow stream and kill tests in tests/deploy/test_prism.py and
test_portable_pubsub.py (auto turns it on for those streams on a machine with two CPUs), and the
seeds run with `--enrichment-process` in test_prism.py.
"""

import os
import signal
import subprocess
import sys
import textwrap

import grpc
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc

from newswire.pipeline.cli import main
from newswire.pipeline.job import runners
from newswire.pipeline.job.run import local_adapters, pipeline_options, streaming_pipeline
from newswire.pipeline.local.worker_process import (HINT_URN, PROCESS, EnrichmentProcessError,
                                                    PrismRunnerWithWorkerProcess,
                                                    ProcessWorkerPool, wanted)
from tests.conftest import poll


def _options(*argv):
    return PipelineOptions(list(argv))


@pytest.mark.parametrize('argv,cpus,expected', [
    (['--runner=PrismRunner', '--streaming'], 2, True),
    (['--runner=PrismRunner', '--streaming'], 1, False),          # no second core to use
    (['--runner=PrismRunner'], 2, False),                         # batch: asked for only
    (['--runner=PrismRunner', '--enrichment-process'], 1, True),
    (['--runner=PrismRunner', '--streaming', '--enrichment-process=false'], 2, False),
    (['--runner=PrismRunner', '--streaming', '--environment_type=DOCKER'], 2, False),
    (['--runner=PrismRunner', '--streaming', '--experiments=use_loopback_process_worker'], 2,
     False),
    (['--runner=FlinkRunner', '--streaming'], 2, False),
    (['--streaming'], 2, False),                                  # the DirectRunner
])
def test_auto_puts_a_stream_on_prism_with_two_cpus_in_a_worker_process(argv, cpus, expected):
    assert wanted(_options(*argv), cpu_count=cpus) is expected


@pytest.mark.parametrize('argv', [
    ['--enrichment-process=true'],
    ['--runner=FlinkRunner', '--enrichment-process'],
    ['--runner=PrismRunner', '--environment_type=DOCKER', '--enrichment-process=true'],
])
def test_asked_of_another_runner_or_other_workers_it_is_refused(argv):
    with pytest.raises(EnrichmentProcessError, match='PrismRunner with its default LOOPBACK'):
        wanted(_options(*argv))


def test_the_refusal_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(['run', '--enrichment-process', '--output', str(tmp_path / 'o')]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith('newswire run: --enrichment-process runs on '
                                                   'PrismRunner'), lines


def test_an_unknown_value_is_a_usage_error(tmp_path, capsys):
    assert main(['run', '--enrichment-process=sometimes', '--output', str(tmp_path / 'o')]) == 2
    assert 'expected true or false' in capsys.readouterr().err


# --- the graph ---------------------------------------------------------------------------------

PER_DOCUMENT = ('Enrich/ExtractMainText/', 'Enrich/CleanBoilerplate/', 'Enrich/ExtractMetadata/',
                'Enrich/FlagEmbeddedArticles/', 'Enrich/DetectLanguage/', 'Enrich/TagTopics/',
                'Enrich/FlagDuplicates/WithArrivalTime', 'Enrich/FlagDuplicates/Sign/',
                'Enrich/FlagDuplicates/ToIndex')


def _stream_graph(tmp_path, monkeypatch, *argv, subscription: bool = False):
    """The stream's graph (not run) as the runner gets it: {leaf transform name: its
    environment's `newswire_worker` hint, or None}, and the proto. Its input is a feed, or with
    `subscription` a Pub/Sub subscription, read as a local run reads it (`local_adapters`)."""
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    binary = runners.prism_path()
    binary.parent.mkdir(parents=True)
    binary.write_text('#!/bin/sh\nexit 1\n')
    binary.chmod(0o755)
    if subscription:
        monkeypatch.setenv('PUBSUB_EMULATOR_HOST', '127.0.0.1:9')  # planned only: never reached
        project = 'projects/newswire-test'
        inputs = ['--input-subscription', f'{project}/subscriptions/wire', '--output-topic',
                  f'{project}/topics/records', '--dead-letter-topic', f'{project}/topics/dead']
    else:
        feeds = tmp_path / 'feeds.txt'
        feeds.write_text('http://127.0.0.1:9/feed.xml\n')
        inputs = ['--feeds', str(feeds), '--output', str(tmp_path / 'out')]
    options = pipeline_options(['--streaming', *inputs, *argv])
    pipeline = streaming_pipeline(options, local_adapters(options) if subscription else None)
    proto = pipeline.to_runner_api()
    environments = proto.components.environments
    hints = {}
    for transform in proto.components.transforms.values():
        if not transform.subtransforms and transform.environment_id:
            hint = environments[transform.environment_id].resource_hints.get(HINT_URN)
            hints[transform.unique_name] = hint.decode() if hint else None
    return pipeline, hints, proto


def test_on_prism_the_per_document_steps_and_nothing_else_get_the_worker_process(
        tmp_path, monkeypatch):
    pipeline, hints, proto = _stream_graph(tmp_path, monkeypatch, '--runner=PrismRunner',
                                           '--enrichment-process')
    assert isinstance(pipeline.runner, PrismRunnerWithWorkerProcess)
    in_process = {name for name, hint in hints.items() if hint == PROCESS}
    assert in_process and all(name.startswith(PER_DOCUMENT) for name in in_process)
    for prefix in PER_DOCUMENT:
        assert any(name.startswith(prefix) for name in in_process), prefix
    stays = {name for name, hint in hints.items() if hint is None}
    assert any(name.startswith('Enrich/FlagDuplicates/IndexAndDecide') for name in stays)
    assert any(name.startswith('Enrich/InferDatelineYears/') for name in stays)
    assert any(name.startswith('Read') for name in stays)
    # One run of steps: no step of the worker process reads what a step of this process made
    # inside the enrichment, so Prism fuses them into one stage with the boundaries there were.
    producer = {}
    for transform in proto.components.transforms.values():
        if not transform.subtransforms:
            for pcollection in transform.outputs.values():
                producer[pcollection] = transform.unique_name
    for transform in proto.components.transforms.values():
        if transform.unique_name in in_process:
            for pcollection in transform.inputs.values():
                source = producer.get(pcollection, '')
                assert source in in_process or not source.startswith('Enrich/'), (
                    transform.unique_name, source)


def test_a_subscriptions_messages_are_parsed_in_the_worker_process(tmp_path, monkeypatch):
    # The pull and its reader stay here (the acknowledgements need them); parsing a message
    # needs nothing of this process, so its bytes cross to the worker process, not a document.
    _, hints, _ = _stream_graph(tmp_path, monkeypatch, '--runner=PrismRunner',
                                '--enrichment-process', subscription=True)
    read = {name: hint for name, hint in hints.items() if name.startswith('Read/')}
    assert read['Read/Pull'] is None
    parse = {name: hint for name, hint in read.items() if name.startswith('Read/Decode/')}
    assert any('ParseMessageFn' in name for name in parse)
    assert set(parse.values()) == {PROCESS}


@pytest.mark.parametrize('argv', [['--runner=PrismRunner', '--enrichment-process=false'],
                                  ['--runner=DirectRunner']])
def test_without_it_no_step_is_hinted(tmp_path, monkeypatch, argv):
    pipeline, hints, _ = _stream_graph(tmp_path, monkeypatch, *argv)
    assert not isinstance(pipeline.runner, PrismRunnerWithWorkerProcess)
    assert hints and set(hints.values()) == {None}


# --- the pool's worker processes ---------------------------------------------------------------

SLEEPER = [sys.executable, '-c', 'import time; time.sleep(120)']


def _start_worker(address: str, worker_id: str):
    with grpc.insecure_channel(address) as channel:
        stub = beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolStub(channel)
        endpoint = {'url': '127.0.0.1:9'}
        return stub.StartWorker(beam_fn_api_pb2.StartWorkerRequest(
            worker_id=worker_id, control_endpoint=endpoint, logging_endpoint=endpoint,
            provision_endpoint=endpoint), timeout=30)


def test_the_pool_starts_workers_in_their_own_session_and_stops_them():
    pool = ProcessWorkerPool(command=SLEEPER)
    address = pool.start()
    try:
        assert _start_worker(address, 'worker-1').error == ''
        assert _start_worker(address, 'worker-2').error == ''
        first, second = pool.running()
        # A terminal's Ctrl-C goes to newswire's process group, not to the workers.
        assert os.getsid(first.pid) == first.pid != os.getsid(0)
        with grpc.insecure_channel(address) as channel:
            beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolStub(channel).StopWorker(
                beam_fn_api_pb2.StopWorkerRequest(worker_id='worker-1'), timeout=30)
        assert first.poll() is not None and pool.running() == [second]
    finally:
        pool.stop()
    assert second.poll() is not None and pool.running() == []


@pytest.mark.slow
def test_a_worker_dies_with_the_newswire_process_even_killed_by_sigkill(tmp_path):
    # The kill test kills newswire's process group; the worker, in a session of its own, must
    # not outlive it.
    host = textwrap.dedent(f'''
        import sys, time
        from newswire.pipeline.local.worker_process import ProcessWorkerPool
        from tests.pipeline.local.test_worker_process import _start_worker
        command = [sys.executable, '-c', 'from newswire.pipeline.local.worker_process import '
                   '_die_with_parent as d; d(); print(flush=True); import time; time.sleep(120)']
        pool = ProcessWorkerPool(command=command)
        _start_worker(pool.start(), 'worker-1')
        print(pool.running()[0].pid, flush=True)
        time.sleep(120)
    ''')
    process = subprocess.Popen([sys.executable, '-c', host], stdout=subprocess.PIPE, text=True,
                               cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                   os.path.dirname(os.path.abspath(__file__))))))
    try:
        worker = int(process.stdout.readline())
        process.stdout.readline()  # the worker's empty line: its parent-death signal is set
        os.kill(worker, 0)  # running
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def gone():
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return True
        # A zombie until its parent (init, here) reaps it: gone as far as work goes.
        with open(f'/proc/{worker}/stat') as stat:
            return stat.read().split(') ')[1].startswith('Z')

    poll(gone, 30, what='the worker process gone')
