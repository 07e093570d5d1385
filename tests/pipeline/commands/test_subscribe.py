"""`newswire subscribe --language CODE`: its filter against the `language` attribute the pipeline
publishes (`transforms/pubsub.record_attributes`), and end to end on the Pub/Sub emulator."""

import json
import uuid

import pytest

from newswire.pipeline import cli
from newswire.pipeline.commands.subscribe import filter_expression, matches
from newswire.transforms.pubsub import record_attributes, record_to_message
from newswire.transforms.records import DedupInfo, Document, Language, SourceRef, Tag


def _doc(name, code, tags=()):
    """An enriched document in language `code` (None: the language stage never set one)."""
    return Document(id=name, source=SourceRef('jsonl', name), text=f'Report {name}.',
                    language=None if code is None else Language(code, 0.9),
                    tags=tuple(Tag(t, t, 0.5, ()) for t in tags),
                    dedup=DedupInfo(content_hash=name, story_id=name))


def test_language_filter_reads_the_published_language_attribute():
    assert filter_expression([], 'az', False) == 'attributes.language = "az"'
    assert filter_expression(['mine_maps'], 'ru', True) == (
        'attributes:topic_mine_maps AND attributes.language = "ru" AND attributes.duplicate = "0"')
    azerbaijani, turkish = record_attributes(_doc('a', 'az')), record_attributes(_doc('t', 'tr'))
    assert matches(azerbaijani, [], 'az', False) and not matches(turkish, [], 'az', False)
    assert matches(turkish, [], None, False)  # no --language: every language
    undetermined = record_attributes(_doc('u', None))
    assert undetermined['language'] == 'und' and matches(undetermined, [], 'und', False)
    tagged = record_attributes(_doc('m', 'hy', tags=['mine_maps']))
    assert matches(tagged, ['mine_maps'], 'hy', False)
    assert not matches(tagged, ['mine_maps'], 'ka', False)


@pytest.mark.slow
def test_subscribe_prints_only_the_records_of_its_language(pubsub_emulator, capsys):
    from newswire.pipeline.commands.pubsub_admin import (ensure_subscription, ensure_topic,
                                                         publisher_client, subscriber_client)

    project = f'subscribe-{uuid.uuid4().hex[:8]}'
    topic = f'projects/{project}/topics/enriched'
    subscription = f'projects/{project}/subscriptions/enriched-az'
    publisher, subscriber = publisher_client(), subscriber_client()
    ensure_topic(publisher, topic)
    # Created before publishing (a subscription only gets what is published after it exists), with
    # the filter `subscribe` asks for; the emulator keeps it but delivers everything.
    ensure_subscription(subscriber, subscription, topic, filter_expression([], 'az', False))
    subscriber.close()
    docs = [_doc('az-1', 'az'), _doc('ru-1', 'ru'), _doc('az-2', 'az', ['mine_maps']),
            _doc('tr-1', 'tr'), _doc('none-1', None)]
    for doc in docs:
        message = record_to_message(doc)
        publisher.publish(topic, message.data, **message.attributes).result(30)

    assert cli.main(['subscribe', '--topic', topic, '--subscription', subscription,
                     '--language', 'az', '--idle-seconds', '3']) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(record['id'] for record in printed) == ['az-1', 'az-2']
    assert {record['language']['code'] for record in printed} == {'az'}
