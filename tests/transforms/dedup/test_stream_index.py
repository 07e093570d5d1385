"""The streaming one-key index (`dedup.stream_index: memory`): the keyed strategy's decisions, and a
memory that is only ever a cache of the journal in Beam's state."""

import copy
import pickle
import dataclasses

import apache_beam as beam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners import create_runner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window
from apache_beam.transforms.window import GlobalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from newswire.transforms.dedup import DedupConfig, FlagDuplicatesInStream, Signer
from newswire.transforms.dedup import stream_index
from newswire.transforms.dedup.config import KEYED, MEMORY
from newswire.transforms.dedup.index import stream_index_strategy
from newswire.transforms.dedup.keys import CandidateKey, KeyKind
from newswire.transforms.dedup.stream import _redelivered_id
from newswire.transforms.dedup.stream_index import IndexAndDecideFn
from newswire.transforms.records import Document, Language, SourceRef
from tests.transforms.dedup.documents import ARTICLE, near_copy_of

CONFIG = DedupConfig(settle_seconds=10, horizon_seconds=600)
# Small caps, so that the stream below crowds keys and fills buckets past their comparisons.
CROWDED = dataclasses.replace(CONFIG, max_documents_per_key=3, max_bucket_comparisons=2)

STORY = ('Families of the 3,890 people missing since the Karabakh war may get answers soon: the ICRC '
         'and Azerbaijan agreed in Baku to form a joint group that will exhume remains near Aghdam, '
         'with forensic teams and demining crews at work before the monthly meetings begin.')
RATES = ('The central bank raised interest rates by half a point on Thursday, citing inflation in '
         'food and energy prices across the region, and signalled more increases next year.')
RATES_AGAIN = ('Citing food and energy inflation across the region, the central bank lifted its '
               'interest rates by half a point on Thursday, its third rise this year.')
TREATY = ('Armenia and Azerbaijan initialled the text of a peace agreement in Washington, and both '
          'foreign ministers said the border commissions would resume work on the delimitation.')


def _doc(doc_id, text, minutes=None):
    published = None if minutes is None else f'2023-11-14T10:{minutes:02d}:00+00:00'
    return Document(id=doc_id, source=SourceRef('pubsub', doc_id), text=text,
                    published_at=published, language=Language('en', 1.0))


def _stream():
    """Every tier, a parent arriving after its copy within the settle time, a redelivery, data
    later than the settle time, crowded keys, and a horizon passing (600 s)."""
    first = _doc('a1', ARTICLE, 5)
    return (EventStream()
            .advance_watermark_to(0)
            .add_elements([TimestampedValue(first, 100),
                           TimestampedValue(_doc('r1', RATES, 6), 101),
                           TimestampedValue(_doc('a2', near_copy_of(ARTICLE), 7), 103),
                           TimestampedValue(_doc('s1', STORY, 8), 104),
                           TimestampedValue(_doc('p', near_copy_of(ARTICLE), 4), 106)])
            .add_elements([TimestampedValue(_doc(f'c{i}', ARTICLE, 9), 107 + i)
                           for i in range(4)])
            .add_elements([TimestampedValue(_doc('r2', RATES_AGAIN, 10), 112),
                           TimestampedValue(_doc('t1', TREATY, 11), 113)])
            .advance_watermark_to(140)
            .add_elements([TimestampedValue(first, 150),  # the same message again
                           TimestampedValue(_doc('s2', near_copy_of(STORY), 12), 155)])
            .advance_watermark_to(200)
            .add_elements([TimestampedValue(_doc('late', ARTICLE, 1), 210)])
            .advance_watermark_to(2000)  # past the horizon: the buckets expire
            .add_elements([TimestampedValue(_doc('a9', ARTICLE), 2100),
                           TimestampedValue(_doc('t2', TREATY), 2101)])
            .advance_watermark_to(100_000)
            .advance_watermark_to_infinity())


@pytest.mark.slow  # two streaming pipelines
@pytest.mark.parametrize('config', [CONFIG, CROWDED], ids=['defaults', 'crowded'])
def test_the_one_key_index_decides_as_the_keyed_strategy(config):
    options = PipelineOptions(runner='DirectRunner')
    options.view_as(StandardOptions).streaming = True
    pipeline = BeamTestPipeline(options=options)
    docs = pipeline | _stream()

    def decided(doc, at=beam.DoFn.TimestampParam):
        return doc.id, (doc.dedup, at.micros)

    whole_stream = window.FixedWindows(10 ** 7)  # CoGroupByKey needs a window that closes
    routes = {}
    for strategy in (KEYED, MEMORY):
        flagged, _ = docs | f'Flag{strategy}' >> FlagDuplicatesInStream(config,
                                                                        stream_index=strategy)
        routes[strategy] = (flagged | f'Decided{strategy}' >> beam.Map(decided)
                            | f'Window{strategy}' >> beam.WindowInto(whole_stream))
    compared = (routes | beam.CoGroupByKey()
                | beam.MapTuple(lambda doc_id, got: (doc_id, len(got[KEYED]),
                                                     sorted(got[KEYED]) == sorted(got[MEMORY]))))
    ids = ['a1', 'r1', 'a2', 's1', 'p', 'c0', 'c1', 'c2', 'c3', 'r2', 't1',
           _redelivered_id('a1', 2), 's2', 'late', 'a9', 't2']
    assert_that(compared, equal_to([(doc_id, 1, True) for doc_id in ids]))
    tiers = (routes[MEMORY] | beam.MapTuple(lambda doc_id, decision: decision[0].tier)
             | beam.Distinct())
    assert_that(tiers, equal_to([None, 'exact', 'near_copy', 'same_story']), label='tiers')
    pipeline.run().wait_until_finish()


def test_auto_is_the_one_key_index_on_local_runners_and_keyed_state_on_distributed_ones():
    def strategy(runner, *flags, setting='auto'):
        return stream_index_strategy(setting, create_runner(runner), PipelineOptions(list(flags)))

    assert strategy('DirectRunner') == MEMORY
    assert strategy('PrismRunner') == MEMORY
    assert strategy('FlinkRunner', '--flink_master=[local]') == MEMORY
    assert strategy('FlinkRunner', '--flink_master=flink-jobmanager:8081') == KEYED
    assert strategy('DataflowRunner') == KEYED
    assert strategy('DataflowRunner', setting='memory') == MEMORY
    assert strategy('DirectRunner', setting='keyed') == KEYED
    with pytest.raises(ValueError, match="one of auto, memory, keyed, got 'shuffle'"):
        strategy('DirectRunner', setting='shuffle')


# --- the memory and the journal, driven by hand ---------------------------------------------------

class _State:
    """A key's Beam state as a runner keeps it: what was committed, and the bundle's own writes
    until `commit` (a bundle that fails never commits)."""

    def __init__(self):
        self.committed = {'token': None, 'journal': [], 'documents': []}
        self.begin()

    def begin(self):
        self.pending = copy.deepcopy(self.committed)

    def commit(self):
        self.committed = self.pending


class _Token:
    def __init__(self, state):
        self._state = state

    def read(self):
        return self._state.pending['token']

    def write(self, value):
        self._state.pending['token'] = value


class _Bag:
    def __init__(self, state, name):
        self._state, self._name = state, name

    def read(self):
        return list(self._state.pending[self._name])

    def add(self, item):
        self._state.pending[self._name].append(copy.deepcopy(item))

    def clear(self):
        self._state.pending[self._name] = []


class _Timer:
    def __init__(self):
        self.at = None

    def set(self, at):
        self.at = at


class _Worker:
    """One `IndexAndDecideFn` (a worker) on a shared `_State`; a bundle is one call."""

    def __init__(self, config, fn=None):
        self.fn = fn or IndexAndDecideFn(config)
        self.fn.setup()
        self.settle, self.expiry = _Timer(), _Timer()

    def bundle(self, state, step, commit=True):
        state.begin()
        self.fn.start_bundle()
        params = dict(token=_Token(state), journal=_Bag(state, 'journal'),
                      documents=_Bag(state, 'documents'), settle=self.settle,
                      expiry=self.expiry)
        kind, at, *rest = step
        if kind == 'doc':
            out = list(self.fn.process(('all', tuple(rest)), Timestamp(at), GlobalWindow(),
                                       **params))
        else:
            handler = self.fn.decide if kind == 'settle' else self.fn.expire
            out = list(handler(Timestamp(at), 'all', GlobalWindow(), **params))
        if commit:
            state.commit()
        return [(doc.id, doc.dedup) for doc in out]


def _steps(config):
    signer = Signer(config)
    texts = [ARTICLE, near_copy_of(ARTICLE), STORY, RATES, ARTICLE, RATES_AGAIN, TREATY,
             near_copy_of(STORY)]
    steps = []
    for i, text in enumerate(texts * 3):
        doc = _doc(f'd{i}', text)
        at = 100 + 5 * i
        steps.append(('doc', at, doc, signer.sign(doc, float(at))))
        if i % 3 == 2:
            steps.append(('settle', at + 1))
    steps += [('settle', 1000), ('expire', 100 + 600 + 50), ('expire', 5000)]
    return steps


def _uninterrupted(config, steps):
    state, worker = _State(), _Worker(config)
    return [worker.bundle(state, step) for step in steps], state


def _memory_of(state):
    """The index in memory that holds what `state` last committed."""
    (memory,) = [s for s in stream_index._INDEXES.values() if s.token == state.committed['token']]
    return memory


@pytest.fixture
def small_journal(monkeypatch):
    """Snapshots every few ops, so that rebuilding starts from one."""
    monkeypatch.setattr(stream_index, '_JOURNAL_SLACK', 3)


def test_a_new_worker_rebuilds_the_index_from_the_journal_and_decides_alike(small_journal):
    steps = _steps(CONFIG)
    expected, _ = _uninterrupted(CONFIG, steps)
    assert any(out for out in expected)
    fn = IndexAndDecideFn(CONFIG)
    state = _State()
    got = []
    for index, step in enumerate(steps):
        if index % 5 == 4:
            stream_index._INDEXES.clear()  # another process: nothing in memory
        got.append(_Worker(CONFIG, fn).bundle(state, step))
    assert got == expected


def test_a_bundle_that_did_not_commit_is_not_kept_in_memory(small_journal):
    steps = _steps(CONFIG)
    expected, _ = _uninterrupted(CONFIG, steps)
    worker, state, got = _Worker(CONFIG), _State(), []
    for index, step in enumerate(steps):
        if index % 4 == 1:
            # The bundle fails after its work (its state writes are dropped); the runner retries it.
            worker.bundle(state, step, commit=False)
        got.append(worker.bundle(state, step))
    assert got == expected


def test_the_journal_is_replaced_by_a_snapshot_and_the_horizon_empties_the_index(small_journal):
    steps = _steps(CONFIG)
    _, state = _uninterrupted(CONFIG, steps)
    memory = _memory_of(state)
    journal = state.committed['journal']
    # What the key holds bounds the journal: the ops since a snapshot of it.
    assert journal[0][0] == 'snapshot' and len(journal) < len(steps)
    assert len(journal) <= 1 + stream_index._JOURNAL_SLACK + len(memory.pending) + len(memory.decided)
    # Past the horizon nothing is left in the buckets; every document was decided.
    assert memory.buckets == {} and memory.expiries == []
    assert memory.singles == {} and memory.single_expiries == []
    assert memory.pending == {} and memory.waiting == {} and len(memory.decided) == 24


def test_documents_wait_in_a_bag_of_their_own_and_the_journal_holds_signatures(small_journal):
    steps = _steps(CONFIG)
    worker, state = _Worker(CONFIG), _State()
    most = 0
    for step in steps:
        worker.bundle(state, step)
        memory = _memory_of(state)
        documents = state.committed['documents']
        assert all(entry[3] is None for entry in state.committed['journal'] if entry[0] == 'doc')
        if step[0] == 'doc':
            # The bag holds the waiting documents, and at most the journal's slack more.
            assert {doc_id for doc_id, _ in documents} >= set(memory.waiting)
            assert len(documents) <= stream_index._JOURNAL_SLACK + len(memory.waiting)
        most = max(most, len(documents))
    assert most < len([step for step in steps if step[0] == 'doc'])  # it was rewritten


def test_a_journal_that_carries_its_documents_is_rebuilt_alike(small_journal):
    """A job updated in place keeps its state: a journal from before the documents bag, its
    documents in its ops, goes on to the same decisions."""
    steps = _steps(CONFIG)
    expected, _ = _uninterrupted(CONFIG, steps)
    fn, state = IndexAndDecideFn(CONFIG), _State()
    got = [_Worker(CONFIG, fn).bundle(state, step) for step in steps[:10]]
    documents = {step[2].id: step[2] for step in steps if step[0] == 'doc'}
    state.committed['journal'] = [
        entry[:3] + (documents[entry[4].id],) + entry[4:] if entry[0] == 'doc' else entry
        for entry in state.committed['journal']]
    assert any(entry[0] == 'doc' for entry in state.committed['journal'])
    state.committed['documents'] = []
    stream_index._INDEXES.clear()
    got += [_Worker(CONFIG, fn).bundle(state, step) for step in steps[10:]]
    assert got == expected


def _buckets_of(state, config):
    """The index's buckets as (ids and times filed, load, expiry) by key, a single key as the bucket
    its one filing made."""
    horizon = int(config.horizon_seconds * 1e6)
    buckets = {encoded: ([(sig.id, micros) for sig, micros in bucket.stored],
                         copy.deepcopy(bucket.key_load), bucket.expiry)
               for encoded, bucket in state.buckets.items() if not bucket.empty()}
    for encoded, (sig, micros) in state.singles.items():
        assert encoded not in buckets
        buckets[encoded] = ([(sig.id, micros)], None, micros + horizon)
    return buckets


def _run_index(config, steps, restore_at=()):
    """Each op's decisions, the next expiry after it and the buckets, op by op; at the ops in
    `restore_at` the state is first snapshotted and restored."""
    index, state, seen = stream_index._OneKeyIndex(config), stream_index._IndexState(), []
    for number, (kind, at, *rest) in enumerate(steps):
        if number in restore_at:
            state = stream_index._restore(stream_index._snapshot(state))
        decisions = index.apply(state, (kind, Timestamp(at).micros, *rest), counted=False)
        buckets = _buckets_of(state, config)
        # The expiry heaps keep the earliest expiry of all, whatever entries they hold.
        assert state.next_expiry() == min(
            (expiry for _, _, expiry in buckets.values() if expiry is not None), default=None)
        seen.append(([(doc.id, decision) for doc, decision in decisions], state.next_expiry(),
                     buckets))
    return seen


@pytest.mark.parametrize('config', [CONFIG, CROWDED], ids=['defaults', 'crowded'])
def test_keys_filed_under_once_are_held_compactly_to_the_same_decisions_and_expiries(
        config, monkeypatch):
    steps = _steps(config)
    # A message delivered twice first (every key of its first arrival goes on to a bucket), and
    # out of order: an earlier report after later ones, also twice.
    signer = Signer(config)
    first, late = _doc('first', TREATY), _doc('late', ARTICLE)
    steps[:0] = [('doc', 50, first, signer.sign(first, 50.0)),
                 ('doc', 60, first, signer.sign(first, 60.0))]
    steps.insert(11, ('doc', 95, late, signer.sign(late, 95.0)))
    steps.insert(14, ('doc', 160, late, signer.sign(late, 160.0)))
    compact = _run_index(config, steps)
    assert compact == _run_index(config, steps, restore_at={5, 13, len(steps) - 2})
    monkeypatch.setattr(stream_index, '_COMPACT_SINGLES', False)
    plain = _run_index(config, steps)
    assert compact == plain
    # Keys were shared (buckets of more than one) and the horizon passed over all of them.
    assert any(len(filed) > 1 for _, _, buckets in plain for filed, _, _ in buckets.values())
    assert plain[-1][2] == {} and plain[-1][1] is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from('abcd'), st.one_of(st.none(), st.integers(0, 50)),
                          st.booleans()), max_size=60))
def test_the_expiry_heap_gives_the_earliest_bucket_expiry_whatever_the_moves(moves):
    """Buckets whose expiry moves later (filed again), earlier (a late arrival), goes (fired) or
    that go altogether, with `next_bucket_expiry` asked between moves or not."""
    state = stream_index._IndexState()
    for encoded, expiry, ask in moves:
        bucket = state.buckets.setdefault(encoded, stream_index._MemoryBucket())
        bucket.expiry = expiry
        state.note_expiry(encoded, bucket)
        if expiry is None and ask:
            del state.buckets[encoded]  # emptied and dropped
        if ask or encoded == 'a':
            assert state.next_bucket_expiry() == min(
                (b.expiry for b in state.buckets.values() if b.expiry is not None), default=None)


def test_a_snapshot_of_the_earlier_form_is_restored_to_the_same_decisions(monkeypatch):
    """A job updated in place keeps its state: a snapshot from before single keys were held apart
    and keys held as bytes (every key a bucket, under `CandidateKey.encode`) goes on alike."""

    def encoding(key):
        if key[:1] == b'b':  # a band key: b'b', the band in two bytes, the digest
            band = int.from_bytes(key[1:3], 'big')
            return CandidateKey(KeyKind.BAND, key[3:].hex(), band).encode()
        return key.decode('utf-8')

    steps = _steps(CROWDED)
    expected = _run_index(CROWDED, steps)
    monkeypatch.setattr(stream_index, '_COMPACT_SINGLES', False)
    index, state = stream_index._OneKeyIndex(CROWDED), stream_index._IndexState()
    for kind, at, *rest in steps[:12]:
        index.apply(state, (kind, Timestamp(at).micros, *rest), counted=False)
    old = pickle.loads(stream_index._snapshot(state))
    old['buckets'] = {encoding(key): value for key, value in old['buckets'].items()}
    for field in ('singles', 'single_expiries', 'arrivals'):
        del old[field]
    monkeypatch.setattr(stream_index, '_COMPACT_SINGLES', True)
    state = stream_index._restore(pickle.dumps(old))
    later = []
    for kind, at, *rest in steps[12:]:
        decisions = index.apply(state, (kind, Timestamp(at).micros, *rest), counted=False)
        later.append([(doc.id, decision) for doc, decision in decisions])
    assert later == [decisions for decisions, _, _ in expected[12:]]
