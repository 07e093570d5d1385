"""`portable_pubsub`: the subscription read on Prism (and an embedded Flink) by our own reader as an
unbounded splittable DoFn, acknowledged after publishing; and the runs it cannot serve refused.

Fast: which runs read in process, the tracker that only checkpoints, the refusals (one line, exit
2). Slow, on the Pub/Sub emulator with the installed Prism binary and Flink job server: the seeds
as raw messages come out as five enriched messages with their attributes; a run killed with
SIGKILL and started again leaves no message without a record or dead letter, on both.
"""

import os
import signal
import stat
import subprocess
import sys
import uuid

import pytest
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.options.pipeline_options import PipelineOptions

from newswire.pipeline.cli import main
from newswire.pipeline.commands.pubsub_admin import ensure_subscription, subscriber_client
from newswire.pipeline.job import runners
from newswire.pipeline.local.portable_pubsub import CheckpointOnlyTracker, runs_in_process
from tests.conftest import REPO, SEEDS, missing_tool, pipeline_topics, poll, stop_with_ctrl_c
from tests.pubsub_capture import CapturedOutputs, seed_vocabulary_bodies

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']


@pytest.mark.parametrize('argv,in_process', [
    (['--runner=PrismRunner'], True),  # Prism's default environment is LOOPBACK
    (['--runner=PrismRunner', '--environment_type=LOOPBACK'], True),
    (['--runner=FlinkRunner', '--environment_type=LOOPBACK'], True),
    (['--runner=FlinkRunner'], False),  # before prepare_runner chose an environment
    (['--runner=PrismRunner', '--environment_type=DOCKER'], False),
    (['--runner=FlinkRunner', '--environment_type=PROCESS'], False),
    (['--runner=PrismRunner', '--experiments=use_loopback_process_worker'], False),
    (['--runner=SparkRunner', '--environment_type=LOOPBACK'], False),
    (['--runner=PortableRunner', '--environment_type=LOOPBACK'], False),
])
def test_only_loopback_workers_on_prism_or_flink_read_in_process(argv, in_process):
    assert runs_in_process(PipelineOptions(argv)) is in_process


def test_the_tracker_checkpoints_but_declines_a_split_at_a_fraction():
    tracker = CheckpointOnlyTracker(OffsetRange(0, 1000))
    assert tracker.try_claim(0)
    assert tracker.try_split(0.5) is None
    assert tracker.current_restriction() == OffsetRange(0, 1000)
    primary, residual = tracker.try_split(0)
    assert (primary, residual) == (OffsetRange(0, 1), OffsetRange(1, 1000))


@pytest.fixture
def prism_binary(tmp_path):
    """A file to name as --prism_location (the refusals come before anything runs it)."""
    path = tmp_path / 'prism'
    path.write_bytes(b'#!/bin/sh\nexit 1\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


SUBSCRIPTION = ['--streaming', '--input-subscription=projects/p/subscriptions/raw',
                '--output-topic=projects/p/topics/enriched',
                '--dead-letter-topic=projects/p/topics/dead']


def _one_error_line(capsys):
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_prism_with_process_workers_refuses_a_subscription(prism_binary, capsys):
    # (--environment_type=DOCKER: tests/deploy/test_prism.py)
    assert main(['run', '--runner=PrismRunner', f'--prism_location={prism_binary}',
                 '--experiments=use_loopback_process_worker'] + SUBSCRIPTION) == 2
    err = _one_error_line(capsys)
    assert err.startswith('newswire run: --input-subscription cannot be read on PrismRunner'), err
    assert 'use_loopback_process_worker' in err and 'the workers must run inside it' in err


def test_flink_on_a_remote_cluster_refuses_a_subscription(capsys):
    assert main(['run', '--runner=FlinkRunner', '--job_endpoint=localhost:8099',
                 '--environment_type=EXTERNAL', '--environment_config=localhost:50000']
                + SUBSCRIPTION) == 2
    err = _one_error_line(capsys)
    assert err.startswith('newswire run: --input-subscription cannot be read on FlinkRunner with '
                          '--environment_type=EXTERNAL'), err


@pytest.mark.parametrize('runner', ['SparkRunner', 'PortableRunner'])
def test_spark_and_a_bare_job_endpoint_refuse_a_subscription(runner, capsys):
    assert main(['run', f'--runner={runner}', '--job_endpoint=localhost:8099',
                 '--environment_type=LOOPBACK'] + SUBSCRIPTION) == 2
    err = _one_error_line(capsys)
    assert err.startswith(f'newswire run: --input-subscription cannot be read on {runner}: '), err
    assert 'PrismRunner and FlinkRunner' in err


# --- on the emulator, with the installed runners ------------------------------------------------

def _runner_argv(runner: str) -> list[str]:
    if runner == 'PrismRunner':
        if runners.installed_prism() is None:
            missing_tool(f'Prism is not installed ({runners.prism_path()}): '
                         f'{runners.INSTALL_COMMAND}')
    elif runners.installed_job_server(runners.FLINK) is None:
        missing_tool(f'the Flink job server is not installed: {runners.FLINK.install_command}')
    return [f'--runner={runner}']


def _topics(project):
    """(raw, enriched, dead-letter topic, the pipeline's subscription, capture subscriptions of
    enriched and dead letters), made as `newswire topics create` makes them."""
    raw, enriched, dead = pipeline_topics(project)
    subprocess.run(NEWSWIRE + ['topics', 'create', '--project', project], check=True,
                   capture_output=True, cwd=REPO, timeout=120)
    subscriber = subscriber_client()
    captures = []
    for name, topic in (('enriched', enriched), ('dead', dead)):
        captures.append(f'projects/{project}/subscriptions/capture-{name}')
        ensure_subscription(subscriber, captures[-1], topic)
    return (raw, enriched, dead, f'projects/{project}/subscriptions/newswire-raw-pipeline',
            captures, subscriber)


def _start(command, log_path):
    with open(log_path, 'w') as log:
        return subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


@pytest.mark.slow
@pytest.mark.parametrize('runner', ['PrismRunner', 'FlinkRunner'])
def test_the_seeds_as_raw_messages_come_out_enriched_on_a_portable_runner(
        runner, pubsub_emulator, tmp_path):
    argv = _runner_argv(runner)
    project = f'portps-{uuid.uuid4().hex[:8]}'
    raw, enriched, dead, subscription, captures, subscriber = _topics(project)
    stream = _start(NEWSWIRE + ['run', '--streaming', '--input-subscription', subscription,
                                '--output-topic', enriched, '--dead-letter-topic', dead] + argv,
                    tmp_path / 'stream.log')
    outputs = CapturedOutputs(subscriber, *captures, with_attributes=True)
    try:
        published = subprocess.run(NEWSWIRE + ['publish', str(SEEDS), '--topic', raw], cwd=REPO,
                                   capture_output=True, text=True, timeout=120)
        assert 'published 5 messages' in published.stdout, published.stderr[-2000:]
        poll(lambda: outputs.pull() >= 5, 300, interval=0.5, what=f'5 records on {enriched}')
    finally:
        stop_with_ctrl_c(stream)
        subscriber.close()
    log = (tmp_path / 'stream.log').read_text()
    assert stream.returncode == 0, log[-3000:]
    assert 'cannot be read' not in log
    seeds = sorted(path.name for path in SEEDS.glob('*.txt'))
    assert sorted(outputs.records) == seeds and outputs.letters == {}
    by_seed = {}
    for source_id, [(record, attributes)] in outputs.records.items():
        by_seed[source_id[:3]] = record
        assert attributes['record_id'] == record['id']
        assert attributes['language'] == record['language']['code']
        assert attributes['story_id'] == record['dedup']['story_id']
        assert {key[len('topic_'):] for key in attributes if key.startswith('topic_')} == {
            topic['id'] for topic in record['topics']}
    # Dedup on this runner decides as the DirectRunner's stream does (test_streaming.py).
    story = by_seed['000']['dedup']['story_id']
    assert by_seed['001']['dedup']['story_id'] == by_seed['002']['dedup']['story_id'] == story
    assert by_seed['004']['dedup']['story_id'] != story
    story_tiers = sorted(str(by_seed[name]['dedup']['tier']) for name in ('000', '001', '002'))
    assert story_tiers == ['None', 'same_story', 'same_story']  # one canonical, two of its story
    assert by_seed['003']['dedup']['tier'] is None and by_seed['004']['dedup']['tier'] is None


POISON_EVERY = 20  # binary bodies: dead letters


@pytest.mark.slow
# Fewer on Flink: its stream decides dedup at under one record a second here (the read keeps up
# with the arrivals; the records wait in the dedup steps), where Prism does hundreds.
@pytest.mark.parametrize('runner,messages', [('PrismRunner', 300), ('FlinkRunner', 40)])
def test_kill_9_loses_no_message(runner, messages, pubsub_emulator, tmp_path):
    """Messages arrive at 20 per second while the run holds each for its dedup settle time (3 s),
    so when the run (with Prism or Flink's job server, and the workers: one process group, Beam
    starts the runner without a session of its own) is killed once a fifth are
    out, dozens are pulled but not yet published. Started again: every raw message ends with a
    record or dead letter, at least once (a reader that acknowledged on pull would lose those)."""
    import threading
    import time

    from google.cloud import pubsub_v1

    argv = _runner_argv(runner)
    project = f'portps-kill-{uuid.uuid4().hex[:8]}'
    raw, enriched, dead, subscription, captures, subscriber = _topics(project)
    bodies = seed_vocabulary_bodies(messages, POISON_EVERY, words_per_text=120, seed=19)
    publisher = pubsub_v1.PublisherClient()
    failures = []

    def publish_at_20_per_second():
        for source_id, body in bodies.items():
            try:
                publisher.publish(raw, body, source_id=source_id).result(timeout=60)
            except Exception as error:  # noqa: BLE001 - the test fails on it below
                failures.append(error)
            time.sleep(0.05)  # pacing the arrivals, not waiting for anything

    # A short lease, so that what the killed run held is delivered again within seconds.
    settings = tmp_path / 'settings.yaml'
    settings.write_text('local_pubsub:\n  lease_seconds: 10\ndedup:\n  settle_seconds: 3\n')
    command = NEWSWIRE + ['run', '--streaming', '--input-subscription', subscription,
                          '--output-topic', enriched, '--dead-letter-topic', dead,
                          '--settings', str(settings)] + argv
    outputs = CapturedOutputs(subscriber, *captures)
    first = _start(command, tmp_path / 'run-0.log')
    arrivals = threading.Thread(target=publish_at_20_per_second)
    try:
        poll(lambda: 'streaming; Ctrl-C stops' in (tmp_path / 'run-0.log').read_text(), 120,
             what='the first run started')
        arrivals.start()
        poll(lambda: outputs.pull() >= messages // 5, 300, interval=0.2,
             what='a fifth of the messages out')
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    killed_at = len(outputs.records) + len(outputs.letters)
    second = _start(command, tmp_path / 'run-1.log')
    try:
        poll(lambda: outputs.pull() >= messages, 180, interval=0.5,
             what='every message out after the restart')
    finally:
        stop_with_ctrl_c(second)
        arrivals.join(timeout=120)
        subscriber.close()
    assert not failures, failures[:3]
    assert killed_at < messages, killed_at  # the kill was mid-run
    poison = {s for s, body in bodies.items() if body.startswith(b'\x00')}
    assert set(outputs.records) == set(bodies) - poison
    assert set(outputs.letters) == poison
    print(f'killed at {killed_at} of {messages}')
