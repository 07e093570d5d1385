"""The streaming pipeline end to end on the real Pub/Sub emulator, read by our subscriber and by the
real gcloud CLI."""

import base64
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid

import pytest

from newswire.pipeline.commands.pubsub_admin import ensure_subscription, subscriber_client
from tests.conftest import REPO, SEEDS, pipeline_topics, poll, seed_path

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']


def _newswire(*args, timeout=120):
    done = subprocess.run(NEWSWIRE + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


class _Collector:
    """Pulls a subscription until it has `count` messages; acknowledges what it pulls."""

    def __init__(self, subscriber, subscription):
        self.subscriber, self.subscription, self.messages = subscriber, subscription, []

    def pull(self):
        from google.api_core.exceptions import DeadlineExceeded
        try:
            response = self.subscriber.pull(
                request={'subscription': self.subscription, 'max_messages': 50},
                timeout=5, retry=None)
        except DeadlineExceeded:
            return
        if response.received_messages:
            self.messages += [r.message for r in response.received_messages]
            self.subscriber.acknowledge(request={
                'subscription': self.subscription,
                'ack_ids': [r.ack_id for r in response.received_messages]})

    def until(self, count, deadline):
        def enough():
            self.pull()
            return len(self.messages) >= count
        poll(enough, deadline, interval=0.5, what=f'{count} messages on {self.subscription}')
        return self.messages


@pytest.mark.slow
def test_stream_of_seeds_end_to_end(pubsub_emulator, tmp_path):
    project = f'newswire-test-{uuid.uuid4().hex[:8]}'
    raw, enriched, dead = pipeline_topics(project)
    created = _newswire('topics', 'create', '--project', project)
    assert f'created  {enriched}-peace_treaty' in created
    assert 'exists' in _newswire('topics', 'create', '--project', project)  # idempotent

    subscriber = subscriber_client()
    capture = {}
    for name, topic in [('enriched', enriched), ('dead', dead), ('gcloud', enriched),
                        ('mine_maps', enriched + '-mine_maps'),
                        ('peace_treaty', enriched + '-peace_treaty')]:
        subscription = f'projects/{project}/subscriptions/capture-{name}'
        ensure_subscription(subscriber, subscription, topic)
        capture[name] = subscription
    # Our own subscriber's durable subscription exists before anything is published.
    reader = f'projects/{project}/subscriptions/peace-reader'
    _newswire('subscribe', '--topic', enriched, '--subscription', reader, '--tag', 'peace_treaty',
              '--idle-seconds', '1')

    output = tmp_path / 'files'
    pipeline = subprocess.Popen(
        NEWSWIRE + ['run', '--streaming', '--runner=DirectRunner',
                    '--input-subscription', f'projects/{project}/subscriptions/newswire-raw-pipeline',
                    '--output-topic', enriched, '--dead-letter-topic', dead, '--route-topics',
                    '--output', str(output), '--window-seconds', '5'],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert 'published 5 messages' in _newswire('publish', str(SEEDS), '--topic', raw)
        again = tmp_path / 'again'
        again.mkdir()
        shutil.copy(seed_path('003'), again)
        _newswire('publish', str(again), '--topic', raw)
        from google.cloud import pubsub_v1
        pubsub_v1.PublisherClient().publish(raw, b'\x89PNG\r\n\x1a\n\x00\x00binary',
                                            source_id='poison').result(timeout=30)

        records = [json.loads(m.data) for m in
                   _Collector(subscriber, capture['enriched']).until(6, 240)]
        by_seed = {}
        for record in records:
            by_seed.setdefault(record['source']['id'][:3], []).append(record)
        assert sorted(by_seed) == ['000', '001', '002', '003', '004']
        first, second = sorted(by_seed['003'], key=lambda r: r['dedup']['tier'] or '')
        assert first['dedup']['tier'] is None
        assert second['dedup'] == {**second['dedup'], 'tier': 'exact',
                                   'duplicate_of': first['id']}
        story = by_seed['000'][0]['dedup']['story_id']
        assert story == by_seed['001'][0]['dedup']['story_id'] == by_seed['002'][0]['dedup'][
            'story_id']
        assert by_seed['004'][0]['dedup']['story_id'] != story != first['dedup']['story_id']
        # A stream dates a yearless dateline ("November 14") by its message's publish time: the
        # latest November 14 not after today, a day ahead allowed for the wire's time zone.
        today = datetime.datetime.now(datetime.timezone.utc).date()
        year = today.year if (today.month, today.day) >= (11, 13) else today.year - 1
        for name in ('000', '004'):
            assert (by_seed[name][0]['published_at'], by_seed[name][0]['published_at_source']) == (
                f'{year}-11-14', 'dateline_year_from_arrival')
        assert [a['headline'][:14] for a in first['embedded_articles']] == ['Ali Naghiyev: ']

        (letter,) = [json.loads(m.data) for m in
                     _Collector(subscriber, capture['dead']).until(1, 60)]
        assert (letter['stage'], letter['reason'], letter['source']['id']) == (
            'read', 'binary', 'poison')

        mine = _Collector(subscriber, capture['mine_maps']).until(6, 60)
        assert sorted(json.loads(m.data)['source']['id'][:3] for m in mine) == [
            '000', '001', '002', '003', '003', '004']
        peace_collector = _Collector(subscriber, capture['peace_treaty'])
        peace_collector.until(2, 60)
        peace_collector.pull()  # nothing else arrives
        assert sorted(json.loads(m.data)['source']['id'][:3]
                      for m in peace_collector.messages) == ['000', '002']
        assert all(m.attributes['topic_peace_treaty'] == '1' for m in peace_collector.messages)

        printed = _newswire('subscribe', '--topic', enriched, '--subscription', reader,
                            '--tag', 'peace_treaty', '--idle-seconds', '8')
        assert sorted(json.loads(line)['source']['id'][:3]
                      for line in printed.splitlines()) == ['000', '002']

        # A client we did not write: the real gcloud CLI against the emulator.
        env = {**os.environ, 'CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB': f'http://{pubsub_emulator}/',
               'CLOUDSDK_AUTH_DISABLE_CREDENTIALS': 'true', 'CLOUDSDK_CORE_PROJECT': project}
        pulled = []

        def gcloud_pull():
            done = subprocess.run(
                ['gcloud', 'pubsub', 'subscriptions', 'pull', capture['gcloud'], '--limit=10',
                 '--auto-ack', '--format=json'], capture_output=True, text=True, env=env,
                timeout=120)
            assert done.returncode == 0, done.stderr[-2000:]
            pulled.extend(json.loads(done.stdout or '[]'))
            return len(pulled) >= 6
        poll(gcloud_pull, 120, interval=1, what='gcloud pulling six records')
        gcloud_records = [json.loads(base64.b64decode(item['message']['data']))
                          for item in pulled]
        assert sorted(r['id'] for r in gcloud_records) == sorted(r['id'] for r in records)

        def windowed_records():
            lines = [line for path in output.glob('enriched-*.jsonl')
                     for line in path.read_text().splitlines()]
            return len(lines) >= 6 and lines
        assert len(poll(windowed_records, 300, interval=1,
                        what=f'windowed files in {output}')) == 6
    finally:
        pipeline.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            _, stderr = pipeline.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            pipeline.kill()
            _, stderr = pipeline.communicate()
        subscriber.close()
    assert pipeline.returncode == 0, stderr[-3000:]
    assert 'stopped' in stderr
