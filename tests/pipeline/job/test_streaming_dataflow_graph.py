"""The streaming graph Dataflow runs (`ReadFromPubSub` in, `WriteToPubSub` out, no `pipeline.local`
adapter), run on the DirectRunner against the Pub/Sub emulator.

This is `run.streaming_pipeline(options)` itself, the graph `--dry_run` hands Dataflow, not a copy.
Two facts of Beam's Python DirectRunner bound what it shows: its Pub/Sub read acknowledges each
message when it pulls it (so this path loses messages in flight on a crash; `newswire run`'s local
runs use `pipeline.local.pubsub_local` instead), and it refuses `id_label` on a read, which the
graph therefore does not set (Dataflow would deduplicate on it; dedup flags repeats instead).
"""

import json
import subprocess
import sys
import uuid

import pytest

from newswire.pipeline.commands.publish import messages
from newswire.pipeline.commands.pubsub_admin import ensure_subscription, subscriber_client
from newswire.pipeline.job.run import pipeline_options, streaming_pipeline
from tests.conftest import REPO, SEEDS, pipeline_topics, poll

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']


def _pull(subscriber, subscription, into):
    from google.api_core.exceptions import DeadlineExceeded
    try:
        response = subscriber.pull(request={'subscription': subscription, 'max_messages': 50},
                                   timeout=5, retry=None)
    except DeadlineExceeded:
        return
    if response.received_messages:
        into += [r.message for r in response.received_messages]
        subscriber.acknowledge(request={'subscription': subscription,
                                        'ack_ids': [r.ack_id for r in response.received_messages]})


def _transform_classes(pipeline) -> set:
    from apache_beam.pipeline import PipelineVisitor

    class Names(PipelineVisitor):
        names = set()

        def enter_composite_transform(self, node):
            self.visit_transform(node)

        def visit_transform(self, node):
            self.names.add(type(node.transform).__name__)

    visitor = Names()
    pipeline.visit(visitor)
    return visitor.names


@pytest.mark.slow
def test_the_dataflow_graph_enriches_the_seeds_from_pubsub_on_the_direct_runner(pubsub_emulator):
    from google.cloud import pubsub_v1

    project = f'dataflow-graph-{uuid.uuid4().hex[:8]}'
    raw, enriched, dead = pipeline_topics(project)
    subprocess.run(NEWSWIRE + ['topics', 'create', '--project', project], check=True,
                   capture_output=True, cwd=REPO, timeout=120)
    source = f'projects/{project}/subscriptions/newswire-raw-pipeline'
    capture = f'projects/{project}/subscriptions/capture-enriched'
    publisher, subscriber = pubsub_v1.PublisherClient(), subscriber_client()
    ensure_subscription(subscriber, capture, enriched)

    pipeline = streaming_pipeline(pipeline_options([
        '--runner=DirectRunner', '--streaming', '--input-subscription', source,
        '--output-topic', enriched, '--dead-letter-topic', dead]))
    assert {'ReadFromPubSub', 'WriteToPubSub'} <= _transform_classes(pipeline)
    assert not {'TestStream', 'PublishThenAcknowledge'} & _transform_classes(pipeline)
    result = pipeline.run()
    out = []
    try:
        seeds = list(messages([str(SEEDS)]))
        assert len(seeds) == 5
        for future in [publisher.publish(raw, body, **attributes) for body, attributes in seeds]:
            future.result(timeout=30)
        poll(lambda: _pull(subscriber, capture, out) or len(out) >= 5, 300, interval=0.5,
             what='five enriched messages')
    finally:
        result.cancel()
        subscriber.close()

    records = {json.loads(m.data)['source']['id']: m for m in out}
    assert sorted(records) == sorted(attributes['source_id'] for _, attributes in seeds)
    for message in records.values():
        record = json.loads(message.data)
        attributes = dict(message.attributes)
        assert attributes['record_id'] == record['id']
        assert attributes['language'] == record['language']['code']
        assert attributes['story_id'] == record['dedup']['story_id']
        assert attributes['duplicate_tier'] == (record['dedup']['tier'] or 'none')
        assert {k for k in attributes if k.startswith('topic_')} == {
            f"topic_{t['id']}" for t in record['topics']}
