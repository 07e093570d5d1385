import base64
import json
import threading

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.dead_letters import (DEAD_LETTER, ApplyStage, DeadLetter, dead_letter,
                                              writable)
from newswire.transforms.batches import BatchWithinBundle
from newswire.transforms.records import Document, SourceRef, encode_json_line
from tests.conftest import direct_pipeline

# Released once the pipeline is done, so the worker thread of a timed-out record ends too.
RELEASE = threading.Event()


def strict_loads(line):
    def refuse(constant):
        raise ValueError(f'non-standard JSON constant {constant}')
    return json.loads(line, parse_constant=refuse)


def test_a_dead_letter_with_lone_surrogates_everywhere_still_writes(dead_letter_validator):
    source = SourceRef('jsonl', 'id-\udc80', path='in/\ud800.jsonl', url='https://example.test/\udfff',
                       line=3, outlet='Wire \ud834')
    letter = dead_letter('clean', 'unexpected_error', "UnicodeEncodeError: '\ud800' in the text",
                         source, 'Talks resumed \ud800 in Geneva.')
    record = strict_loads(encode_json_line(letter.to_json_dict()))
    dead_letter_validator.validate(record)
    assert record['source']['id'] == 'id-\\udc80'
    assert record['source']['outlet'] == 'Wire \\ud834'
    assert record['detail'] == "UnicodeEncodeError: '\\ud800' in the text"
    # The original is not valid UTF-8 (it holds a surrogate): kept as base64 of its bytes.
    assert record['original_encoding'] == 'base64'
    assert base64.b64decode(record['original']) == 'Talks resumed \ud800 in Geneva.'.encode(
        'utf-8', 'surrogatepass')


def test_a_dead_letter_keeps_non_utf8_bytes_as_base64_and_utf8_as_text():
    source = SourceRef('text_file', 'a.txt')
    binary = dead_letter('read', 'undecodable', 'x', source, b'\xff\xfe caf\xe9')
    assert (binary.original_encoding, base64.b64decode(binary.original)) == (
        'base64', b'\xff\xfe caf\xe9')
    text = dead_letter('read', 'empty', 'x', source, 'Café opened.'.encode('utf-8'))
    assert (text.original_encoding, text.original) == ('utf-8', 'Café opened.')


def test_writable_leaves_a_normal_dead_letter_as_it_is():
    letter = dead_letter('topics', 'timeout', 'not done within 30.0 s',
                         SourceRef('jsonl', 'r7', path='day.jsonl', line=7), 'Rates rose.')
    raw = {'stage': 'topics', 'reason': 'timeout', 'detail': 'not done within 30.0 s',
           'source': letter.source.to_json_dict(), 'original': 'Rates rose.',
           'original_encoding': 'utf-8', 'original_bytes': 11}
    assert letter.to_json_dict() == raw


def test_writable_turns_what_json_cannot_hold_into_text():
    assert writable({'n': 10 ** 30, 'f': float('nan'), 'ok': 12, 7: {1, 2}}) == {
        'n': ascii(10 ** 30), 'f': 'nan', 'ok': 12, '7': '{1, 2}'}
    assert writable({'huge': 10 ** 5000}) == {'huge': '<unprintable int>'}
    letter = DeadLetter('read', 'odd', 'x', SourceRef('jsonl', 'y', line=10 ** 40))
    assert strict_loads(encode_json_line(letter.to_json_dict()))['source']['line'] == ascii(10 ** 40)


class _FailingFn(beam.DoFn):
    """'boom' raises, 'bad' is an expected failure, 'slow' runs Python past the time limit,
    'stuck' waits in one call that releases the GIL."""

    def process(self, doc):
        if doc.text == 'boom':
            raise KeyError('no such rule')
        if doc.text == 'bad':
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter('test', 'bad', 'said so',
                                                                    doc.source))
            return
        if doc.text == 'slow':
            while not RELEASE.wait(0.01):
                pass
        if doc.text == 'stuck':
            RELEASE.wait(60)
        yield doc.id


def _doc(text):
    return Document(id=f'id-{text}', source=SourceRef('jsonl', f'src-{text}'), text=text)


@pytest.mark.parametrize('blocking, overrun', [
    (False, 'slow'), pytest.param(True, 'stuck', marks=pytest.mark.slow)],
    ids=['watchdog', 'beam-thread'])
def test_apply_stage_turns_raised_errors_and_overruns_into_dead_letters(blocking, overrun):
    docs = [_doc(t) for t in ('fine', 'boom', 'bad', overrun, 'also fine')]
    RELEASE.clear()
    try:
        with direct_pipeline() as p:
            outputs = (p | beam.Create(docs)
                       | ApplyStage(_FailingFn(), 'test', timeout_seconds=1.0, blocking=blocking))
            assert_that(outputs.good, equal_to(['id-fine', 'id-also fine']), label='Good')
            assert_that(
                outputs.dead_letters | beam.Map(lambda d: (d.source.id, d.stage, d.reason,
                                                           d.detail.split(':')[0])),
                equal_to([('src-boom', 'test', 'unexpected_error', 'KeyError'),
                          ('src-bad', 'test', 'bad', 'said so'),
                          (f'src-{overrun}', 'test', 'timeout', 'not done within 1.0 s')]),
                label='Dead')
    finally:
        RELEASE.set()


class _BatchFailingFn(beam.DoFn):
    def process(self, docs):
        if any(doc.text == 'boom' for doc in docs):
            raise KeyError('boom')
        yield from (doc.id for doc in docs)


def test_a_failed_batch_is_a_dead_letter_per_document():
    """A batching stage's element is a list of documents: when it fails as a whole, each of its
    documents is a dead letter of its own, and none is lost."""
    docs = [_doc(t) for t in ('a', 'boom', 'b')] + [_doc('c')]
    with direct_pipeline() as p:
        batches = p | beam.Create([docs[:3], docs[3:]])
        outputs = batches | ApplyStage(_BatchFailingFn(), 'test', timeout_seconds=5.0)
        assert_that(outputs.good, equal_to(['id-c']), label='Good')
        assert_that(outputs.dead_letters | beam.Map(lambda d: (d.source.id, d.reason, d.original)),
                    equal_to([(f'src-{t}', 'unexpected_error', t) for t in ('a', 'boom', 'b')]),
                    label='Dead')


class _StampedBatchFailingFn(beam.DoFn):
    """Fails on every batch, however the runner bundles the documents."""

    def process(self, batch):
        raise KeyError(len(batch))


def test_a_failed_batch_of_stamped_documents_is_a_dead_letter_per_document():
    """The language stage's batches (`BatchWithinBundle`): a batch that fails as a whole, for an
    error or its time limit, is one dead letter per document."""
    docs = [_doc(t) for t in ('a', 'boom', 'b', 'c', 'd')]
    with direct_pipeline() as p:
        batches = p | beam.Create(docs) | beam.ParDo(BatchWithinBundle(3))
        outputs = batches | ApplyStage(_StampedBatchFailingFn(), 'test', timeout_seconds=5.0)
        assert_that(outputs.good, equal_to([]), label='Good')
        assert_that(outputs.dead_letters | beam.Map(lambda d: (d.source.id, d.reason)),
                    equal_to([(f'src-{t}', 'unexpected_error') for t in ('a', 'boom', 'b', 'c', 'd')]),
                    label='Dead')
