"""Pub/Sub in and out: raw messages -> documents, enriched records -> messages with attributes.

The raw message contract: the body is a JSON object with the keys of a JSONL input record (`id`, `url`,
`title`, `text` or `html`, `published`, `outlet`), or plain text or HTML bytes. Attributes are
optional: `source_id`, `url`, `title`, `published`, `outlet` fill in what the body does not say;
`content_type` (`text/html`, `text/plain`, `application/json`) overrides the sniffing of the body.

Enriched messages carry the enriched record as JSON and attributes for subscription filters:
`record_id`, `language`, `story_id`, `outlet`, `duplicate_tier` (exact, near_copy, same_story or
none), `duplicate` ("1" for exact and near copies), `embedded_articles` (how many second articles
the text holds, when any: transforms/parts.py), and `topic_<id>` = "1" per tag, so that
`attributes:topic_mine_maps` selects a tag. Pub/Sub's limits hold: at most 100 attributes, values of at
most 1024 bytes, bodies under 10 MB; a record over the body limit has its text cut and is flagged
(`truncated` attribute and `extra.truncated`), never an error loop.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Iterable, Mapping, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.gcp.pubsub import PubsubMessage, ReadFromPubSub, WriteToPubSub

from newswire.transforms.dead_letters import DEAD_LETTER, ApplyStage, dead_letter
from newswire.transforms.read_files import decode_text, document_from_record, looks_binary
from newswire.transforms.records import Document, SourceRef, encode_json_line

STAGE = 'read'
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_VALUE_BYTES = 1024
MAX_MESSAGE_BYTES = 10 * 1000 * 1000
# Room for the attributes and the envelope below Pub/Sub's 10 MB request limit.
MAX_BODY_BYTES = MAX_MESSAGE_BYTES - 256 * 1024
ATTRIBUTE_FIELDS = ('source_id', 'url', 'title', 'published', 'outlet')


def _attribute_text(value: str) -> str:
    """A value cut to Pub/Sub's 1024-byte attribute limit without splitting a character."""
    raw = value.encode('utf-8')
    if len(raw) <= MAX_ATTRIBUTE_VALUE_BYTES:
        return value
    return raw[:MAX_ATTRIBUTE_VALUE_BYTES].decode('utf-8', 'ignore')


def message_source(attributes: Mapping[str, str], message_id: str,
                   receipt: Optional[str] = None) -> SourceRef:
    return SourceRef(kind='pubsub', id=attributes.get('source_id') or message_id,
                     url=attributes.get('url'), outlet=attributes.get('outlet'), receipt=receipt)


class Delivery(NamedTuple):
    """A message as received, and its receipt (the ack id) when the local reader acknowledges only
    after the message's record is published (pipeline/local/pubsub_local.py)."""

    message: PubsubMessage
    receipt: Optional[str] = None

    @property
    def source(self) -> SourceRef:
        """Where a dead letter of this delivery points (also for an unexpected error)."""
        return message_source(self.message.attributes or {}, self.message.message_id or '',
                              self.receipt)

    @property
    def original(self) -> bytes:
        return self.message.data or b''


def message_to_document(data: Optional[bytes], attributes: Mapping[str, str], message_id: str,
                        max_document_bytes: int, receipt: Optional[str] = None,
                        max_json_depth: Optional[int] = None):
    """A raw message -> (Document, None) or (None, DeadLetter) with the original bytes. A JSON body
    nested deeper than `max_json_depth` is refused as a JSONL line is (`too_deeply_nested`)."""
    attributes = dict(attributes or {})
    source = message_source(attributes, message_id, receipt)
    data = data or b''

    def dead(reason, detail):
        return None, dead_letter(STAGE, reason, f'{detail} (message {message_id})', source, data)

    if len(data) > max_document_bytes:
        return dead('too_large', f'body over the {max_document_bytes}-byte cap')
    oversize = sorted(k for k, v in attributes.items()
                      if len(str(v).encode('utf-8')) > MAX_ATTRIBUTE_VALUE_BYTES)
    if oversize:
        # Pub/Sub itself refuses such values; a message carrying one did not come from a publisher
        # that keeps the contract.
        return dead('oversize_attribute',
                    f'attribute(s) {", ".join(oversize)} over {MAX_ATTRIBUTE_VALUE_BYTES} bytes')
    if not data.strip():
        return dead('empty', 'no body' + (' (attributes only)' if attributes else ''))
    if looks_binary(data):
        return dead('binary', 'NUL bytes: not a text document')
    try:
        body = decode_text(data)
    except UnicodeDecodeError as error:
        return dead('undecodable', f'not UTF-8 or UTF-16 with BOM: {error}')
    content_type = attributes.get('content_type', '').split(';')[0].strip().lower()
    stripped = body.lstrip()
    if content_type == 'application/json' or (not content_type and stripped.startswith('{')):
        try:
            record = json.loads(body)
        except json.JSONDecodeError as error:
            return dead('malformed_json', str(error))
        except RecursionError:
            return dead('too_deeply_nested', 'nested deeper than the JSON parser can follow')
        except ValueError as error:  # valid JSON, but an integer over Python's digit limit
            return dead('number_too_long', str(error))
        if isinstance(record, dict):
            record = {**{k: attributes[k] for k in ATTRIBUTE_FIELDS[1:] if k in attributes},
                      **record}
            if 'id' not in record and 'source_id' in attributes:
                record['id'] = attributes['source_id']
    else:
        is_html = content_type == 'text/html' or (
            not content_type and stripped[:1] == '<' and '<' in stripped[1:200])
        record = {k: attributes[k] for k in ATTRIBUTE_FIELDS[1:] if k in attributes}
        record['html' if is_html else 'text'] = body
    document, problem = document_from_record(record, dataclasses.replace(source, url=None),
                                             max_json_depth)
    if document is None:
        return dead(*problem)
    unknown = {k: v for k, v in attributes.items()
               if k not in ATTRIBUTE_FIELDS and k != 'content_type'}
    extra = {**document.extra, 'message_id': message_id}
    if unknown:
        extra['attributes'] = unknown
    return document.replaced(extra=extra), None


class ParseMessageFn(beam.DoFn):
    """Delivery -> Document, or a dead letter with the message's bytes; both keep the receipt."""

    def __init__(self, max_document_bytes: int, max_json_depth: Optional[int] = None):
        self._max_document_bytes = max_document_bytes
        self._max_json_depth = max_json_depth

    def process(self, delivery: Delivery):
        message = delivery.message
        document, letter = message_to_document(
            message.data, message.attributes, message.message_id or '', self._max_document_bytes,
            delivery.receipt, self._max_json_depth)
        if letter is not None:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, letter)
        else:
            yield document


class ReadPubSubDocuments(beam.PTransform):
    """A subscription (projects/P/subscriptions/S) -> `StageOutputs(documents, dead letters)`."""

    def __init__(self, subscription: str, max_document_bytes: int,
                 max_json_depth: Optional[int] = None):
        super().__init__()
        self._subscription = subscription
        self._max_document_bytes = max_document_bytes
        self._max_json_depth = max_json_depth

    def expand(self, pbegin):
        return (
            pbegin
            | 'ReadMessages' >> ReadFromPubSub(subscription=self._subscription,
                                               with_attributes=True)
            | 'AsDeliveries' >> beam.Map(Delivery)
            | 'ParseMessages' >> ApplyStage(
                ParseMessageFn(self._max_document_bytes, self._max_json_depth), STAGE))


def record_attributes(doc: Document) -> dict[str, str]:
    """The filterable attributes of an enriched record (see the module docstring)."""
    dedup = doc.dedup
    tier = dedup.tier if dedup and dedup.tier else 'none'
    attributes = {
        'record_id': doc.id,
        'language': doc.language.code if doc.language else 'und',
        'duplicate_tier': tier,
        'duplicate': '1' if tier in ('exact', 'near_copy') else '0',
    }
    if dedup:
        attributes['story_id'] = dedup.story_id
    if doc.source.outlet:
        attributes['outlet'] = doc.source.outlet
    if doc.embedded_articles:
        attributes['embedded_articles'] = str(len(doc.embedded_articles))
    room = MAX_ATTRIBUTES - len(attributes) - 1  # one left for `truncated`
    for tag in doc.tags[:room]:
        attributes[f'topic_{tag.id}'] = '1'
    return {key: _attribute_text(value) for key, value in attributes.items()}


def record_to_message(doc: Document) -> PubsubMessage:
    """An enriched record as a message; a body over the limit has its text cut and is flagged.

    The body is the record's line in the output files (`records.encode_json_line`): a record that
    cannot be one raises `UnserialisableRecord`, so publishers take records that passed
    `write.SerialiseRecords` (as `assembly.PublishOutputs` does), whose others are dead letters.
    """
    record = doc.to_json_dict()
    attributes = record_attributes(doc)
    body = encode_json_line(record)
    if len(body) > MAX_BODY_BYTES:
        overflow = len(body) - MAX_BODY_BYTES
        text = record['text'].encode('utf-8')
        record['text'] = text[:max(0, len(text) - overflow - 1024)].decode('utf-8', 'ignore')
        record['topics'] = [dict(t, evidence=[e for e in t['evidence']
                                              if e['end'] <= len(record['text'])])
                            for t in record['topics']]
        record['embedded_articles'] = [a for a in record['embedded_articles']
                                       if a['body_start'] <= len(record['text'])]
        record['extra'] = {**record['extra'], 'truncated': True}
        attributes['truncated'] = '1'
        body = encode_json_line(record)
    return PubsubMessage(body, attributes)


def dead_letter_to_message(letter) -> PubsubMessage:
    """A dead letter as a message; like its JSON (`DeadLetter.to_json_dict`), this cannot fail."""
    record = letter.to_json_dict()
    attributes = {'stage': record['stage'], 'reason': record['reason'],
                  'source_id': _attribute_text(record['source']['id'])}
    body = encode_json_line(record)
    if len(body) > MAX_BODY_BYTES:
        record = {**record, 'original': None, 'original_encoding': None}
        body = encode_json_line(record)
    return PubsubMessage(body, attributes)


def route_topic(output_topic: str, tag_id: str) -> str:
    """`<output-topic>-<tag id>`: the route topic `--route-topics` publishes records tagged tag_id to."""
    return f'{output_topic}-{tag_id}'


def is_routed(message: PubsubMessage, tag_id: str) -> bool:
    """Whether a record message goes to `tag_id`'s route topic: the record carries that tag."""
    return f'topic_{tag_id}' in (message.attributes or {})


def record_topics(message: PubsubMessage, output_topic: str,
                  routed_tag_ids: Iterable[str] = ()) -> list[str]:
    """Every topic a record message is published to: the output topic and its tags' routes."""
    return [output_topic] + [route_topic(output_topic, t) for t in routed_tag_ids
                             if is_routed(message, t)]


class PublishRecords(beam.PTransform):
    """Enriched records -> the output topic, and with `routed_tag_ids` also to each tag's route."""

    def __init__(self, output_topic: str, routed_tag_ids: Iterable[str] = ()):
        super().__init__()
        self._output_topic = output_topic
        self._routed_tag_ids = tuple(routed_tag_ids)

    def expand(self, records):
        messages = records | 'ToMessages' >> beam.Map(record_to_message)
        messages | 'Publish' >> WriteToPubSub(self._output_topic, with_attributes=True)
        for tag_id in self._routed_tag_ids:
            (messages
             | f'Tagged[{tag_id}]' >> beam.Filter(is_routed, tag_id)
             | f'Route[{tag_id}]' >> WriteToPubSub(route_topic(self._output_topic, tag_id),
                                                  with_attributes=True))
        return messages


class PublishDeadLetters(beam.PTransform):
    """Dead letters -> the dead-letter topic, with `stage`, `reason` and `source_id` attributes."""

    def __init__(self, topic: str):
        super().__init__()
        self._topic = topic

    def expand(self, letters):
        return (letters
                | 'ToMessages' >> beam.Map(dead_letter_to_message)
                | 'Publish' >> WriteToPubSub(self._topic, with_attributes=True))
