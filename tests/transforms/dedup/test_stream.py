"""Streaming semantics of the duplicate tiers, driven by TestStream (event time is the test's)."""

import dataclasses
import datetime
from typing import Any, Tuple

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window
from apache_beam.transforms.window import TimestampedValue

from newswire.transforms.dedup import DedupConfig, FlagDuplicatesInStream, Signer
from newswire.transforms.dedup.stream import _IndexBucketFn
from newswire.transforms.records import Document, Language, SourceRef
from tests.transforms.dedup.documents import ARTICLE, near_copy_of

CONFIG = DedupConfig(settle_seconds=10, horizon_seconds=600)
OTHER = ('The central bank raised interest rates by half a point on Thursday, citing inflation in '
         'food and energy prices across the region, and signalled more increases next year.')


def _doc(doc_id, text, published=None):
    return Document(id=doc_id, source=SourceRef('pubsub', doc_id), text=text,
                    published_at=published, language=Language('en', 1.0))


def _flags(doc):
    d = doc.dedup
    return doc.id, d.tier, d.duplicate_of, d.near_duplicate_of, d.story_id


def _settled(stream):
    """End the stream: a finite watermark step first lets the decisions' timers fire and their
    output reach the assertion before the watermark jumps to the end of time."""
    return stream.advance_watermark_to(100_000).advance_watermark_to_infinity()


def _run(stream, expected, config=CONFIG):
    options = PipelineOptions(runner='DirectRunner')
    options.view_as(StandardOptions).streaming = True
    pipeline = BeamTestPipeline(options=options)
    flagged, dead = pipeline | _settled(stream) | FlagDuplicatesInStream(config)
    assert_that(flagged | 'Flags' >> beam.Map(_flags), equal_to(expected), label='flags')
    assert_that(dead, equal_to([]), label='no dead letters')
    pipeline.run().wait_until_finish()


def test_copy_arriving_after_its_original_points_to_it():
    stream = (EventStream()
              .advance_watermark_to(0)
              .add_elements([TimestampedValue(_doc('a', ARTICLE), 100)])
              .add_elements([TimestampedValue(_doc('b', near_copy_of(ARTICLE)), 103),
                             TimestampedValue(_doc('c', OTHER), 104)])
              )
    _run(stream, [('a', None, None, None, 'a'), ('b', 'near_copy', None, 'a', 'a'),
                  ('c', None, None, None, 'c')])


def test_out_of_order_arrival_within_settle_time_is_decided_in_publication_order():
    # b was published first but arrives 3 s after a: a waits for b and points to it.
    stream = (EventStream()
              .advance_watermark_to(0)
              .add_elements([TimestampedValue(_doc('a', near_copy_of(ARTICLE),
                                                   '2023-11-14T10:05:00+00:00'), 100)])
              .add_elements([TimestampedValue(_doc('b', ARTICLE, '2023-11-14T10:00:00+00:00'),
                                              103)])
              )
    _run(stream, [('b', None, None, None, 'b'), ('a', 'near_copy', None, 'b', 'b')])


@pytest.mark.slow  # a streaming pipeline; the fast subset keeps three
def test_data_later_than_settle_time_is_not_applied_to_a_decided_record():
    # a is emitted (canonical) before b, published earlier, arrives: a is never changed, and b, the
    # earlier report, has no earlier match. (Runners that report metrics count dedup_late_links.)
    stream = (EventStream()
              .advance_watermark_to(0)
              .add_elements([TimestampedValue(_doc('a', near_copy_of(ARTICLE),
                                                   '2023-11-14T10:05:00+00:00'), 100)])
              .advance_watermark_to(200)  # a is decided: canonical
              .add_elements([TimestampedValue(_doc('b', ARTICLE, '2023-11-14T10:00:00+00:00'),
                                              205)])
              )
    _run(stream, [('a', None, None, None, 'a'), ('b', None, None, None, 'b')])


def test_redelivered_and_republished_messages_are_flagged_duplicates_of_the_first():
    first = _doc('a', ARTICLE)
    republished = dataclasses.replace(_doc('a2', ARTICLE), source=SourceRef('pubsub', 'a2'))
    stream = (EventStream()
              .advance_watermark_to(0)
              .add_elements([TimestampedValue(first, 100)])
              .advance_watermark_to(150)
              .add_elements([TimestampedValue(first, 160),          # the same message again
                             TimestampedValue(republished, 170)])   # same text, new message id
              )
    from newswire.transforms.dedup.stream import _redelivered_id
    _run(stream, [('a', None, None, None, 'a'),
                  (_redelivered_id('a', 2), 'exact', 'a', None, 'a'),
                  ('a2', 'exact', 'a', None, 'a')])


@pytest.mark.slow  # a streaming pipeline; the fast subset keeps three
def test_same_story_across_minutes_and_nothing_past_the_horizon():
    config = dataclasses.replace(CONFIG, horizon_seconds=300)
    stream = (EventStream()
              .advance_watermark_to(0)
              .add_elements([TimestampedValue(_doc('a', ARTICLE), 100)])
              .advance_watermark_to(250)
              .add_elements([TimestampedValue(_doc('b', near_copy_of(ARTICLE)), 280)])  # 3 min on
              .advance_watermark_to(2000)
              .add_elements([TimestampedValue(_doc('c', ARTICLE), 1500)])  # past the horizon
              )
    _run(stream, [('a', None, None, None, 'a'), ('b', 'near_copy', None, 'a', 'a'),
                  ('c', None, None, None, 'c')], config)


class _Bag:
    def __init__(self):
        self.items = []

    def read(self):
        return list(self.items)

    def add(self, item):
        self.items.append(item)

    def clear(self):
        self.items = []


class _Value:
    def __init__(self):
        self.value = None

    def read(self):
        return self.value

    def write(self, value):
        self.value = value

    def clear(self):
        self.value = None


class _Timer:
    def __init__(self):
        self.at = None

    def set(self, at):
        self.at = at


def test_bucket_state_is_bounded_and_expires_after_the_horizon():
    from apache_beam.utils.timestamp import Timestamp
    config = dataclasses.replace(CONFIG, max_bucket_comparisons=3, horizon_seconds=100)
    fn, bag, load, timer = _IndexBucketFn(config), _Bag(), _Value(), _Timer()
    exact_bag, exact_load = _Bag(), _Value()
    signer = Signer(config)
    for i in range(5):
        signature = signer.sign(_doc(f'd{i}', ARTICLE), 10.0 * i)
        list(fn.process(('t:k', signature), Timestamp(10 * i), bag, load, timer))
        list(fn.process(('x:k', signature), Timestamp(10 * i), exact_bag, exact_load, _Timer()))
    assert [s.id for s, _ in bag.items] == ['d2', 'd3', 'd4']  # capped at 3
    assert [s.id for s, _ in exact_bag.items] == ['d0', 'd3', 'd4']  # ... keeping the earliest
    assert timer.at == Timestamp(140)
    fn.expire(Timestamp(125), bag, load, timer)  # d2 (t=20) is now older than the horizon
    assert [s.id for s, _ in bag.items] == ['d3', 'd4']
    fn.expire(Timestamp(1000), bag, load, timer)
    assert bag.items == [] and load.value is None


def test_bucket_sends_the_decider_only_the_best_match_per_later_report_and_tier():
    from apache_beam.utils.timestamp import Timestamp
    fn, bag, load, timer = _IndexBucketFn(CONFIG), _Bag(), _Value(), _Timer()
    signer = Signer(CONFIG)

    def arrive(doc_id, seconds):
        signature = signer.sign(_doc(doc_id, ARTICLE), seconds)
        return [payload for _, (_, payload) in fn.process(('x:k', signature), Timestamp(seconds),
                                                          bag, load, timer)]

    assert arrive('d1', 10.0) == []
    assert [(m.later, m.earlier) for m in arrive('d2', 20.0)] == [('d2', 'd1')]
    # Three earlier copies: one match, to the earliest, as the decider would pick among three.
    assert [(m.later, m.earlier) for m in arrive('d3', 30.0)] == [('d3', 'd1')]
    # Arriving out of order (published before the others): the earlier side of each pair, so each
    # later report gets its own best match.
    early = arrive('d0', 5.0)
    assert sorted((m.later, m.earlier) for m in early) == [('d1', 'd0'), ('d2', 'd0'), ('d3', 'd0')]


def test_a_crowded_key_is_dropped_keeps_no_signatures_and_returns_after_a_quiet_horizon(caplog):
    from apache_beam.utils.timestamp import Timestamp
    config = dataclasses.replace(CONFIG, max_documents_per_key=2, horizon_seconds=600)
    fn, bag, load, timer = _IndexBucketFn(config), _Bag(), _Value(), _Timer()
    signer = Signer(config)

    def arrive(key, doc_id, seconds, state=(bag, load, timer)):
        signature = signer.sign(_doc(doc_id, ARTICLE), seconds)
        return [payload for _, (_, payload) in fn.process((key, signature), Timestamp(seconds),
                                                          *state)]

    with caplog.at_level('WARNING', logger='newswire.transforms.dedup'):
        assert arrive('t:ferry', 'd0', 0) == []
        assert [(m.later, m.earlier) for m in arrive('t:ferry', 'd1', 10)] == [('d1', 'd0')]
        assert arrive('t:ferry', 'd2', 20) == []  # the third within 600 s: dropped
        assert bag.items == [] and load.value.micros == [] and timer.at == Timestamp(620)
        assert arrive('t:ferry', 'd3', 300) == [] and bag.items == []  # still used: still dropped
        assert timer.at == Timestamp(900)
        # Another crowded term key: counted, but the kind is logged only once.
        other = (_Bag(), _Value(), _Timer())
        for i, seconds in enumerate((0, 1, 2)):
            arrive('t:harbour', f'h{i}', seconds, other)
        assert other[0].items == [] and other[1].value.dropped_until is not None
    assert len([r for r in caplog.records if 'story_term keys' in r.getMessage()]) == 1
    fn.expire(Timestamp(620), bag, load, timer)
    assert load.value.dropped_until == Timestamp(900).micros and timer.at == Timestamp(900)
    fn.expire(Timestamp(900), bag, load, timer)  # a whole horizon without it
    assert load.value is None
    assert arrive('t:ferry', 'd4', 1000) == [] and [s.id for s, _ in bag.items] == ['d4']
    # An exact key is never dropped, however crowded.
    exact = (_Bag(), _Value(), _Timer())
    for i in range(5):
        matches = arrive('x:same', f'e{i}', 10 * i, exact)
        assert [(m.later, m.earlier) for m in matches] == ([(f'e{i}', 'e0')] if i else [])


@pytest.mark.slow  # a streaming pipeline; the fast subset keeps three
def test_copies_past_the_key_cap_are_all_exact_duplicates_of_the_first():
    config = dataclasses.replace(CONFIG, max_documents_per_key=2)
    stream = (EventStream()
              .advance_watermark_to(0)
              .add_elements([TimestampedValue(_doc(f'c{i}', ARTICLE), 100 + i) for i in range(5)]))
    _run(stream, [('c0', None, None, None, 'c0')]
         + [(f'c{i}', 'exact', 'c0', None, 'c0') for i in range(1, 5)], config)


STORY_REWRITE = (
    'Families of the 3,890 people missing since the Karabakh war may get answers soon: the ICRC '
    'and Azerbaijan agreed in Baku to form a joint group that will exhume remains near Aghdam, '
    'with forensic teams and demining crews at work before the monthly meetings begin.')
RATES_REWRITE = ('Citing food and energy inflation across the region, the central bank lifted its '
                 'interest rates by half a point on Thursday, its third rise this year.')


class _DecideWithDocumentsOnOneKey(beam.PTransform):
    """The arrangement before documents waited by delivery: each document and its whole signature
    ride the decider's one key, and the decider's output is applied to them in place. The same
    steps otherwise, so a difference in output is the keyed wait's."""

    def __init__(self, config):
        super().__init__()
        self._config = config

    def expand(self, docs):
        from newswire.transforms.dedup.signature import SignDocumentsFn
        from newswire.transforms.dedup.stream import (_DECIDER_KEY, _decided, _DecideFn,
                                                      _encoded_candidate_keys)
        signed = (docs
                  | beam.Map(lambda doc, at=beam.DoFn.TimestampParam: (doc, at.micros / 1e6))
                  | beam.ParDo(SignDocumentsFn(self._config)))
        matches = (signed
                   | beam.MapTuple(lambda doc, signature: signature)
                   | beam.FlatMap(_encoded_candidate_keys, self._config)
                   | beam.ParDo(_IndexBucketFn(self._config)).with_input_types(Tuple[str, Any]))
        return ((signed | beam.Map(lambda pair: (_DECIDER_KEY, ('doc', pair))), matches)
                | beam.Flatten()
                | beam.ParDo(_DecideFn(self._config)).with_input_types(Tuple[str, Any])
                | beam.MapTuple(lambda pair, decision: _decided(pair, decision)))


def _published(minutes: float) -> str:
    return (datetime.datetime(2023, 11, 14, 10, tzinfo=datetime.timezone.utc)
            + datetime.timedelta(minutes=minutes)).isoformat()


@pytest.mark.slow
def test_documents_waiting_by_delivery_get_the_decisions_of_the_one_key_arrangement():
    from newswire.transforms.dedup.stream import _redelivered_id
    first = _doc('a1', ARTICLE, _published(0))
    stream = (EventStream()
              .advance_watermark_to(0)
              .add_elements([TimestampedValue(first, 100),
                             TimestampedValue(_doc('b1', OTHER, _published(0.5)), 103),
                             TimestampedValue(_doc('a2', near_copy_of(ARTICLE), _published(1)), 104),
                             TimestampedValue(_doc('a3', STORY_REWRITE, _published(1.5)), 106)])
              # Published before a1, arriving after it within the settle time: a1 waits for it.
              .add_elements([TimestampedValue(_doc('p', near_copy_of(ARTICLE), _published(-1)),
                                              108)])
              .add_elements([TimestampedValue(_doc('b2', RATES_REWRITE, _published(2)), 112)])
              .advance_watermark_to(125)
              .add_elements([TimestampedValue(_doc('c', near_copy_of(STORY_REWRITE),
                                                   _published(3)), 130)])
              .advance_watermark_to(180)
              .add_elements([TimestampedValue(first, 200),  # the same message again
                             TimestampedValue(_doc('a1-again', ARTICLE, _published(4)), 210)])
              .advance_watermark_to(260)
              # Later than the settle time: its links to decided records are not applied.
              .add_elements([TimestampedValue(_doc('late', ARTICLE, _published(-2)), 300)]))
    options = PipelineOptions(runner='DirectRunner')
    options.view_as(StandardOptions).streaming = True
    pipeline = BeamTestPipeline(options=options)
    docs = pipeline | _settled(stream)

    def decided(doc, at=beam.DoFn.TimestampParam):
        return doc.id, (doc.dedup, at.micros)

    # One window over the whole stream: grouping needs one in a stream, and this one closes when
    # the stream ends.
    whole_stream = window.FixedWindows(10 ** 7)
    spread, _ = docs | 'ByDelivery' >> FlagDuplicatesInStream(CONFIG)
    one_key = docs | 'OneKey' >> _DecideWithDocumentsOnOneKey(CONFIG)
    compared = (
        {'spread': spread | 'SpreadDecisions' >> beam.Map(decided)
         | 'WindowSpread' >> beam.WindowInto(whole_stream),
         'one_key': one_key | 'OneKeyDecisions' >> beam.Map(decided)
         | 'WindowOneKey' >> beam.WindowInto(whole_stream)}
        | beam.CoGroupByKey()
        | beam.MapTuple(lambda doc_id, routes: (doc_id, list(routes['spread']),
                                                list(routes['one_key']) == list(routes['spread']))))
    ids = ['a1', 'b1', 'a2', 'a3', 'p', 'b2', 'c', _redelivered_id('a1', 2), 'a1-again', 'late']
    assert_that(compared | beam.MapTuple(lambda doc_id, spread, same: (doc_id, len(spread), same)),
                equal_to([(doc_id, 1, True) for doc_id in ids]), label='same decisions')
    # The stream has every tier and a story parent that waited: the comparison covers them.
    assert_that(spread | 'Tiers' >> beam.Map(lambda doc: doc.dedup.tier)
                | 'WindowTiers' >> beam.WindowInto(whole_stream) | beam.Distinct(),
                equal_to([None, 'exact', 'near_copy', 'same_story']), label='tiers')
    assert_that(spread | 'Parents' >> beam.Filter(lambda doc: doc.id == 'a1')
                | beam.Map(lambda doc: doc.dedup.near_duplicate_of), equal_to(['p']),
                label='a1 waited for p')
    pipeline.run().wait_until_finish()


def test_a_document_and_its_decision_meet_in_either_order_at_the_decision_time():
    from apache_beam.utils.timestamp import Timestamp

    from newswire.transforms.dedup.stream import _ApplyDecisionFn, _Decision, _delivery_key
    from newswire.transforms.records import DedupInfo
    doc = _doc('a', ARTICLE)
    key = _delivery_key('a', Timestamp(100))
    assert key != _delivery_key('a', Timestamp(101)) and key != _delivery_key('b', Timestamp(100))
    info = DedupInfo(content_hash='h', story_id='a')
    decision, again = _Decision(info), _Decision(info, new_id='a#2')
    fn = _ApplyDecisionFn()

    # The document first: it waits; the decision takes it, at the decision's own timestamp.
    documents, decisions = _Bag(), _Bag()
    assert list(fn.process((key, ('doc', doc)), Timestamp(100), documents, decisions)) == []
    out = list(fn.process((key, ('decision', decision)), Timestamp(110), documents, decisions))
    assert out == [dataclasses.replace(doc, dedup=info)] and documents.items == []

    # The decision first: it waits with its timestamp, which the document's output then carries.
    assert list(fn.process((key, ('decision', again)), Timestamp(110), documents, decisions)) == []
    out = list(fn.process((key, ('doc', doc)), Timestamp(100), documents, decisions))
    assert [(o.value, o.timestamp) for o in out] == [
        (dataclasses.replace(doc, id='a#2', dedup=info), Timestamp(110))]
    assert decisions.items == []
