"""The streaming dedup stage's one-key strategy (`dedup.stream_index: memory`): the candidate-key
buckets and the decider in one stateful step on one key, held in the worker's memory between
bundles and written to Beam's state as a journal.

The keyed strategy (`stream`) files each signature under its ~74 candidate keys, each key's bucket
its own keyed state: it spreads over a distributed runner's workers, but on a local one every
filing is a state read and a state write the runner serves one by one (on Prism, a gRPC round
trip each), and the decider then reads its whole pending state for every match. Here one element
per document reaches one key, whose buckets, pending and decided documents are Python objects the
step keeps from bundle to bundle: the same `_BucketRules` and `_Decider` act on them, so the
decisions are those of the keyed strategy (`test_stream_index.py` compares the two).

What makes the memory safe to keep is a token. Every bundle that changes the key writes a new
random token to its state, beside the journal of what it did; a bundle first reads the token and
uses the memory only if it holds the same one. Any other outcome (a new worker, a retried bundle
whose changes were not committed, another worker having had the key) rebuilds the memory from the
journal, so the journal in Beam's state is the truth and the memory a cache of it. The journal holds
the inputs (signatures, timer firings) since the last snapshot of the whole state; replaying them
through the same rules gives the same state. A snapshot replaces the journal once it is longer than
what the state holds, so the journal stays within a small multiple of the horizon's state.

The documents themselves are needed only while they wait for their decision, some seconds, where
the journal keeps its ops for up to a horizon. So they go to a bag of their own, rewritten with the
waiting ones alone once it has grown past them, and the journal's ops carry signatures only: a
runner that holds state in memory (Prism) holds each document for seconds, not for days.

The memory is found by the step's identity, the key and the window, not by the DoFn object: the
DirectRunner's streaming mode builds a DoFn for every bundle.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import logging
import pickle
import threading
import uuid
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (BagStateSpec, ReadModifyWriteStateSpec, TimerSpec,
                                              on_timer)
from apache_beam.utils.timestamp import Timestamp

from newswire.transforms.dedup.config import DedupConfig
from newswire.transforms.dedup.keys import CandidateKey, KeyKind, candidate_keys
from newswire.transforms.dedup.stream import _DECIDER_KEY, _BucketRules, _decided, _Decider

_LOG = logging.getLogger(__name__)

# Ops in a journal past the state's own size (documents held) before a snapshot replaces it.
_JOURNAL_SLACK = 1000
# Indexes kept per process: one per one-key step, key and window in use; one dropped is rebuilt from
# its journal when next needed.
_CACHED_INDEXES = 16
# Keys filed under once held compactly (`_IndexState.singles`); False gives every key a bucket, the
# plain form test_stream_index.py checks the compact one against.
_COMPACT_SINGLES = True


class _MemoryBucket:
    """A candidate key's bucket in memory, for `_BucketRules`. `entries()` is the bucket's own list,
    read only by the rules until they `replace` it."""

    __slots__ = ('stored', 'key_load', 'expiry', 'heaped')

    def __init__(self):
        self.stored: list = []
        self.key_load = None
        self.expiry: Optional[int] = None  # micros, as a keyed bucket's expiry timer
        self.heaped: Optional[int] = None  # its entry in `_IndexState.expiries`, at most `expiry`

    def entries(self) -> list:
        return self.stored

    def add(self, entry) -> None:
        self.stored.append(entry)

    def replace(self, entries: list) -> None:
        self.stored = list(entries)

    def clear(self) -> None:
        self.stored = []

    def load(self):
        return self.key_load

    def write_load(self, load) -> None:
        self.key_load = load

    def clear_load(self) -> None:
        self.key_load = None

    def set_expiry(self, micros: int) -> None:
        self.expiry = micros

    def empty(self) -> bool:
        return not self.stored and self.key_load is None and self.expiry is None


@dataclasses.dataclass
class _IndexState:
    """Everything the one key holds: the buckets by candidate key (`_index_key`), their expiry
    times (a heap of (micros, key), `note_expiry`), the keys filed under once (`singles`, below),
    the decider's pending, waiting and decided documents, and the journal's count.

    Most keys are one document's (nearly all of its 64 band keys, its content key): a
    `_MemoryBucket` each, with its list, entry and heap entry, would be most of the memory. So
    a key filed under once is held as `singles[key] = (signature copy, micros)`, the one entry
    `_BucketRules.file` gives a key's first filing, shared by the arrival's keys that carry the
    same copy; its expiry, a horizon later, is one heap entry per arrival in `single_expiries`:
    (micros, arrival number, its single keys, its entries). A second filing under the key first
    makes the bucket that first filing made (`_OneKeyIndex._bucket`); an arrival's heap entry whose
    keys all went on to buckets is stale."""

    buckets: dict = dataclasses.field(default_factory=dict)
    expiries: list = dataclasses.field(default_factory=list)
    singles: dict = dataclasses.field(default_factory=dict)
    single_expiries: list = dataclasses.field(default_factory=list)
    arrivals: int = 0  # arrivals with single keys so far: orders `single_expiries` due alike
    pending: dict = dataclasses.field(default_factory=dict)
    waiting: dict = dataclasses.field(default_factory=dict)
    decided: dict = dataclasses.field(default_factory=dict)
    # Derived, neither journalled nor snapshotted: the earliest pending due time (None: to be
    # found), and the timers as this memory last set them, so that a timer is set only when it
    # changes (a timer set is a call into the runner for every op otherwise).
    earliest_due: Optional[int] = None
    timers: dict = dataclasses.field(default_factory=dict)
    sequence: int = 0          # of the last op applied
    since_snapshot: int = 0    # ops in the journal after its snapshot
    documents_held: int = 0    # entries in the documents bag
    token: Optional[str] = None

    def next_expiry(self) -> Optional[int]:
        """The earliest time a bucket or a single key expires, None for none."""
        dues = [due for due in (self.next_bucket_expiry(), self.next_single_expiry())
                if due is not None]
        return min(dues, default=None)

    def note_expiry(self, encoded: bytes, bucket: _MemoryBucket) -> None:
        """After the bucket's expiry may have changed. Each bucket with an expiry has an entry in
        `expiries` no later than it (`heaped`): a new one only when the expiry moves earlier. A
        bucket filed under again expires later, and an entry pushed at each filing would leave one
        stale entry per filing in the heap for a horizon; the later time is found when the entry
        comes to the top (`next_bucket_expiry`)."""
        if bucket.expiry is not None and (bucket.heaped is None or bucket.expiry < bucket.heaped):
            heapq.heappush(self.expiries, (bucket.expiry, encoded))
            bucket.heaped = bucket.expiry

    def next_bucket_expiry(self) -> Optional[int]:
        expiries = self.expiries
        while expiries:
            micros, encoded = expiries[0]
            bucket = self.buckets.get(encoded)
            if bucket is None or bucket.heaped != micros:
                heapq.heappop(expiries)  # stale: the bucket has gone, or has an earlier entry
            elif bucket.expiry is None:
                heapq.heappop(expiries)
                bucket.heaped = None
            elif bucket.expiry == micros:
                return micros
            else:  # expires later than its entry says: moved to when it does
                heapq.heapreplace(expiries, (bucket.expiry, encoded))
                bucket.heaped = bucket.expiry
        return None

    def next_single_expiry(self) -> Optional[int]:
        while self.single_expiries and not self.live_singles(self.single_expiries[0]):
            heapq.heappop(self.single_expiries)  # stale: every key went on to a bucket
        return self.single_expiries[0][0] if self.single_expiries else None

    def live_singles(self, arrival: tuple) -> list:
        """The keys of a `single_expiries` entry still held as that arrival's singles."""
        _, _, keys, entries = arrival
        singles = self.singles
        return [encoded for encoded in keys
                if any(singles.get(encoded) is entry for entry in entries)]


class _OneKeyIndex:
    """The rules applied to an `_IndexState`: a document arriving, the settle timer and the expiry
    timer. Each returns the decisions to emit; `counted` is False when replaying a journal."""

    def __init__(self, config: DedupConfig):
        self._config = config
        self._rules = _BucketRules(config)
        self._decider = _Decider(config)
        self._horizon_micros = int(config.horizon_seconds * 1e6)  # as `_BucketRules.file` sets it

    def apply(self, state: _IndexState, op: tuple, counted: bool) -> list:
        kind, micros = op[0], op[1]
        if kind == 'doc':
            return self._arrive(state, op[2], op[3], Timestamp(micros=micros), counted)
        if kind == 'settle':
            state.timers.pop('settle', None)  # fired
            decisions, _ = self._decider.decide(micros, state.pending, state.decided,
                                                lambda: state.waiting, counted)
            state.earliest_due = None
            return decisions
        state.timers.pop('expiry', None)  # fired
        self._expire(state, micros)
        return []

    def _arrive(self, state: _IndexState, doc, signature, timestamp: Timestamp,
                counted: bool) -> list:
        now = timestamp.micros
        decider = self._decider
        decisions = []
        if decider.delivered_again(signature, state.pending, state.decided):
            decision, _ = decider.redelivery(doc, signature, state.decided, counted)
            decisions.append(decision)
        else:
            decider.wait(signature, timestamp, state.pending)
            due = state.pending[signature.id].due_micros
            if state.earliest_due is not None and due < state.earliest_due:
                state.earliest_due = due
            # The document itself is what the decider's decision names (its `delivery`).
            state.waiting[signature.id] = (doc, signature.identity_only())
        tested: dict = {}
        entries: dict = {}  # id of a signature copy -> its (copy, now), shared by its keys
        single_keys = []
        for key, copy in candidate_keys(signature, self._config):
            encoded = _index_key(key)
            bucket = state.buckets.get(encoded)
            entry = entries.get(id(copy))
            if entry is None:
                entry = entries[id(copy)] = (copy, now)
            if bucket is None:
                single = state.singles.pop(encoded, None)
                if single is None and _COMPACT_SINGLES:
                    # A key's first filing: no one to compare with (`_BucketRules.file`).
                    state.singles[encoded] = entry
                    single_keys.append(encoded)
                    continue
                bucket = (self._bucket(state, key, encoded, single) if single is not None
                          else state.buckets.setdefault(encoded, _MemoryBucket()))
            for match in self._rules.file(key, bucket, copy, now, counted, tested, entry):
                decider.match(match, state.pending, counted)
            state.note_expiry(encoded, bucket)
        if single_keys:
            state.arrivals += 1
            heapq.heappush(state.single_expiries, (now + self._horizon_micros, state.arrivals,
                                                   tuple(single_keys), tuple(entries.values())))
        return decisions

    def _bucket(self, state: _IndexState, key: CandidateKey, encoded: bytes,
                single: tuple) -> _MemoryBucket:
        """The bucket of a single key, as its one filing made it: that filing made again."""
        bucket = state.buckets[encoded] = _MemoryBucket()
        copy, micros = single
        self._rules.file(key, bucket, copy, micros, counted=False, entry=single)
        state.note_expiry(encoded, bucket)
        return bucket

    def _expire(self, state: _IndexState, now: int) -> None:
        """Every bucket and single key whose expiry is due by `now`, each at its own expiry time
        and in their order, as each keyed bucket's timer would fire."""
        while True:
            bucket_due, single_due = state.next_bucket_expiry(), state.next_single_expiry()
            if single_due is not None and single_due <= now and (bucket_due is None
                                                                 or single_due <= bucket_due):
                self._expire_singles(state, heapq.heappop(state.single_expiries))
            elif bucket_due is not None and bucket_due <= now:
                _, encoded = heapq.heappop(state.expiries)
                bucket = state.buckets[encoded]
                bucket.expiry = bucket.heaped = None  # the timer fired
                self._rules.expire(bucket, Timestamp(micros=bucket_due))
                if bucket.expiry is not None:
                    state.note_expiry(encoded, bucket)
                elif bucket.empty():
                    del state.buckets[encoded]
            else:
                return

    def _expire_singles(self, state: _IndexState, arrival: tuple) -> None:
        """An arrival's single keys expire: each as its bucket would when its timer fired."""
        due = arrival[0]
        for encoded in state.live_singles(arrival):
            bucket = _MemoryBucket()
            bucket.stored = [state.singles.pop(encoded)]
            self._rules.expire(bucket, Timestamp(micros=due))
            if not bucket.empty():  # kept on: a bucket like any other
                state.buckets[encoded] = bucket
                state.note_expiry(encoded, bucket)


def _index_key(key: CandidateKey) -> bytes:
    """A candidate key as the index holds it: `CandidateKey.encode` in UTF-8, but a band key as
    'b', its band in two bytes and its digest's own bytes (13 bytes where the encoding's hex is a
    24-character string): a document has some 60 band keys, most of them held for the horizon."""
    if key.kind is KeyKind.BAND:
        return b'b' + key.band.to_bytes(2, 'big') + bytes.fromhex(key.value)
    return key.encode().encode('utf-8')


_INDEXES: collections.OrderedDict = collections.OrderedDict()
_INDEXES_LOCK = threading.Lock()


def _cached(name: tuple) -> Optional[_IndexState]:
    with _INDEXES_LOCK:
        state = _INDEXES.get(name)
        if state is not None:
            _INDEXES.move_to_end(name)
        return state


def _cache(name: tuple, state: _IndexState) -> None:
    with _INDEXES_LOCK:
        _INDEXES[name] = state
        _INDEXES.move_to_end(name)
        while len(_INDEXES) > _CACHED_INDEXES:
            _INDEXES.popitem(last=False)


class IndexAndDecideFn(beam.DoFn):
    """(one key, (document, signature)) -> the document with its `dedup` filled in: the keyed
    strategy's `_IndexBucketFn`, `_DecideFn` and `_ApplyDecisionFn` on one key, its state in memory
    between bundles (module docstring). Documents come out as the keyed strategy's do: a
    redelivery at once, the others when the watermark passes their settle time, in publication
    order, each at its decision's time."""

    TOKEN = ReadModifyWriteStateSpec('token', PickleCoder())
    JOURNAL = BagStateSpec('journal', PickleCoder())
    DOCUMENTS = BagStateSpec('documents', PickleCoder())  # (id, document) of waiting documents
    SETTLE = TimerSpec('settle', TimeDomain.WATERMARK)
    EXPIRY = TimerSpec('expiry', TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig):
        self._config = config
        self._step = uuid.uuid4().hex  # the same in every copy of this DoFn, a new one per graph
        self._index: Optional[_OneKeyIndex] = None
        self._checked: dict = {}  # (key, window) -> its state, once checked in this bundle

    def setup(self):
        self._index = _OneKeyIndex(self._config)
        self._rebuilds = Metrics.counter('newswire', 'dedup_index_rebuilds')

    def start_bundle(self):
        self._checked = {}  # the token is read again in every bundle

    def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam,
                token=beam.DoFn.StateParam(TOKEN), journal=beam.DoFn.StateParam(JOURNAL),
                documents=beam.DoFn.StateParam(DOCUMENTS), settle=beam.DoFn.TimerParam(SETTLE),
                expiry=beam.DoFn.TimerParam(EXPIRY)):
        key, (doc, signature) = element
        yield from self._step_on(('doc', timestamp.micros, doc, signature),
                                 (key, window), _Bags(token, journal, documents), settle, expiry)

    @on_timer(SETTLE)
    def decide(self, fired=beam.DoFn.TimestampParam, key=beam.DoFn.KeyParam,
               window=beam.DoFn.WindowParam, token=beam.DoFn.StateParam(TOKEN),
               journal=beam.DoFn.StateParam(JOURNAL), documents=beam.DoFn.StateParam(DOCUMENTS),
               settle=beam.DoFn.TimerParam(SETTLE), expiry=beam.DoFn.TimerParam(EXPIRY)):
        yield from self._step_on(('settle', fired.micros), (key, window),
                                 _Bags(token, journal, documents), settle, expiry)

    @on_timer(EXPIRY)
    def expire(self, fired=beam.DoFn.TimestampParam, key=beam.DoFn.KeyParam,
               window=beam.DoFn.WindowParam, token=beam.DoFn.StateParam(TOKEN),
               journal=beam.DoFn.StateParam(JOURNAL), documents=beam.DoFn.StateParam(DOCUMENTS),
               settle=beam.DoFn.TimerParam(SETTLE), expiry=beam.DoFn.TimerParam(EXPIRY)):
        yield from self._step_on(('expire', fired.micros), (key, window),
                                 _Bags(token, journal, documents), settle, expiry)

    def _step_on(self, op: tuple, key_window: tuple, bags: '_Bags', settle, expiry):
        state = self._state(key_window, bags)
        state.sequence += 1
        decisions = self._index.apply(state, op, counted=True)
        if op[0] == 'doc':
            self._hold_document(state, op[2], op[3], bags.documents)
            op = op[:2] + (None,) + op[3:]  # journalled without its document
        journal = bags.journal
        if state.since_snapshot >= _JOURNAL_SLACK + len(state.pending) + len(state.decided):
            journal.clear()
            journal.add(('snapshot', state.sequence, _snapshot(state)))  # bytes: taken now
            state.since_snapshot = 0
        else:
            journal.add((op[0], state.sequence) + op[1:])
            state.since_snapshot += 1
        if state.pending:
            if state.earliest_due is None:
                state.earliest_due = min(p.due_micros for p in state.pending.values())
            _set_timer(state, 'settle', settle, state.earliest_due)
        next_expiry = state.next_expiry()
        if next_expiry is not None:
            _set_timer(state, 'expiry', expiry, next_expiry)
        return [_decided(doc, decision) for doc, decision in decisions]

    @staticmethod
    def _hold_document(state: _IndexState, doc, signature, documents) -> None:
        """A document that now waits for its decision goes to the documents bag; once the bag
        holds more than the waiting documents by the journal's slack, it holds those alone."""
        waiting = state.waiting.get(signature.id)
        if waiting is None or waiting[0] is not doc:
            return  # a redelivery: decided at once, nothing waits
        if state.documents_held >= _JOURNAL_SLACK + len(state.waiting):
            documents.clear()
            for doc_id, (waiting_doc, _) in state.waiting.items():
                documents.add((doc_id, waiting_doc))
            state.documents_held = len(state.waiting)
        else:
            documents.add((signature.id, doc))
            state.documents_held += 1

    def _state(self, key_window: tuple, bags: '_Bags') -> _IndexState:
        """The key's state, checked against its token once per bundle, rebuilt from the journal
        when the memory does not hold what the state last committed; a new token written."""
        checked = self._checked.get(key_window)
        if checked is not None:
            return checked
        name = (self._step,) + key_window
        state = _cached(name)
        committed = bags.token.read()
        if state is None or state.token != committed:
            state = self._rebuild(bags.journal, bags.documents)
            _cache(name, state)
        state.token = uuid.uuid4().hex
        bags.token.write(state.token)
        self._checked[key_window] = state
        return state

    def _rebuild(self, journal, documents) -> _IndexState:
        entries = sorted(journal.read(), key=lambda entry: entry[1])
        if entries:  # a worker that did not hold the key, or a bundle that did not commit
            self._rebuilds.inc()
            _LOG.info('dedup: rebuilding the stream index from its journal (%d entries)',
                      len(entries))
        start = max((i for i, entry in enumerate(entries) if entry[0] == 'snapshot'), default=None)
        state = _IndexState()
        if start is not None:
            state = _restore(entries[start][2])
            state.sequence = entries[start][1]
            entries = entries[start + 1:]
        for entry in entries:
            self._index.apply(state, (entry[0],) + entry[2:], counted=False)
            state.sequence = entry[1]
        state.since_snapshot = len(entries)
        # Replayed ops carry no documents (a journal written before the documents bag does):
        # the waiting ones come from the bag, the latest entry of an id being its arrival.
        held = list(documents.read())
        state.documents_held = len(held)
        by_id = dict(held)
        for doc_id, (doc, identity) in state.waiting.items():
            if doc is None:
                if doc_id not in by_id:
                    raise RuntimeError(f'dedup: the stream index state has no document for the '
                                       f'waiting id {doc_id!r}')
                state.waiting[doc_id] = (by_id[doc_id], identity)
        return state


class _Bags(NamedTuple):
    """The one-key step's state: its token, its journal and its waiting documents."""
    token: Any
    journal: Any
    documents: Any


def _set_timer(state: _IndexState, name: str, timer, micros: int) -> None:
    if state.timers.get(name) != micros:
        timer.set(Timestamp(micros=micros))
        state.timers[name] = micros


def _snapshot(state: _IndexState) -> bytes:
    """The state as it is now, pickled at once: a runner may encode what a bag was given only
    when the bundle commits, after later ops changed the same objects."""
    return pickle.dumps({'buckets': {encoded: (b.stored, b.key_load, b.expiry)
                                     for encoded, b in state.buckets.items()},
                         # One pickle: an entry shared by singles and their heap stays one object.
                         'singles': state.singles, 'single_expiries': state.single_expiries,
                         'arrivals': state.arrivals,
                         'pending': state.pending, 'waiting': state.waiting,
                         'decided': state.decided}, protocol=pickle.HIGHEST_PROTOCOL)


def _restore(pickled: bytes) -> _IndexState:
    """`_snapshot`'s inverse; also reads a snapshot taken before single keys were held apart and
    keys as bytes (a job updated in place keeps its state)."""
    snapshot = pickle.loads(pickled)
    state = _IndexState(pending=snapshot['pending'], waiting=snapshot['waiting'],
                        decided=snapshot['decided'], singles=snapshot.get('singles', {}),
                        single_expiries=snapshot.get('single_expiries', []),
                        arrivals=snapshot.get('arrivals', 0))
    for encoded, (stored, key_load, expiry) in snapshot['buckets'].items():
        if isinstance(encoded, str):  # `CandidateKey.encode`, as buckets were held before
            encoded = _index_key(CandidateKey.decode(encoded))
        bucket = state.buckets[encoded] = _MemoryBucket()
        bucket.stored, bucket.key_load, bucket.expiry = stored, key_load, expiry
        if expiry is not None:
            state.expiries.append((expiry, encoded))
            bucket.heaped = expiry
    heapq.heapify(state.expiries)
    return state


def to_index(pair) -> tuple[str, Any]:
    """(document, signature) -> the one key and (document, signature)."""
    return _DECIDER_KEY, pair
