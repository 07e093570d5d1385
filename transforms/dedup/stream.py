"""The three duplicate tiers in a stream: the batch tests on bounded, timer-expired keyed state.

Same signatures, candidate keys and pair tests as `batch`; what changes is when a record is
decided, because a stream never ends:

1. `_IndexBucketFn`, keyed by candidate key (exact key, LSH band, heavy term), keeps the signatures
   it has seen in the last `horizon_seconds` of event time (at most `max_bucket_comparisons` of
   them, the earliest always among them for an exact key) and tests each arrival against them,
   emitting a `Match` oriented by publication order. An event-time timer drops entries older than
   the horizon: memory is bounded by the horizon, not by the length of the stream. A band or term
   key filed more than `max_documents_per_key` times within the horizon is dropped, as in batch,
   and keeps no signatures while it is.
2. `_DecideFn` collects each document's matches and decides it once the watermark has passed its
   timestamp by `settle_seconds`, so a report that arrives a little out of order still finds the
   copy or story it belongs to. It holds, for the horizon, each decided document's story id, which
   is how a document joins its parent's story (story = story of the nearest earlier report). It
   sees each document only by its delivery key and identity (id, order, content hash).
3. `_ApplyDecisionFn`, keyed by delivery (document id and publish time), holds each document until
   its decision arrives and emits it with its `dedup` filled in.

Why the decider has one key. A document's story id is its parent's (its best earlier match's),
which is its parent's parent's, and so on: a chain across any number of documents and candidate keys
(A and B share a band, B and C a heavy term, A and C nothing). To decide D the decider needs D's
matches, whether D's parent is still waiting (D then waits for it, and matches that arrive meanwhile
still count) and the story id the parent was given, which came from the parent's own parent. No key
chosen before the decider can put D beside that state: which document is D's parent is known only
once D's matches are in, and a story's root only once its chain is decided, and a Beam graph has no
cycle to send a decided story id back to a step keyed another way. Keying by document would give
the same tiers but could only find story ids by following chains from key to key, rounds a stream
never finishes; keying by story root would need the root before it is known. So the decision stays
on one key, and what is spread is the rest: the comparisons, by candidate key (step 1), and the
documents, by delivery (step 3), the bulk of the stage's state and traffic. The one key holds ids,
order keys, content hashes and best matches for the settle time, and an id -> story id map for the
horizon. `test_stream.py` runs one stream through this and through the arrangement where documents
rode the decider's key, and compares decisions and timestamps.

A record is emitted once and never changed. A match that arrives after the later record was decided
(data later than `settle_seconds`) is counted as `dedup_late_links`, not applied. The same message
delivered again (Pub/Sub is at-least-once) has the same record id; it is emitted again under a new id
with `duplicate_of` the first delivery.

Worked example (settle 10 s): A published 10:00:00 arrives at 10:00:05; its near copy B (published
10:00:03) arrives at 10:00:07. Bucket b7:... holds A when B arrives and emits Match(later=B,
earlier=A). When the watermark passes 10:00:10, A is decided (canonical, story A); at 10:00:13, B
is decided: near_duplicate_of A, story A. Each decision meets its document, waiting under its
delivery key, and the two go out.
"""
from __future__ import annotations

import dataclasses
import hashlib
from operator import itemgetter
from typing import Any, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.window import TimestampedValue
from apache_beam.transforms.userstate import (BagStateSpec, ReadModifyWriteStateSpec, TimerSpec,
                                              on_timer)
from apache_beam.utils.timestamp import Timestamp

from newswire.transforms import similarity
from newswire.transforms.dead_letters import ApplyStage, StageOutputs
from newswire.transforms.dedup.config import MEMORY, STAGE, DedupConfig
from newswire.transforms.dedup.crowding import log_dropped_keys
from newswire.transforms.dedup.decision import BestMatches, BestMatchesFn, dedup_info
from newswire.transforms.dedup.keys import CAPPED_KEY_NAMES, CandidateKey, KeyKind, candidate_keys
from newswire.transforms.dedup.pairs import EXACT, STORY_SCREEN_MARGIN, match_pair, within_horizon
from newswire.transforms.dedup.signature import SignDocumentsFn
from newswire.transforms.records import DedupInfo

_DECIDER_KEY = 'all'


@dataclasses.dataclass
class _KeyLoad:
    """How crowded a band or term key is: the times (micros) it was filed under within the last
    horizon, at most `max_documents_per_key` + 1 of them; once there are more, the key is dropped
    until `dropped_until` and only that is kept."""

    micros: list = dataclasses.field(default_factory=list)
    dropped_until: Optional[int] = None


# Decisions are due on quarter seconds of event time (`_Decider.wait`).
_DECIDE_EVERY_MICROS = 250_000

# A story bucket of at least this many reports not yet tested is screened at once.
_SCREEN_MIN_REPORTS = 8
_VECTORS = 'vectors'  # `file`'s `tested`: the story vectors looked up (`pairs.match_pair`)


class _BucketRules:
    """What happens to one candidate key's bucket when a signature is filed under it, and when its
    expiry timer fires, whatever holds the bucket: Beam's keyed state (`_IndexBucketFn`) or the
    one-key index's memory (`stream_index`). A bucket has `entries()`, `add`, `replace`, `clear`,
    `load()`, `write_load`, `clear_load` and `set_expiry` (micros).

    A band or term key filed under more than `max_documents_per_key` times within the horizon is
    dropped as in batch (`dedup.dropped_key_kind`): its signatures are let go and it is compared no
    more, keeping only when it was last used, until a whole horizon passes without it. An exact key
    keeps its earliest signature among the recent ones, since an exact match is with the earliest.
    Worked example (cap 2, horizon 600 s): `t:ferry` filed at 0, 10 and 20 s is dropped at 20 s;
    filed again at 300 s, it stays dropped until 900 s.
    """

    def __init__(self, config: DedupConfig):
        self._config = config
        self._combine = BestMatchesFn()
        self._dropped = {kind: Metrics.counter('newswire', f'dedup_dropped_keys_{kind}')
                         for kind in CAPPED_KEY_NAMES}
        self._logged: set = set()

    def file(self, key: CandidateKey, bucket, new, now: int, counted: bool = True,
             tested: Optional[dict] = None, entry: Optional[tuple] = None):
        """Files `new` (arriving at `now`, micros) under `key`: its best Matches (per later document
        and tier) against the key's recent signatures. `counted`: whether a key dropped now counts
        in the metrics (not when the one-key index replays its journal). `tested`: a dict kept
        while one arrival is filed under all its keys, where the same stored signature met under
        several keys of one test (a story's eight terms, a near copy's many bands) is tested once,
        and a story bucket's reports are screened at once. `entry`: the (new, now) to store, when
        the caller shares one among the keys it files `new` under."""
        entry = entry or (new, now)
        config = self._config
        horizon_micros = int(config.horizon_seconds * 1e6)
        kind = key.kind.capped_name
        load = bucket.load() if kind is not None else None
        dropped = load is not None and load.dropped_until is not None
        stored = [] if dropped else bucket.entries()
        if load is None and not stored:
            # A key's first filing within the horizon (most band keys are one document's): no one
            # to compare with, and it is counted by its bag alone, since a load for each would be
            # a state write per band per document.
            bucket.add(entry)
            bucket.set_expiry(now + horizon_micros)
            return []
        if kind is not None:
            load = load or _KeyLoad(micros=[micros for _, micros in stored])
            if load.dropped_until is None:
                # A new list (the old one may be shared with a journalled copy); filtered only when
                # something in it has passed the horizon, since `min` costs far less than filtering.
                micros, cutoff = load.micros, now - horizon_micros
                if micros and min(micros) <= cutoff:
                    micros = [m for m in micros if m > cutoff]
                load.micros = micros + [now]
                if len(load.micros) > config.max_documents_per_key:
                    load = _KeyLoad(dropped_until=now + horizon_micros)
                    bucket.clear()
                    stored = []
                    if counted:
                        self._dropped[kind].inc()
                    if kind not in self._logged:  # once per kind and worker, not per key
                        self._logged.add(kind)
                        log_dropped_keys(kind, None, config)
            else:
                load.dropped_until = max(load.dropped_until, now + horizon_micros)
            bucket.write_load(load)
            if load.dropped_until is not None:
                bucket.set_expiry(load.dropped_until)
                return []
        recent = stored[-config.max_bucket_comparisons:]
        best: dict[str, BestMatches] = {}
        if tested is not None:
            # The test depends on the key's kind alone (`match_pair`): a stored copy met under an
            # earlier key of this arrival (`id`: the copies stay alive meanwhile) was tested there,
            # and its match, if any, went to the same decider.
            met = tested.setdefault(key.kind, set())
            ids = list(map(id, map(itemgetter(0), recent)))
            if not met.isdisjoint(ids):
                recent = [entry for entry, entry_id in zip(recent, ids) if entry_id not in met]
            met.update(ids)
            if key.kind is KeyKind.TERM and len(recent) >= _SCREEN_MIN_REPORTS:
                recent = _screen_stories(new, recent, config)
        for old, _ in recent:
            if old.id == new.id or not within_horizon(old, new, config.horizon_seconds):
                continue
            earlier, later = (old, new) if old.order_key < new.order_key else (new, old)
            match = match_pair(key, earlier, later, config,
                               None if tested is None else tested.setdefault(_VECTORS, {}))
            if match is not None:
                best[later.id] = self._combine.add_input(best.get(later.id, BestMatches()), match)
        matches = [match for later_best in best.values()
                   for match in (later_best.exact, later_best.near_copy, later_best.same_story)
                   if match is not None]
        if len(stored) >= config.max_bucket_comparisons:
            kept = stored[-(config.max_bucket_comparisons - 1):]
            if key.kind.exact:
                # An exact match is with the earliest copy (`dedup.exact_matches`): it stays, in
                # place of the oldest of the others, until it passes the horizon.
                earliest = min(stored, key=lambda entry: entry[0].order_key)
                if all(entry is not earliest for entry in kept):
                    kept = [earliest] + kept[1:]
            bucket.replace(kept)
        bucket.add(entry)
        bucket.set_expiry(now + horizon_micros)
        return matches

    def expire(self, bucket, fired: Timestamp) -> None:
        """The bucket's expiry timer fired at `fired`: signatures older than the horizon go, and a
        dropped key that went a whole horizon unused is a key again."""
        cutoff = (fired - self._config.horizon_seconds).micros
        load = bucket.load()
        if load is not None and load.dropped_until is not None:
            if fired.micros < load.dropped_until:
                bucket.set_expiry(load.dropped_until)
                return
            bucket.clear_load()  # a whole horizon without it: a key again
            return
        kept = [(sig, micros) for sig, micros in bucket.entries() if micros > cutoff]
        bucket.replace(kept)
        if load is not None:
            load.micros = [m for m in load.micros if m > cutoff]
            if load.micros:
                bucket.write_load(load)
            else:
                bucket.clear_load()
        oldest = [m for _, m in kept] + (load.micros if load is not None else [])
        if oldest:
            bucket.set_expiry(min(oldest) + int(self._config.horizon_seconds * 1e6))


def _screen_stories(new, recent: list, config: DedupConfig) -> list:
    """The entries of a story bucket whose cosine with `new` may reach the story threshold: the
    others are below it by more than a sum's rounding (`pairs.STORY_SCREEN_MARGIN`), screened
    for the whole bucket at once (`similarity.story_cosine_screen`). Those kept are tested pair by
    pair, so the matches and scores are `match_pair`'s own."""
    screen = similarity.story_cosine_screen(new.story_vector,
                                            [old.story_vector for old, _ in recent])
    floor = config.story_threshold - STORY_SCREEN_MARGIN
    return [entry for entry, cosine in zip(recent, screen.tolist()) if cosine >= floor]


class _StateBucket(NamedTuple):
    """A candidate key's bucket in Beam's keyed state, for `_BucketRules`."""
    bag: Any
    load_state: Any
    timer: Any

    def entries(self) -> list:
        return list(self.bag.read())

    def add(self, entry) -> None:
        self.bag.add(entry)

    def replace(self, entries: list) -> None:
        _replace_bag(self.bag, entries)

    def clear(self) -> None:
        self.bag.clear()

    def load(self):
        return self.load_state.read()

    def write_load(self, load) -> None:
        self.load_state.write(load)

    def clear_load(self) -> None:
        self.load_state.clear()

    def set_expiry(self, micros: int) -> None:
        self.timer.set(Timestamp(micros=micros))


class _IndexBucketFn(beam.DoFn):
    """(encoded candidate key, signature) -> the best Matches (per later document and tier) against
    the key's recent signatures, kept in the key's state (`_BucketRules` says how).

    Only the best go on: the decider keeps only the best anyway (`BestMatchesFn`), and it reads its
    whole pending state for every match it gets: a story bucket can hold `max_bucket_comparisons`
    reports above the threshold, in each of a document's `story_keys` buckets.
    """

    ENTRIES = BagStateSpec('entries', PickleCoder())
    LOAD = ReadModifyWriteStateSpec('load', PickleCoder())  # `_KeyLoad`, band and term keys only
    EXPIRY = TimerSpec('expiry', TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig):
        self._rules = _BucketRules(config)

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                entries=beam.DoFn.StateParam(ENTRIES), load_state=beam.DoFn.StateParam(LOAD),
                expiry=beam.DoFn.TimerParam(EXPIRY)):
        encoded, new = element
        for match in self._rules.file(CandidateKey.decode(encoded),
                                      _StateBucket(entries, load_state, expiry), new,
                                      timestamp.micros):
            yield _DECIDER_KEY, ('match', match)

    @on_timer(EXPIRY)
    def expire(self, fired=beam.DoFn.TimestampParam, entries=beam.DoFn.StateParam(ENTRIES),
               load_state=beam.DoFn.StateParam(LOAD), expiry=beam.DoFn.TimerParam(EXPIRY)):
        self._rules.expire(_StateBucket(entries, load_state, expiry), fired)


def _encoded_candidate_keys(signature, config: DedupConfig):
    """`candidate_keys` with each key encoded: the state's key is a string."""
    for key, copy in candidate_keys(signature, config):
        yield key.encode(), copy


def _redelivered_id(doc_id: str, delivery: int) -> str:
    return hashlib.sha256(f'{doc_id}\x1fdelivery\x1f{delivery}'.encode()).hexdigest()[:20]


def _delivery_key(doc_id: str, arrival: Timestamp) -> str:
    """Which delivery of a document a decision is for: its id and the time it was published to the
    queue. A message delivered twice by Pub/Sub has both the same, and the same content, so either
    copy may take either decision."""
    return f'{doc_id}\x1f{arrival.micros}'


class _Decision(NamedTuple):
    """What the decider says of one delivery: its `DedupInfo`, and for a redelivery the new id."""
    dedup: DedupInfo
    new_id: Optional[str] = None


@dataclasses.dataclass
class _Pending:
    """What deciding a waiting document needs per match; its delivery key and signature wait apart,
    in a bag read only when something is decided (state is decoded on every read)."""

    order_key: tuple
    due_micros: int
    best: BestMatches = dataclasses.field(default_factory=BestMatches)


@dataclasses.dataclass
class _Decided:
    story_id: str
    micros: int
    deliveries: int = 1


class _Decider:
    """What the decider does with its one key's state, wherever that is held: Beam's state
    (`_DecideFn`) or the one-key index's memory (`stream_index`). `pending` maps each waiting id to
    its `_Pending`, `decided` each decided id to its `_Decided`; the (delivery, signature) of each
    pending id wait apart (`waiting`). `counted`: whether what happens counts in the metrics (not
    when the one-key index replays its journal)."""

    def __init__(self, config: DedupConfig):
        self._config = config
        self._late_links = Metrics.counter('newswire', 'dedup_late_links')
        self._redeliveries = Metrics.counter('newswire', 'dedup_redeliveries')
        self._tiers = {tier: Metrics.counter('newswire', f'dedup_{tier}')
                       for tier in ('exact', 'near_copy', 'same_story')}
        self._combine = BestMatchesFn()

    def delivered_again(self, signature, pending: dict, decided: dict) -> bool:
        return signature.id in decided or signature.id in pending

    def wait(self, signature, timestamp: Timestamp, pending: dict) -> None:
        """A new document waits until the watermark is `settle_seconds` past it, rounded up to
        the quarter second: the documents of a quarter second are decided by one timer firing. A
        runner fires a key's timer in a bundle of its own (Prism: some 5-10 a second), so a due
        time per document decided one or two documents a firing, some 20 a second in all; a whole
        second's grid added up to a second to every record's wait."""
        due = (timestamp + self._config.settle_seconds).micros
        due = -(-due // _DECIDE_EVERY_MICROS) * _DECIDE_EVERY_MICROS
        pending[signature.id] = _Pending(signature.order_key, due)

    def match(self, match, pending: dict, counted: bool = True) -> bool:
        """Whether `match` was applied: not when its later record was already decided."""
        target = pending.get(match.later)
        if target is None:
            if counted:
                self._late_links.inc()
            return False
        target.best = self._combine.add_input(target.best, match)
        return True

    def redelivery(self, delivery, signature, decided: dict, counted: bool = True):
        """The same record again: (delivery, a `_Decision` with a new id, flagged as an exact
        duplicate of the first delivery), and whether `decided` changed."""
        first = decided.get(signature.id)
        deliveries = (first.deliveries if first else 1) + 1
        if first:
            first.deliveries = deliveries
        if counted:
            self._redeliveries.inc()
            self._tiers[EXACT].inc()
        return (delivery, _Decision(
            DedupInfo(content_hash=signature.content_hash,
                      story_id=first.story_id if first else signature.id,
                      tier=EXACT, duplicate_of=signature.id),
            new_id=_redelivered_id(signature.id, deliveries))), first is not None

    def decide(self, now: int, pending: dict, decided: dict, read_waiting, counted: bool = True):
        """Decides, in publication order, the pending documents due by `now` (micros) whose parent
        is decided: ([(delivery, `_Decision`)], what is left of `read_waiting()` once any was
        decided, else None). Forgets decided ids older than two horizons."""
        ready = sorted((i for i, p in pending.items() if p.due_micros <= now),
                       key=lambda i: pending[i].order_key)
        waiting = read_waiting() if ready else {}
        decisions = []
        for doc_id in ready:
            item = pending[doc_id]
            parent = item.best.parent()
            if parent is not None and parent.earlier in pending and parent.earlier not in decided:
                # Its parent arrived later than it did and has not settled yet: wait for it.
                item.due_micros = pending[parent.earlier].due_micros
                continue
            delivery, signature = waiting.pop(doc_id)
            parents = {}
            if parent is not None:
                known = decided.get(parent.earlier)
                # A parent gone past the horizon keeps its own id as the story id.
                parents[doc_id] = known.story_id if known else parent.earlier
            info = dedup_info(signature, item.best, parents)
            decided[doc_id] = _Decided(info.story_id, item.due_micros)
            del pending[doc_id]
            if info.tier and counted:
                self._tiers[info.tier].inc()
            decisions.append((delivery, _Decision(info)))
        horizon_micros = int(self._config.horizon_seconds * 1e6)
        for doc_id in [d for d, v in decided.items() if v.micros < now - 2 * horizon_micros]:
            del decided[doc_id]
        return decisions, (waiting if decisions else None)


def _next_due(pending: dict) -> Timestamp:
    return Timestamp(micros=min(p.due_micros for p in pending.values()))


class _DecideFn(beam.DoFn):
    """('doc', (delivery, signature)) and ('match', Match) -> (delivery, `_Decision`), in
    publication order once they have settled. `delivery` is whatever names the document downstream (its
    `_delivery_key`); the signature needs only its identity (`DedupSignature.identity_only`)."""

    PENDING = ReadModifyWriteStateSpec('pending', PickleCoder())
    WAITING = BagStateSpec('waiting', PickleCoder())  # (delivery, signature) of each pending id
    DECIDED = ReadModifyWriteStateSpec('decided', PickleCoder())
    SETTLE = TimerSpec('settle', TimeDomain.WATERMARK)

    def __init__(self, config: DedupConfig):
        self._decider = _Decider(config)

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                pending_state=beam.DoFn.StateParam(PENDING),
                waiting_state=beam.DoFn.StateParam(WAITING),
                decided_state=beam.DoFn.StateParam(DECIDED),
                settle=beam.DoFn.TimerParam(SETTLE)):
        _, (kind, payload) = element
        pending = pending_state.read() or {}
        if kind == 'doc':
            delivery, signature = payload
            decided = decided_state.read() or {}
            if self._decider.delivered_again(signature, pending, decided):
                decision, changed = self._decider.redelivery(delivery, signature, decided)
                if changed:
                    decided_state.write(decided)
                yield decision
                return
            self._decider.wait(signature, timestamp, pending)
            waiting_state.add((delivery, signature))
        elif not self._decider.match(payload, pending):
            return
        pending_state.write(pending)
        settle.set(_next_due(pending))

    @on_timer(SETTLE)
    def decide(self, fired=beam.DoFn.TimestampParam,
               pending_state=beam.DoFn.StateParam(PENDING),
               waiting_state=beam.DoFn.StateParam(WAITING),
               decided_state=beam.DoFn.StateParam(DECIDED),
               settle=beam.DoFn.TimerParam(SETTLE)):
        pending = pending_state.read() or {}
        decided = decided_state.read() or {}
        decisions, waiting = self._decider.decide(
            fired.micros, pending, decided,
            lambda: {signature.id: (delivery, signature)
                     for delivery, signature in waiting_state.read()})
        yield from decisions
        if waiting is not None:
            _replace_bag(waiting_state, list(waiting.values()))
        pending_state.write(pending)
        decided_state.write(decided)
        if pending:
            settle.set(_next_due(pending))


class _ApplyDecisionFn(beam.DoFn):
    """(delivery key, ('doc', document) or ('decision', `_Decision`)) -> the document with its
    decision, once both have arrived, at the decision's timestamp.

    Keyed by delivery, so the documents, the bulk of what the stage holds, wait spread over workers
    instead of in the decider's one key. A document and its decision may arrive in either order;
    each waits in its bag for the other. A message delivered twice has one key and two decisions:
    its copies are the same, so either copy takes either decision."""

    DOCUMENTS = BagStateSpec('documents', PickleCoder())
    DECISIONS = BagStateSpec('decisions', PickleCoder())  # (`_Decision`, timestamp micros)

    def process(self, element, timestamp=beam.DoFn.TimestampParam,
                documents=beam.DoFn.StateParam(DOCUMENTS),
                decisions=beam.DoFn.StateParam(DECISIONS)):
        _, (kind, payload) = element
        if kind == 'doc':
            waiting = list(decisions.read())
            if not waiting:
                documents.add(payload)
                return
            (decision, micros), rest = waiting[0], waiting[1:]
            _replace_bag(decisions, rest)
            yield TimestampedValue(_decided(payload, decision), Timestamp(micros=micros))
        else:
            waiting = list(documents.read())
            if not waiting:
                decisions.add((payload, timestamp.micros))
                return
            _replace_bag(documents, waiting[1:])
            yield _decided(waiting[0], payload)


def _replace_bag(bag, items: list) -> None:
    bag.clear()
    for item in items:
        bag.add(item)


def _decided(doc, decision: _Decision):
    if decision.new_id is None:
        return doc.replaced(dedup=decision.dedup)
    return doc.replaced(id=decision.new_id, dedup=decision.dedup)


def _to_decider(pair, arrival=beam.DoFn.TimestampParam):
    """(document, signature) -> the decider's one key and ('doc', (delivery key, identity)): the
    decider reads only the signature's id, order and content hash."""
    doc, signature = pair
    return _DECIDER_KEY, ('doc', (_delivery_key(doc.id, arrival), signature.identity_only()))


class FlagDuplicatesInStream(beam.PTransform):
    """Documents (unbounded) -> `StageOutputs(documents with dedup filled in, dead letters)`.

    The streaming counterpart of `batch.FlagDuplicates`: nothing is dropped, duplicates are
    flagged. A document whose signature is not computed within `timeout_seconds` is a dead letter.

    Two strategies give the same decisions (`stream_index`, default the config's
    `dedup.stream_index`, `auto` resolved by the pipeline's runner: `index.stream_index_strategy`):
    `keyed` files each signature under its candidate keys, each key's bucket in keyed state (this
    module), which spreads over a distributed runner's workers; `memory` keeps the buckets and the
    decider on one key in the worker's memory (`stream_index`), far fewer state reads and writes
    on a runner on one machine. `signing_hints` are the resource hints of the per-document steps
    before the index (where they run), none by default.
    """

    def __init__(self, config: DedupConfig, timeout_seconds: Optional[float] = None,
                 stream_index: Optional[str] = None, signing_hints: Optional[dict] = None):
        super().__init__()
        self._config = config
        self._timeout_seconds = timeout_seconds
        self._stream_index = stream_index or config.stream_index
        self._signing_hints = signing_hints or {}  # resource hints of the per-document steps

    def expand(self, docs):
        # Imported here: stream_index builds on this module's rules.
        from newswire.transforms.dedup.index import stream_index_strategy
        from newswire.transforms.dedup.stream_index import IndexAndDecideFn, to_index

        config = self._config
        hints = self._signing_hints
        signed, dead_letters = (
            docs
            # The arrival (publish) time stands in for publication times the text does not give.
            | 'WithArrivalTime' >> beam.Map(
                lambda doc, at=beam.DoFn.TimestampParam: (doc, at.micros / 1e6)
            ).with_resource_hints(**hints)
            | 'Sign' >> ApplyStage(SignDocumentsFn(config), STAGE,
                                   timeout_seconds=self._timeout_seconds
                                   ).with_resource_hints(**hints))
        strategy = stream_index_strategy(self._stream_index, docs.pipeline.runner,
                                         docs.pipeline.options)
        if strategy == MEMORY:
            flagged = (
                signed
                # With the signing: one stage, and the index's input crosses once.
                | 'ToIndex' >> beam.Map(to_index).with_resource_hints(**hints)
                | 'IndexAndDecide' >> beam.ParDo(IndexAndDecideFn(config))
                .with_input_types(Tuple[str, Any]))
            return StageOutputs(flagged, dead_letters)
        matches = (
            signed
            | 'Signatures' >> beam.MapTuple(lambda doc, signature: signature)
            | 'FileUnderCandidateKeys' >> beam.FlatMap(_encoded_candidate_keys, config)
            | 'CompareWithBucket' >> beam.ParDo(_IndexBucketFn(config))
            .with_input_types(Tuple[str, Any]))
        decisions = (
            (signed | 'ToDecider' >> beam.Map(_to_decider), matches)
            | 'DocumentsAndMatches' >> beam.Flatten()
            | 'Decide' >> beam.ParDo(_DecideFn(config)).with_input_types(Tuple[str, Any])
            | 'KeyDecisionByDelivery' >> beam.MapTuple(
                lambda delivery, decision: (delivery, ('decision', decision))))
        waiting = signed | 'KeyDocumentByDelivery' >> beam.MapTuple(
            lambda doc, signature, arrival=beam.DoFn.TimestampParam: (
                _delivery_key(doc.id, arrival), ('doc', doc)))
        flagged = (
            (waiting, decisions)
            | 'DocumentsAndDecisions' >> beam.Flatten()
            | 'ApplyDecision' >> beam.ParDo(_ApplyDecisionFn()).with_input_types(Tuple[str, Any]))
        return StageOutputs(flagged, dead_letters)
