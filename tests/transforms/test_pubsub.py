import dataclasses
import json

import apache_beam as beam
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.pubsub import (MAX_ATTRIBUTE_VALUE_BYTES, MAX_BODY_BYTES, Delivery,
                                        ParseMessageFn,
                                        dead_letter_to_message, message_to_document,
                                        record_attributes, record_to_message)
from newswire.transforms.dead_letters import ApplyStage, dead_letter
from newswire.transforms.records import (DedupInfo, Document, EmbeddedArticle, Evidence, Language,
                                         SourceRef, Tag, UnserialisableRecord)
from tests.conftest import direct_pipeline

CAP = 10_000_000


def test_json_body_with_attribute_defaults():
    body = json.dumps({'id': 'r1', 'text': 'Talks resumed in Baku.', 'section': 'x'}).encode()
    doc, letter = message_to_document(body, {'outlet': 'Trend', 'published': '2023-11-14',
                                             'priority': 'high'}, 'm1', CAP)
    assert letter is None
    assert (doc.source.kind, doc.source.id, doc.source.outlet, doc.published_at) == (
        'pubsub', 'r1', 'Trend', '2023-11-14')
    assert doc.extra == {'section': 'x', 'message_id': 'm1', 'attributes': {'priority': 'high'}}


def test_plain_text_and_html_bodies():
    text, _ = message_to_document(b'Talks resumed in Baku.', {'source_id': 's1'}, 'm1', CAP)
    assert (text.text, text.html, text.source.id) == ('Talks resumed in Baku.', None, 's1')
    html, _ = message_to_document(b'<html><body><p>Hi</p></body></html>', {}, 'm2', CAP)
    assert html.html.startswith('<html>') and html.source.id == 'm2'
    forced, _ = message_to_document(b'{not json but text', {'content_type': 'text/plain'}, 'm3',
                                    CAP)
    assert forced.text == '{not json but text'


def test_same_message_gets_the_same_record_id():
    first, _ = message_to_document(b'Same body.', {'source_id': 's'}, 'm1', CAP)
    again, _ = message_to_document(b'Same body.', {'source_id': 's'}, 'm1', CAP)
    assert first.id == again.id


@pytest.mark.parametrize('data,attributes,reason', [
    (b'', {'source_id': 'x'}, 'empty'),
    (b'{"id": "a", "text": ', {}, 'malformed_json'),
    (b'\x89PNG\r\n\x1a\n\x00\x00', {}, 'binary'),
    (b'caf\xe9', {}, 'undecodable'),
    (b'x' * 101, {}, 'too_large'),
    (json.dumps({'url': 'javascript:alert(1)', 'text': 'Body.'}).encode(), {}, 'bad_url'),
    (json.dumps({'title': 'no body'}).encode(), {}, 'no_text'),
    (b'[1, 2]', {'content_type': 'application/json'}, 'not_an_object'),
    (b'Body text.', {'source_id': 'x' * 1025}, 'oversize_attribute'),
])
def test_poison_messages_become_dead_letters_with_their_bytes(data, attributes, reason):
    doc, letter = message_to_document(data, attributes, 'm9', 100)
    assert doc is None
    assert (letter.stage, letter.reason) == ('read', reason)
    assert 'm9' in letter.detail
    if data and len(data) <= 100:
        assert letter.original_bytes == len(data)


@pytest.mark.parametrize('body,reason', [
    (b'{"id": "deep", "text": "Mines.", "extra": ' + b'[' * 500 + b']' * 500 + b'}',
     'too_deeply_nested'),
    (b'[' * 100_000 + b']' * 100_000, 'too_deeply_nested'),
    (b'{"id": ' + b'7' * 5000 + b', "text": "Mines."}', 'number_too_long'),
    (b'{"id": "s", "text": "Deminers \\ud800 cleared a field."}', 'invalid_unicode'),
    (b'{"url": "http://[oops", "text": "Mines."}', 'bad_url'),
])
def test_hostile_json_bodies_are_dead_letters_as_jsonl_lines_are(body, reason):
    doc, letter = message_to_document(body, {'content_type': 'application/json'}, 'm7', CAP,
                                      max_json_depth=32)
    assert doc is None and (letter.stage, letter.reason) == ('read', reason)


def _enriched(**changes):
    doc = Document(
        id='abc', source=SourceRef('pubsub', 's1', outlet='News.Az'), text='Mine maps were asked.',
        language=Language('en', 1.0),
        tags=(Tag('mine_maps', 'Mine maps', 0.5, (Evidence('Mine maps', 0, 9),)),),
        dedup=DedupInfo(content_hash='0' * 32, story_id='st', tier='near_copy',
                        near_duplicate_of='x', near_copy_similarity=0.8))
    return doc if not changes else Document(**{**doc.__dict__, **changes})


def test_record_attributes_for_subscription_filters():
    attributes = record_attributes(_enriched())
    assert attributes == {'record_id': 'abc', 'language': 'en', 'duplicate_tier': 'near_copy',
                          'duplicate': '1', 'story_id': 'st', 'outlet': 'News.Az',
                          'topic_mine_maps': '1'}


def test_a_record_holding_a_second_article_says_so_in_an_attribute():
    text = 'First report.\n\nSecond headline of a report\n\nSecond report.'
    doc = _enriched(text=text, embedded_articles=(
        EmbeddedArticle('Second headline of a report', 15, 44),))
    assert record_attributes(doc)['embedded_articles'] == '1'
    assert 'embedded_articles' not in record_attributes(_enriched())


def test_a_truncated_record_keeps_only_the_embedded_articles_left_in_its_text():
    text = 'word ' * (MAX_BODY_BYTES // 4)  # over the limit: its end is cut
    early = EmbeddedArticle('An early headline', 10, 40)
    late = EmbeddedArticle('A late headline', len(text) - 100, len(text) - 60)
    message = record_to_message(_enriched(text=text, embedded_articles=(early, late)))
    record = json.loads(message.data)
    assert record['embedded_articles'] == [{'headline': 'An early headline', 'start': 10,
                                            'body_start': 40}]
    assert message.attributes['embedded_articles'] == '2'


def test_attribute_limits_hold():
    tags = tuple(Tag(f't{i}', 'T', 0.5, (Evidence('a', 0, 1),)) for i in range(150))
    doc = _enriched(tags=tags, source=SourceRef('pubsub', 's', outlet='é' * 2000))
    attributes = record_attributes(doc)
    assert len(attributes) <= 99
    assert all(len(v.encode()) <= MAX_ATTRIBUTE_VALUE_BYTES for v in attributes.values())


def test_oversize_record_is_truncated_and_flagged():
    doc = _enriched(text='word ' * (MAX_BODY_BYTES // 4))
    message = record_to_message(doc)
    assert len(message.data) <= MAX_BODY_BYTES
    assert message.attributes['truncated'] == '1'
    record = json.loads(message.data)
    assert record['extra']['truncated'] is True
    small = record_to_message(_enriched())
    assert 'truncated' not in small.attributes
    assert json.loads(small.data)['id'] == 'abc'


def test_dead_letter_message():
    letter = dead_letter('read', 'binary', 'NUL bytes', SourceRef('pubsub', 'm1'), b'\xff\x00')
    message = dead_letter_to_message(letter)
    assert message.attributes == {'stage': 'read', 'reason': 'binary', 'source_id': 'm1'}
    assert json.loads(message.data)['original_encoding'] == 'base64'


def test_record_messages_are_strict_json_and_an_unserialisable_record_says_why():
    message = record_to_message(_enriched(extra={'reading': float('inf')}))
    assert json.loads(message.data, parse_constant=lambda c: pytest.fail(c))['extra'] == {
        'reading': 'Infinity'}
    with pytest.raises(UnserialisableRecord, match='U\\+DC00'):
        record_to_message(_enriched(title='Port \udc00 reopened'))


def test_a_dead_letter_with_lone_surrogates_is_still_a_message():
    letter = dead_letter('write', 'unserialisable', 'title \udc00', SourceRef('pubsub', 'm\udc00'),
                         'Port \udc00 reopened')
    message = dead_letter_to_message(letter)
    assert message.attributes['source_id'] == 'm\\udc00'
    record = json.loads(message.data.decode('utf-8'))
    assert (record['detail'], record['original_encoding']) == ('title \\udc00', 'base64')


def test_parse_message_fn_in_a_pipeline_keeps_each_delivery_receipt():
    deliveries = [
        Delivery(PubsubMessage(b'Talks resumed in Baku today.', {'source_id': 'a'}, message_id='1'),
                 receipt='ack-1'),
        Delivery(PubsubMessage(b'', {'source_id': 'b'}, message_id='2'), receipt='ack-2'),
        Delivery(PubsubMessage(b'No receipt: read by the native source.', {}, message_id='3'))]
    with direct_pipeline() as p:
        good, dead = p | beam.Create(deliveries) | ApplyStage(ParseMessageFn(CAP), 'read')
        assert_that(good | beam.Map(lambda d: (d.source.id, d.source.receipt)),
                    equal_to([('a', 'ack-1'), ('3', None)]), label='good')
        assert_that(dead | beam.Map(lambda d: (d.reason, d.source.receipt)),
                    equal_to([('empty', 'ack-2')]), label='dead')


def test_the_receipt_is_never_written_out():
    doc, _ = message_to_document(b'Talks resumed in Baku.', {}, 'm1', CAP, receipt='ack-9')
    assert doc.source.receipt == 'ack-9'
    assert 'ack-9' not in json.dumps(doc.to_json_dict())
    assert doc.source == dataclasses.replace(doc.source, receipt=None)  # not part of identity
