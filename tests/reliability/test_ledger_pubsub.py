"""The ledger for Pub/Sub in batch terms: messages in = enriched records + dead letters, every poison
message a dead letter with its stage, reason and original bytes (or their size) (issue 8, items 1, 2).

The messages go through `ReadPubSubDocuments`' own parse step (`ApplyStage(ParseMessageFn)`) and the
same `assembly.build` as every run; only the subscription read is replaced by `beam.Create`.
"""

import base64
import json

import apache_beam as beam
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.testing.util import assert_that, equal_to

from newswire.pipeline.job.assembly import build
from newswire.pipeline.job.settings import load_settings
from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.pubsub import STAGE, Delivery, ParseMessageFn
from newswire.transforms.write import Summarize
from tests.conftest import SEEDS, direct_pipeline


class MessagesSource(beam.PTransform):
    """PubsubMessages -> `StageOutputs(documents, dead letters)`, as `ReadPubSubDocuments` parses."""

    def __init__(self, messages, max_document_bytes):
        super().__init__()
        self._messages = messages
        self._max_document_bytes = max_document_bytes

    def expand(self, pbegin):
        return (pbegin
                | 'Messages' >> beam.Create([Delivery(m) for m in self._messages])
                | 'ParseMessages' >> ApplyStage(ParseMessageFn(self._max_document_bytes), STAGE))


def _good_messages():
    messages = []
    for index, path in enumerate(sorted(SEEDS.glob('*.txt'))):
        body = json.dumps({'id': f'seed-{index}', 'text': path.read_text(encoding='utf-8')})
        messages.append(PubsubMessage(body.encode(), {'outlet': 'Seeds'}, message_id=f'g{index}'))
    messages.append(PubsubMessage(b'<html><body><article>' + b''.join(
        b'<p>Officials in Baku confirmed on Tuesday that the talks would resume next week, '
        b'with both delegations expected to attend.</p>' for _ in range(5))
        + b'</article></body></html>', {'source_id': 'html-page'}, message_id='g-html'))
    return messages


POISON = {
    # message id: (data, attributes, expected reason)
    'p-json': (b'{"id": "a", "text": ', {}, 'malformed_json'),
    'p-empty': (b'', {'source_id': 'only-attributes', 'outlet': 'X'}, 'empty'),
    'p-utf8': (b'caf\xe9 au lait \xff\xfe', {}, 'undecodable'),
    'p-binary': (b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR' * 10, {}, 'binary'),
    'p-huge': (b'x' * 9_900_000, {}, 'too_large'),
    'p-attribute': (b'A body that would be fine.', {'note': 'y' * 1025}, 'oversize_attribute'),
    'p-javascript': (json.dumps({'url': 'javascript:alert(1)', 'text': 'Body.'}).encode(), {},
                     'bad_url'),
}


def _original(letter):
    if letter.original is None:
        return None
    if letter.original_encoding == 'base64':
        return base64.b64decode(letter.original)
    return letter.original.encode('utf-8')


@pytest.mark.slow  # a pipeline over every poison message
def test_every_message_is_enriched_or_a_dead_letter_with_its_bytes(tmp_path):
    settings = load_settings()
    good = _good_messages()
    poison = [PubsubMessage(data, attributes, message_id=mid)
              for mid, (data, attributes, _) in POISON.items()]
    with direct_pipeline() as p:
        outputs = build(p, MessagesSource(good + poison, settings.max_document_bytes), settings)
        enriched_ids = outputs.enriched | 'EnrichedIds' >> beam.Map(
            lambda doc: doc.extra['message_id'])
        assert_that(enriched_ids, equal_to([m.message_id for m in good]), label='all good enriched')

        def letter_facts(letter):
            message_id = letter.detail.rsplit('(message ', 1)[-1].rstrip(')')
            data = POISON[message_id][0]
            kept = _original(letter)
            return (message_id, letter.stage, letter.reason, letter.original_bytes == len(data),
                    kept is None if len(data) > 64 * 1024 else kept == data)

        assert_that(outputs.dead_letters | 'Facts' >> beam.Map(letter_facts),
                    equal_to([(mid, 'read', reason, True, True)
                              for mid, (_, _, reason) in POISON.items()]),
                    label='each poison a dead letter')
        (outputs.read, outputs.enriched, outputs.dead_letters) | Summarize(
            str(tmp_path / 'summary.json'))
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert (summary['documents_read'], summary['enriched'], summary['dead_letters']) == (
        len(good) + len(poison), len(good), len(poison))
    assert summary['accounting_ok'] is True
