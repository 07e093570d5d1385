"""Emulator restart mid-run (issue 8, item 5): a local streaming run whose Pub/Sub goes away retries
with backoff (a few tries, little CPU, no crash), and processes messages again once the emulator is
back and the topics are created again. The emulator keeps nothing across a restart, so this test
starts one of its own rather than the session's."""

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.conftest import (REPO, PubSubEmulator, pipeline_topics, poll, seed_path,
                            stop_with_ctrl_c)

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']


def _cpu_seconds(pid: int) -> float:
    fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')  # utime + stime


def _create_topics(project, subscriber, captures):
    from newswire.pipeline.commands.pubsub_admin import ensure_subscription

    subprocess.run(NEWSWIRE + ['topics', 'create', '--project', project], check=True,
                   capture_output=True, cwd=REPO, timeout=120)
    for subscription, topic in captures.items():
        ensure_subscription(subscriber, subscription, topic)


def _pull_source_ids(subscriber, subscription):
    from google.api_core.exceptions import DeadlineExceeded
    try:
        response = subscriber.pull(request={'subscription': subscription, 'max_messages': 50},
                                   timeout=2, retry=None)
    except DeadlineExceeded:
        return []
    if response.received_messages:
        subscriber.acknowledge(request={'subscription': subscription, 'ack_ids': [
            r.ack_id for r in response.received_messages]})
    return [json.loads(r.message.data)['source']['id'] for r in response.received_messages]


def _own_emulator(monkeypatch, prefix):
    """An emulator of this test's own (it is stopped mid-test), a project with the pipeline's
    topics, and a subscription capturing the enriched topic."""
    from google.cloud import pubsub_v1

    emulator = PubSubEmulator().start()
    monkeypatch.setenv('PUBSUB_EMULATOR_HOST', emulator.host)
    project = f'{prefix}-{uuid.uuid4().hex[:8]}'
    topics = pipeline_topics(project)
    capture = f'projects/{project}/subscriptions/capture-enriched'
    subscriber, publisher = pubsub_v1.SubscriberClient(), pubsub_v1.PublisherClient()
    _create_topics(project, subscriber, {capture: topics[1]})
    return emulator, project, topics, capture, subscriber, publisher


@pytest.mark.slow
def test_the_run_rides_out_an_emulator_restart(tmp_path, monkeypatch):
    from google.cloud import pubsub_v1

    emulator, project, (raw, enriched, dead), capture, subscriber, publisher = _own_emulator(
        monkeypatch, 'restart')

    log_path = tmp_path / 'run.log'
    log = open(log_path, 'w')
    pipeline = subprocess.Popen(
        NEWSWIRE + ['run', '--streaming', '--runner=DirectRunner',
                    '--input-subscription', f'projects/{project}/subscriptions/newswire-raw-pipeline',
                    '--output-topic', enriched, '--dead-letter-topic', dead],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    seen = []

    def published(*source_ids):
        seen.extend(_pull_source_ids(subscriber, capture))
        return set(source_ids) <= set(seen)

    def retries():
        return log_path.read_text().count('failed (try')

    try:
        for prefix in ('000', '001'):
            publisher.publish(raw, seed_path(prefix).read_bytes(), source_id=prefix).result(30)
        poll(lambda: published('000', '001'), 120, interval=0.5, what='the first two records')

        emulator.stop()
        cpu_before, failures_before = _cpu_seconds(pipeline.pid), retries()
        import time
        outage_start = time.monotonic()
        # Backoff from 0.5 s doubling to 10 s: the fifth try comes about 15 s into the outage.
        poll(lambda: retries() - failures_before >= 5, 120, interval=0.5,
             what='five retries while Pub/Sub is away')
        outage = time.monotonic() - outage_start
        cpu = _cpu_seconds(pipeline.pid) - cpu_before
        tries = retries() - failures_before
        assert pipeline.poll() is None, log_path.read_text()[-3000:]  # still running, no crash
        assert tries <= 8, f'{tries} tries in {outage:.1f} s: not backing off'
        assert cpu < 0.5 * outage, f'{cpu:.1f} s of CPU in {outage:.1f} s: spinning'

        emulator.start()  # same port, nothing in it
        subscriber, publisher = pubsub_v1.SubscriberClient(), pubsub_v1.PublisherClient()
        _create_topics(project, subscriber, {capture: enriched})
        for prefix in ('003', '004'):
            publisher.publish(raw, seed_path(prefix).read_bytes(), source_id=prefix).result(30)
        poll(lambda: published('003', '004'), 180, interval=0.5,
             what='records again after the emulator came back')
    finally:
        stop_with_ctrl_c(pipeline)
        log.close()
        emulator.stop()
    print(f'{tries} tries and {cpu:.1f} s CPU in a {outage:.1f} s outage')
    assert pipeline.returncode == 0, log_path.read_text()[-3000:]


def test_a_local_run_from_a_subscription_needs_both_topics(tmp_path, capsys):
    from newswire.pipeline.cli import main

    for topics in ([], ['--output-topic', 'projects/p/topics/enriched'],
                   ['--dead-letter-topic', 'projects/p/topics/dead']):
        status = main(['run', '--streaming', '--runner=DirectRunner', '--input-subscription',
                       'projects/p/subscriptions/raw', '--output', str(tmp_path), *topics])
        assert status == 2
        assert 'needs --output-topic and --dead-letter-topic' in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_whose_pubsub_never_comes_back_stops_with_the_reason(tmp_path, monkeypatch):
    emulator, project, (raw, enriched, dead), capture, subscriber, publisher = _own_emulator(
        monkeypatch, 'gone')
    settings = tmp_path / 'settings.yaml'
    settings.write_text('local_pubsub:\n  retry_max_seconds: 1\n  give_up_seconds: 4\n')
    log_path = tmp_path / 'run.log'
    log = open(log_path, 'w')
    subscription = f'projects/{project}/subscriptions/newswire-raw-pipeline'
    pipeline = subprocess.Popen(
        NEWSWIRE + ['run', '--streaming', '--runner=DirectRunner', '--input-subscription',
                    subscription, '--output-topic', enriched, '--dead-letter-topic', dead,
                    '--settings', str(settings)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # Running: a record has come through. Then Pub/Sub goes away for good.
        publisher.publish(raw, seed_path('000').read_bytes(), source_id='000').result(30)
        poll(lambda: '000' in ''.join(_pull_source_ids(subscriber, capture)), 120, interval=0.5,
             what='the first record')
        emulator.stop()
        status = pipeline.wait(timeout=120)
    finally:
        if pipeline.poll() is None:
            stop_with_ctrl_c(pipeline)
        log.close()
        emulator.stop()
    output = log_path.read_text()
    assert status == 1, output[-3000:]
    assert f'stopped reading: {subscription}: still failing after 4 s' in output
    assert 2 <= output.count('failed (try') <= 8


@pytest.mark.slow
def test_a_run_whose_pubsub_is_not_there_at_the_start_is_a_set_up_error(tmp_path):
    from tests.conftest import _free_port

    done = subprocess.run(
        NEWSWIRE + ['run', '--streaming', '--runner=DirectRunner',
                    '--input-subscription', 'projects/p/subscriptions/raw',
                    '--output-topic', 'projects/p/topics/enriched',
                    '--dead-letter-topic', 'projects/p/topics/dead'],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, 'PUBSUB_EMULATOR_HOST': f'127.0.0.1:{_free_port()}'})  # nobody there
    assert done.returncode == 2, done.stderr[-3000:]
    assert 'nothing answers at PUBSUB_EMULATOR_HOST=' in done.stderr
    assert 'Traceback' not in done.stderr
