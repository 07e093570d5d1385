"""Duplicates at three tiers: the same item again, near copies, and reports of the same story.

How it works, for documents A (published first) and B:

1. Each document gets a signature (`SignDocumentsFn`): its content hash, a MinHash of its word
   shingles with the number of distinct shingles, and a weighted term vector (see `similarity`).
2. The signature is filed under candidate keys: `x:<content hash>` and `s:<source id>` (exact), one
   key per MinHash LSH band (near copy) and `t:<term>` for its heaviest terms (same story). Only
   documents that share a key are ever compared: never all pairs.
3. In each key's bucket, documents are taken in publication order and each is compared with the
   ones before it within the time horizon (at most `max_bucket_comparisons` of them). A pair that
   passes the key's test yields a `Match(later=B, earlier=A, tier, score)`:
   exact (same normalized content or source id), near_copy (MinHash Jaccard >= near_copy_threshold,
   or estimated shingle containment >= near_copy_containment with Jaccard >= near_copy_min_jaccard:
   `is_near_copy`) or same_story (term-vector cosine >= story_threshold; below
   story_central_term_below the two must also share a central term: `is_same_story`).
   A band or term key shared by more than `max_documents_per_key` documents within the horizon is
   dropped, like a stop word (`dropped_key_kind`); exact keys never are, and each document in an
   exact bucket is matched with the earliest one within the horizon (`exact_matches`).
   Near copies share many bands (a copy of a 300-word text shares most of its 64), so in batch a band
   bucket only names its candidate pairs; each distinct pair is then tested once (`TestNearCopyPairs`:
   at 10,000 wire documents, 448,000 pairs named by bands are 17,000 distinct ones).
4. Per document, the best matches decide: `duplicate_of` = the earliest exact match,
   `near_duplicate_of` = the earliest near copy, and its story parent = the exact/near original or
   else the most similar earlier report. `story_id` is the root of that parent chain, so each
   document joins the story of its nearest earlier neighbour (single pass, in publication order).

Worked example on the seeds: 000, 001 and 002 report one meeting in different words (shingle Jaccard
0.05-0.10: no near copy) but share heavy terms (Naghiyev, Kauma, OSCE...); 001 and 002 each find an
earlier report above the story threshold, so all three get story_id = 000's id. The canonical item
is chosen deterministically: earliest published, then id.

The buckets here are batch `GroupByKey`s; the streaming pipeline keeps the same buckets as keyed state
expired by timers after the horizon, and reuses `compare_bucket`'s pair tests (`match_pair`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import struct
from dataclasses import dataclass
from typing import Any, Container, Iterable, Iterator, NamedTuple, Optional, Union

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from newswire.transforms import similarity
from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.records import (DedupInfo, Document, hash_of_normalized,
                                         normalize_for_hash)

STAGE = 'dedup'
_LOG = logging.getLogger(__name__)
EXACT, NEAR_COPY, SAME_STORY = 'exact', 'near_copy', 'same_story'
NEAR_COPY_PAIRS = 'near_copy_pairs'  # the batch bucket step's output of candidate pairs
DROPPED_KEYS = 'dropped_keys'  # and of the kind of each key it dropped (`dropped_key_kind`)
_NO_VECTOR = similarity.PackedVector()
# A story bucket of more reports than this gets its cosines from one sparse matrix product (below
# that, building the matrix costs more than the pairwise loop saves).
STORY_MATRIX_MIN_REPORTS = 16
_STORY_MATRIX_ROWS = 512  # later reports per product: memory stays (rows x (rows + max comparisons))
# How far a product's cosine can be from the pairwise loop's and still count as the same score: far
# above the rounding error of a sum of a few thousand products of unit-vector weights (~1e-13).
_STORY_SCREEN_MARGIN = 1e-9
# Distinct near-copy pairs the bucket step remembers per bundle (some 780 bytes each): past this it
# starts again, and `DistinctPairs` removes the repeats it then names.
_NAMED_PAIRS_MAX = 200_000


@dataclass(frozen=True)
class DedupConfig:
    shingle_words: int = 5
    num_perm: int = 256
    lsh_bands: int = 64
    lsh_rows: int = 4
    near_copy_threshold: float = 0.5
    near_copy_containment: float = 0.7  # above 1 turns the containment test off
    near_copy_min_jaccard: float = 0.45
    story_threshold: float = 0.3
    story_central_term_below: float = 0.5  # 0 turns the central-term test off
    story_keys: int = 8
    horizon_seconds: int = 7 * 24 * 3600
    max_bucket_comparisons: int = 200
    max_documents_per_key: int = 1000
    settle_seconds: int = 10
    minhash_seed: int = 1

    def __post_init__(self):
        if self.max_documents_per_key < 1:
            raise ValueError(f'max_documents_per_key must be at least 1, got '
                             f'{self.max_documents_per_key}')
        if self.lsh_bands * self.lsh_rows > self.num_perm:
            raise ValueError(f'lsh_bands * lsh_rows ({self.lsh_bands} * {self.lsh_rows}) must be '
                             f'at most num_perm ({self.num_perm})')


@dataclass(frozen=True)
class DedupSignature:
    id: str
    event_time: Optional[float]  # seconds since the epoch, None when the publication time is unknown
    content_hash: str
    source_key: str
    minhash: bytes  # `similarity.MINHASH_DTYPE` values, b'' when there is no text
    story_vector: similarity.PackedVector  # `similarity.story_features`' vector
    story_keys: tuple[str, ...]
    arrival_time: Optional[float] = None  # in a stream: when it was published to the queue
    shingle_count: int = 0  # distinct word shingles of the text, for the containment estimate

    @property
    def order_key(self) -> tuple:
        """Publication order: earliest first (arrival standing in for an unknown publication time),
        unknown times last, then by id."""
        when = self.event_time if self.event_time is not None else self.arrival_time
        return (when is None, when or 0.0, self.id)

    # What a copy of the signature carries where only one test reads it: a signature is filed under
    # some 70 buckets, and shuffling every feature with every copy tripled what the pipeline moved.
    def identity_only(self) -> 'DedupSignature':
        """Without MinHash, term vector and keys: for exact buckets and the annotation join."""
        return dataclasses.replace(self, minhash=b'', story_vector=_NO_VECTOR, story_keys=())

    def minhash_only(self) -> 'DedupSignature':
        """Without term vector and keys: for the near-copy test."""
        return dataclasses.replace(self, story_vector=_NO_VECTOR, story_keys=())

    def story_vector_only(self) -> 'DedupSignature':
        """Without MinHash and keys: for the same-story test."""
        return dataclasses.replace(self, minhash=b'', story_keys=())


@dataclass(frozen=True)
class Match:
    later: str
    earlier: str
    earlier_order: tuple
    tier: str
    score: float


def event_seconds(published_at: Optional[str]) -> Optional[float]:
    """ISO 8601 published_at -> epoch seconds (a date alone is its midnight UTC; no zone means UTC)."""
    if not published_at:
        return None
    try:
        parsed = dt.datetime.fromisoformat(published_at)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


class Signer:
    """Builds signatures; the MinHash permutations are made once, not per document."""

    def __init__(self, config: DedupConfig):
        self._config = config
        self._minhasher = similarity.MinHasher(config.num_perm, config.minhash_seed,
                                               config.shingle_words)

    def sign(self, doc: Document, arrival_time: Optional[float] = None) -> DedupSignature:
        """`arrival_time` (seconds) orders documents whose text gives no publication time; the
        horizon applies to publication times only."""
        text = doc.text
        normalized = normalize_for_hash(text)  # once, for the content hash and the shingles
        shingles = self._minhasher.shingles_of_normalized(normalized)
        language = doc.language.code if doc.language else 'en'
        features = similarity.story_features(doc.title, text, language,
                                             top_keys=self._config.story_keys)
        return DedupSignature(
            id=doc.id,
            event_time=event_seconds(doc.published_at),
            content_hash=hash_of_normalized(normalized),
            source_key=f'{doc.source.kind}:{doc.source.id}',
            minhash=self._minhasher.signature_of_shingles(shingles),
            story_vector=similarity.PackedVector.of(features.vector),
            story_keys=features.keys,
            arrival_time=arrival_time,
            shingle_count=len(shingles),
        )


def candidate_keys(sig: DedupSignature, config: DedupConfig) -> Iterable[tuple[str, DedupSignature]]:
    """The buckets a signature is filed under (see the module docstring); each copy carries only
    what its bucket's test reads (`match_pair`)."""
    identity = sig.identity_only()
    yield f'x:{sig.content_hash}', identity
    yield f's:{sig.source_key}', identity
    if sig.minhash:
        near = sig.minhash_only()
        width = config.lsh_rows * similarity.MINHASH_DTYPE.itemsize  # bytes per band
        for band in range(config.lsh_bands):
            values = sig.minhash[band * width:(band + 1) * width]
            digest = hashlib.blake2b(values, digest_size=10).hexdigest()
            yield f'b{band}:{digest}', near
    if sig.story_keys:
        story = sig.story_vector_only()
        for term in sig.story_keys:
            yield f't:{term}', story


class BucketEntry(NamedTuple):
    """All that a batch bucket which only orders its documents reads of each: exact buckets (their
    test is sharing the key) and band buckets (which only name pairs). It is shuffled packed in
    one bytes value (`pack_bucket_entry`), which Beam's coder writes without pickling: a signature
    goes into some 70 buckets, and unpickling them was a tenth of the batch pipeline's time."""
    order_key: tuple
    event_time: Optional[float]
    content_hash: str

    @property
    def id(self) -> str:
        return self.order_key[2]


class StoryEntry(NamedTuple):
    """All that a batch story bucket reads of each document (`compare_bucket` on a `t:` key). Shuffled
    as a plain tuple with the vector's two fields, like `BucketEntry`: a pickled signature in each of
    a document's `story_keys` (8) buckets was most of what the pipeline still pickled."""
    order_key: tuple
    event_time: Optional[float]
    story_vector: similarity.PackedVector

    @property
    def id(self) -> str:
        return self.order_key[2]


# A `BucketEntry` packed as one bytes value: (time unknown, time, event time known, event time,
# id length), then the id and the content hash, UTF-8.
_PACKED_ENTRY = struct.Struct('<?d?dI')


def pack_bucket_entry(order_key: tuple, event_time: Optional[float], content_hash: str) -> bytes:
    """A `BucketEntry` as one bytes object. The runner holds every entry of the shuffle at once, a
    document's in some 70 buckets: one object of ~100 bytes instead of a tuple of five (~300)."""
    unknown, when, doc_id = order_key
    encoded_id = doc_id.encode('utf-8')
    return (_PACKED_ENTRY.pack(unknown, when, event_time is not None, event_time or 0.0,
                               len(encoded_id))
            + encoded_id + content_hash.encode('utf-8'))


def unpack_bucket_entry(packed: bytes) -> 'BucketEntry':
    unknown, when, has_event_time, event_time, id_length = _PACKED_ENTRY.unpack_from(packed)
    start = _PACKED_ENTRY.size
    doc_id = packed[start:start + id_length].decode('utf-8')
    return BucketEntry((unknown, when, doc_id), event_time if has_event_time else None,
                       packed[start + id_length:].decode('utf-8'))


_BAND_DIGEST_BYTES = 10  # of a band key's digest (`candidate_keys`)


def band_group_key(key: str) -> str:
    """The batch shuffle's key for a band key: its band and the first byte of its digest. Most band
    keys are one document's alone, and the runner keeps a list per key: 256 groups per band are
    shuffled instead of some 60 keys per document, each entry carrying its full digest."""
    return key[:key.index(':') + 3]


def batch_bucket_entries(sig: DedupSignature, config: DedupConfig,
                         crowded: Container = ()) -> Iterable[tuple[str, Any]]:
    """`candidate_keys` for the batch shuffle, but for `crowded` story keys: a story bucket's copy
    as the plain tuple (order key, event time, terms, weights) of a `StoryEntry`, an exact one's as
    a packed `BucketEntry` (`pack_bucket_entry`), a band one's as its digest and a packed entry
    under its `band_group_key`."""
    for key, copy in candidate_keys(sig, config):
        if key[0] == 'b':
            _, digest = key.split(':', 1)
            yield band_group_key(key), (bytes.fromhex(digest) + pack_bucket_entry(
                copy.order_key, copy.event_time, copy.content_hash))
        elif key[0] == 't':
            if key not in crowded:
                yield key, (copy.order_key, copy.event_time, *copy.story_vector)
        else:
            yield key, pack_bucket_entry(copy.order_key, copy.event_time, copy.content_hash)


def _identity(signature) -> tuple:
    """Which signature a named pair means: the order key holds the id, and the content hash tells
    apart two texts under one id (a feed entry polled again after an edit)."""
    return signature.order_key, signature.content_hash


# The pair tests below read a document through its signature or a batch bucket's entry of it, which
# carries what that bucket's test reads.
Signed = Union[DedupSignature, BucketEntry, StoryEntry]


def within_horizon(a: Signed, b: Signed, horizon_seconds: float) -> bool:
    if a.event_time is None or b.event_time is None:
        return True
    return abs(a.event_time - b.event_time) <= horizon_seconds


def _story_cosine(earlier: Signed, later: Signed, vectors: dict) -> float:
    """`similarity.cosine` of the two term vectors, summed over the shared terms only, in term
    order (the vectors are sorted by term): the very additions `cosine` makes, whose other terms
    add 0.0, so the same float; about five times faster in a bucket of 200 earlier reports, where
    it was half of the batch pipeline's time. `vectors` caches each signature's lookup per bucket."""
    looked_up = []
    for signature in (earlier, later):
        entry = vectors.get(signature.id)
        if entry is None:
            weights = signature.story_vector.weights_by_term()
            entry = vectors[signature.id] = (weights, frozenset(weights))
        looked_up.append(entry)
    (a, a_terms), (b, b_terms) = looked_up
    return float(sum(a[term] * b[term] for term in sorted(a_terms & b_terms)))


def is_near_copy(jaccard: float, count_a: int, count_b: int, config: DedupConfig) -> bool:
    """The near-copy test on an estimated shingle Jaccard and the two shingle counts.

    Either the two texts are mostly the same (Jaccard >= near_copy_threshold), or the smaller one is
    mostly inside the larger one (estimated containment >= near_copy_containment) and they still
    overlap substantially (Jaccard >= near_copy_min_jaccard): a copy with a paragraph cut keeps its
    containment where its Jaccard drops.
    """
    if jaccard >= config.near_copy_threshold:
        return True
    if jaccard < config.near_copy_min_jaccard:
        return False
    return similarity.containment(jaccard, count_a, count_b) >= config.near_copy_containment


def is_same_story(cosine: float, earlier: Signed, later: Signed, config: DedupConfig) -> bool:
    """The same-story test on the term vectors' cosine: at or above story_threshold, and below
    story_central_term_below only if the heaviest term of one report occurs in the other
    (`similarity.shares_central_term`). A middling cosine alone also joins different events in one
    place and week: the names they share are the setting, not what each report is about."""
    if cosine < config.story_threshold:
        return False
    return (cosine >= config.story_central_term_below
            or similarity.shares_central_term(earlier.story_vector, later.story_vector))


def near_copy_match(earlier: DedupSignature, later: DedupSignature,
                    config: DedupConfig) -> Optional[Match]:
    """The near-copy test (a band bucket's) on one ordered pair; None if it fails."""
    score = similarity.minhash_jaccard(earlier.minhash, later.minhash)
    if not is_near_copy(score, earlier.shingle_count, later.shingle_count, config):
        return None
    return Match(later.id, earlier.id, earlier.order_key, NEAR_COPY, round(score, 4))


def match_pair(key: str, earlier: Signed, later: Signed,
               config: DedupConfig, vectors: Optional[dict] = None) -> Optional[Match]:
    """The test a bucket's key stands for, applied to one ordered pair; None if it fails.
    `vectors` (a dict kept for one bucket) makes the same-story test faster at the same result."""
    if earlier.id == later.id:
        return None
    kind = key[0]
    if kind in 'xs':
        tier, score = EXACT, 1.0
    elif kind == 'b':
        return near_copy_match(earlier, later, config)
    else:
        tier, score = SAME_STORY, (
            similarity.cosine(earlier.story_vector.unpacked(), later.story_vector.unpacked())
            if vectors is None
            else _story_cosine(earlier, later, vectors))
        if not is_same_story(score, earlier, later, config):
            return None
    return Match(later.id, earlier.id, earlier.order_key, tier, round(score, 4))


def candidate_pairs(signatures: Iterable, config: DedupConfig) -> Iterator[tuple]:
    """The (earlier, later) pairs one bucket compares: each document, in publication order, with the
    ones before it, nearest first, up to the first beyond the horizon and at most
    `max_bucket_comparisons` of them; never a document with itself (the same id twice).
    `signatures` are `DedupSignature`s, `BucketEntry`s or `StoryEntry`s."""
    ordered = sorted(signatures, key=lambda s: s.order_key)
    for index, later in enumerate(ordered):
        window = ordered[max(0, index - config.max_bucket_comparisons):index]
        for earlier in reversed(window):
            if not within_horizon(earlier, later, config.horizon_seconds):
                break
            if earlier.id != later.id:
                yield earlier, later


# Candidate keys that stop being keys when crowded, by their first letter, and what the summary
# calls them. Exact keys (`x:` content hash, `s:` source id) never do: their test is sharing the
# key, so a bucket of any size is decided in one pass (`exact_matches`).
CAPPED_KEY_KINDS = {'b': 'lsh_band', 't': 'story_term'}


def most_within_horizon(signatures: Iterable, horizon_seconds: float) -> int:
    """The most of `signatures` that lie within one horizon of each other; one whose publication
    time is unknown is within the horizon of any (`within_horizon`)."""
    return most_times_within_horizon([s.event_time for s in signatures], horizon_seconds)


def most_times_within_horizon(event_times: list, horizon_seconds: float) -> int:
    """`most_within_horizon` of publication times (None: unknown)."""
    times = sorted(t for t in event_times if t is not None)
    unknown = len(event_times) - len(times)
    most, first = 0, 0
    for index, when in enumerate(times):
        while when - times[first] > horizon_seconds:
            first += 1
        most = max(most, index - first + 1)
    return most + unknown


def dropped_key_kind(key: str, signatures: list, config: DedupConfig) -> Optional[str]:
    """`CAPPED_KEY_KINDS`' name for `key` when more than `max_documents_per_key` of its bucket's
    `signatures` lie within one horizon, else None.

    Such a key is dropped, like a stop word: a band or a heavy term that thousands of documents
    share says little about which of them are copies or one story, and comparing each with its
    200 predecessors in every such bucket makes memory and time grow with the shape of the data,
    not its size (short texts on a 40-word vocabulary: every heavy term in thousands of them).
    Worked example (cap 1000, horizon 7 days): `t:ferry` in 1,500 reports of one week is dropped;
    in 1,500 reports spread evenly over a year (some 30 a week) it stays a key.
    """
    kind = CAPPED_KEY_KINDS.get(key[0])
    if kind is None or len(signatures) <= config.max_documents_per_key:
        return None
    if most_within_horizon(signatures, config.horizon_seconds) <= config.max_documents_per_key:
        return None
    return kind


class CrowdedKeyFn(beam.CombineFn):
    """Publication times filed under one key -> whether more than `max_documents_per_key` of them
    lie within one horizon (`dropped_key_kind`'s test), without holding its bucket: batch story
    keys are tested so before their buckets are shuffled, a bucket being each report's term vector.
    The accumulator is the times, or None once they are crowded (adding never uncrowds them);
    crowding is looked for at twice, four times... the cap, not at every time added."""

    def __init__(self, config: DedupConfig):
        self._cap = config.max_documents_per_key
        self._horizon_seconds = config.horizon_seconds

    def create_accumulator(self):
        return []

    def _settled(self, times: Optional[list]) -> Optional[list]:
        if times is None or len(times) <= self._cap:
            return times
        crowded = most_times_within_horizon(times, self._horizon_seconds) > self._cap
        return None if crowded else times

    def add_input(self, times, event_time):
        if times is None:
            return None
        times.append(event_time)
        blocks, rest = divmod(len(times), self._cap + 1)
        if rest == 0 and blocks & (blocks - 1) == 0:  # (cap + 1) times 1, 2, 4, 8...
            return self._settled(times)
        return times

    def merge_accumulators(self, accumulators):
        merged: list = []
        for times in accumulators:
            if times is None:
                return None
            merged.extend(times)
        return self._settled(merged)

    def extract_output(self, times) -> bool:
        return self._settled(times) is None


def exact_matches(ordered: list, config: DedupConfig) -> Iterator[Match]:
    """An exact bucket's matches, `ordered` by `order_key`: each document with the earliest other
    one within the horizon before it, the one `BestMatchesFn` would keep of all the pairs
    `candidate_pairs` names. Exact buckets are not capped (`max_bucket_comparisons`,
    `max_documents_per_key`): 20,000 copies of one text give 20,000 matches, all to the first
    copy (a window of the 200 nearest would point each at the copy 200 places back)."""
    first = 0
    for index, later in enumerate(ordered):
        if later.event_time is None:
            first = 0  # within the horizon of every other document
        else:
            # Known times sort first and ascending: the earliest within the horizon only moves on.
            while not within_horizon(ordered[first], later, config.horizon_seconds):
                first += 1
        earlier = first
        while earlier < index and ordered[earlier].id == later.id:
            earlier += 1
        if earlier < index:
            match = ordered[earlier]
            yield Match(later.id, match.id, match.order_key, EXACT, 1.0)


def _story_matches_by_product(key: str, ordered: list,
                              config: DedupConfig) -> Iterator[Match]:
    """`compare_bucket` for a large story bucket, `ordered` by `order_key`: the same pairs, the same
    matches, faster.

    One sparse product (`similarity.term_matrix`) gives the cosines of a block of later reports with
    every report before them; the loop's window and horizon rule (`candidate_pairs`) pick each later
    report's earlier ones. The product sums in its own order, so a cosine may differ from the loop's
    in the last bits: where that could change the decision or the 4-decimal score (within
    `_STORY_SCREEN_MARGIN` of the threshold or of a rounding boundary), the pair is scored by
    `match_pair`, the loop's own arithmetic. Scores and decisions are the loop's. In a bucket of 200
    reports, ~20,000 pairwise cosines become one product.
    """
    cap = config.max_bucket_comparisons
    times = np.array([np.nan if s.event_time is None else s.event_time for s in ordered])
    matrix = similarity.term_matrix([s.story_vector for s in ordered])
    floor = config.story_threshold - _STORY_SCREEN_MARGIN
    vectors: dict = {}
    for start in range(0, len(ordered), _STORY_MATRIX_ROWS):
        stop = min(start + _STORY_MATRIX_ROWS, len(ordered))
        first = max(0, start - cap)
        cosines = (matrix[start:stop] @ matrix[first:stop].T).toarray()
        for index in range(start, stop):
            lowest = max(0, index - cap)
            if not np.isnan(times[index]):
                # Walking back from the nearest, the loop stops at the first report (with a time)
                # beyond the horizon: the window starts after the last such one.
                beyond = np.flatnonzero(
                    np.abs(times[lowest:index] - times[index]) > config.horizon_seconds)
                if beyond.size:
                    lowest += int(beyond[-1]) + 1
            row = cosines[index - start, lowest - first:index - first]
            later = ordered[index]
            for offset in np.flatnonzero(row >= floor):
                earlier = ordered[lowest + int(offset)]
                cosine = float(row[offset])
                score = _certain_score(cosine, config)
                if score is None:
                    match = match_pair(key, earlier, later, config, vectors)
                    if match is not None:
                        yield match
                elif earlier.id != later.id and is_same_story(cosine, earlier, later, config):
                    yield Match(later.id, earlier.id, earlier.order_key, SAME_STORY, score)


def _certain_score(cosine: float, config: DedupConfig) -> Optional[float]:
    """The score of a same-story match whose cosine is `cosine` give or take `_STORY_SCREEN_MARGIN`,
    when all of that range passes the threshold, falls on one side of story_central_term_below and
    rounds alike (`round` is monotonic); else None."""
    low, high = cosine - _STORY_SCREEN_MARGIN, cosine + _STORY_SCREEN_MARGIN
    if low < config.story_threshold or low < config.story_central_term_below <= high:
        return None
    score = round(low, 4)
    return score if score == round(high, 4) else None


def compare_bucket(key: str, signatures: Iterable,
                   config: DedupConfig) -> Iterable[Match]:
    """All matches in one bucket: each document against those published before it; none in a
    bucket whose key is dropped (`dropped_key_kind`). `signatures` are `DedupSignature`s, or a batch
    bucket's `StoryEntry`s or `BucketEntry`s."""
    ordered = sorted(signatures, key=lambda s: s.order_key)
    if dropped_key_kind(key, ordered, config):
        return
    if key[0] in 'xs':
        yield from exact_matches(ordered, config)
        return
    if key[0] == 't' and len(ordered) > STORY_MATRIX_MIN_REPORTS:
        yield from _story_matches_by_product(key, ordered, config)
        return
    vectors: dict = {}
    for earlier, later in candidate_pairs(ordered, config):
        match = match_pair(key, earlier, later, config, vectors)
        if match is not None:
            yield match


def compare_or_name_pairs(key: str, entries: Iterable, config: DedupConfig) -> Iterable:
    """The batch bucket step, on what `batch_bucket_entries` filed. A dropped key
    (`dropped_key_kind`) yields its kind on `DROPPED_KEYS` and nothing else; a band bucket yields
    its candidate pairs on `NEAR_COPY_PAIRS` as (later, earlier) `_identity`s, for
    `TestNearCopyPairs`; any other bucket yields its `Match`es. A group of band buckets
    (`band_group_key`) is taken bucket by bucket."""
    if key[0] == 'b':
        band = key.split(':', 1)[0]
        buckets: dict[bytes, list] = {}
        for entry in entries:
            buckets.setdefault(entry[:_BAND_DIGEST_BYTES], []).append(
                unpack_bucket_entry(entry[_BAND_DIGEST_BYTES:]))
        for digest, bucket in buckets.items():
            yield from _bucket_outputs(f'{band}:{digest.hex()}', bucket, config)
        return
    if key[0] == 't':
        entries = [StoryEntry(order_key, event_time, similarity.PackedVector(terms, weights))
                   for order_key, event_time, terms, weights in entries]
    else:
        entries = [unpack_bucket_entry(entry) for entry in entries]
    yield from _bucket_outputs(key, entries, config)


def _bucket_outputs(key: str, entries: list, config: DedupConfig) -> Iterable:
    """`compare_or_name_pairs` for one bucket, its entries unpacked."""
    entries.sort(key=lambda entry: entry.order_key)
    dropped = dropped_key_kind(key, entries, config)
    if dropped:
        yield beam.pvalue.TaggedOutput(DROPPED_KEYS, dropped)
    elif key[0] == 'b':
        for earlier, later in candidate_pairs(entries, config):
            yield beam.pvalue.TaggedOutput(NEAR_COPY_PAIRS, (_identity(later), _identity(earlier)))
    elif key[0] == 't':
        # Only each report's best match goes on, the one `BestMatchesFn` keeps of them anyway:
        # a bucket of reports much alike would send up to 200 per report.
        best: dict[str, Match] = {}
        for match in compare_bucket(key, entries, config):
            if _better(SAME_STORY, best.get(match.later), match):
                best[match.later] = match
        yield from best.values()
    else:
        yield from compare_bucket(key, entries, config)


class _CompareOrNamePairsFn(beam.DoFn):
    """(candidate key, bucket entries) -> `compare_or_name_pairs`, each candidate pair named once per
    bundle. A near copy shares most of its 64 bands with its original, so the buckets name each pair
    some 25 times (10,000 wire documents: 448,000 namings of 17,000 pairs), and shuffling them all
    into `DistinctPairs` cost the DirectRunner 4-7% of the run. `DistinctPairs` still removes what
    different bundles (or one bundle past `_NAMED_PAIRS_MAX`) both name. A DoFn, not a lambda, so
    that the step inside `.with_outputs` has a stable name."""

    def __init__(self, config: DedupConfig):
        self._config = config
        self._named: set = set()

    def start_bundle(self):
        self._named = set()

    def process(self, bucket):
        key, entries = bucket
        for output in compare_or_name_pairs(key, entries, self._config):
            if isinstance(output, beam.pvalue.TaggedOutput) and output.tag == NEAR_COPY_PAIRS:
                if output.value in self._named:
                    continue
                if len(self._named) >= _NAMED_PAIRS_MAX:
                    self._named.clear()
                self._named.add(output.value)
            yield output


def _probes(joined) -> Iterator[tuple[str, tuple[tuple, DedupSignature]]]:
    """(later id, its signatures and the pairs naming it) -> (earlier id, (earlier `_identity`,
    later signature)) per distinct pair."""
    _, grouped = joined
    later = {_identity(signature): signature for signature in grouped['signatures']}
    for later_identity, earlier_identity in grouped['pairs']:
        yield earlier_identity[0][2], (earlier_identity, later[later_identity])


def _test_probes(joined, config: DedupConfig) -> Iterator[Match]:
    """(earlier id, its signatures and the later signatures probing it) -> near-copy `Match`es."""
    _, grouped = joined
    earlier = {_identity(signature): signature for signature in grouped['signatures']}
    for earlier_identity, later in grouped['probes']:
        match = near_copy_match(earlier[earlier_identity], later, config)
        if match is not None:
            yield match


class TestNearCopyPairs(beam.PTransform):
    """(near-copy signatures, candidate pairs named by band buckets) -> near-copy `Match`es, each
    distinct pair tested once.

    A signature reaches its pairs by two joins, keyed by the later then the earlier document: the
    pair (B, A) first picks up B's signature, then meets A's. Worked example: A, B and C share bands
    2, 5 and 9; the buckets name (B, A) three times, (C, A) and (C, B) three times each; three
    distinct pairs, three MinHash comparisons instead of nine.
    """

    __test__ = False  # a transform, not a pytest test class

    def __init__(self, config: DedupConfig):
        super().__init__()
        self._config = config

    def expand(self, inputs):
        signatures, pairs = inputs
        by_id = signatures | 'KeyById' >> beam.Map(lambda s: (s.id, s))
        probes = (
            {'signatures': by_id,
             'pairs': (pairs
                       | 'DistinctPairs' >> beam.Distinct()
                       | 'KeyByLater' >> beam.Map(lambda pair: (pair[0][0][2], pair)))}
            | 'JoinLaterSignature' >> beam.CoGroupByKey()
            | 'ProbeEarlier' >> beam.FlatMap(_probes))
        return ({'signatures': by_id, 'probes': probes}
                | 'JoinEarlierSignature' >> beam.CoGroupByKey()
                | 'TestPairs' >> beam.FlatMap(_test_probes, self._config))


@dataclass(frozen=True)
class BestMatches:
    exact: Optional[Match] = None
    near_copy: Optional[Match] = None
    same_story: Optional[Match] = None

    def parent(self) -> Optional[Match]:
        return self.exact or self.near_copy or self.same_story


def _better(tier: str, current: Optional[Match], candidate: Match) -> bool:
    if current is None:
        return True
    if tier == SAME_STORY:  # the most similar earlier report; ties to the earliest
        return (-candidate.score, candidate.earlier_order) < (-current.score, current.earlier_order)
    return candidate.earlier_order < current.earlier_order  # copies point at the earliest original


class BestMatchesFn(beam.CombineFn):
    """Matches of one document -> `BestMatches` (order-independent, so any runner combines it alike)."""

    def create_accumulator(self):
        return BestMatches()

    def add_input(self, best: BestMatches, match: Match):
        current = getattr(best, match.tier)
        if _better(match.tier, current, match):
            return dataclasses.replace(best, **{match.tier: match})
        return best

    def merge_accumulators(self, accumulators):
        merged = BestMatches()
        for best in accumulators:
            for match in (best.exact, best.near_copy, best.same_story):
                if match is not None:
                    merged = self.add_input(merged, match)
        return merged

    def extract_output(self, best):
        return best


def story_root(doc_id: str, parents: dict) -> str:
    """Follow parent links to the first document of the story (parents always precede children)."""
    seen = 0
    while doc_id in parents and seen <= len(parents):
        doc_id = parents[doc_id]
        seen += 1
    return doc_id


class SignDocumentsFn(beam.DoFn):
    """Document -> (document, its signature); in a stream, (document, arrival seconds) -> the same."""

    def __init__(self, config: DedupConfig):
        self._config = config
        self._signer: Optional[Signer] = None

    def setup(self):
        self._signer = Signer(self._config)

    def process(self, item):
        doc, arrival = item if isinstance(item, tuple) else (item, None)
        yield doc, self._signer.sign(doc, arrival)


def dedup_info(signature: DedupSignature, best: BestMatches, parents: dict) -> DedupInfo:
    tier = (EXACT if best.exact else NEAR_COPY if best.near_copy
            else SAME_STORY if best.same_story else None)
    return DedupInfo(
        content_hash=signature.content_hash,
        story_id=story_root(signature.id, parents),
        tier=tier,
        duplicate_of=best.exact.earlier if best.exact else None,
        near_duplicate_of=best.near_copy.earlier if best.near_copy and not best.exact else None,
        near_copy_similarity=best.near_copy.score if best.near_copy else None,
        story_similarity=best.same_story.score if best.same_story else None,
    )


class _AnnotateFn(beam.DoFn):

    def __init__(self):
        self._counters = {tier: Metrics.counter('newswire', f'dedup_{tier}')
                          for tier in (EXACT, NEAR_COPY, SAME_STORY)}

    def process(self, joined, parents):
        _, grouped = joined
        best = next(iter(grouped['best']), BestMatches())
        for doc, signature in grouped['signed']:
            info = dedup_info(signature, best, parents)
            if info.tier:
                self._counters[info.tier].inc()
            yield dataclasses.replace(doc, dedup=info)


class DedupOutputs(NamedTuple):
    """`StageOutputs` and the candidate keys the stage dropped."""
    good: beam.PCollection
    dead_letters: beam.PCollection
    dropped_keys: beam.PCollection  # (key kind, how many keys of that kind), one per kind


class _ReportDroppedKeysFn(beam.DoFn):
    """(key kind, keys dropped) -> the same, counted (`dedup_dropped_keys_<kind>`) and logged: once
    per kind, not per key or document."""

    def __init__(self, config: DedupConfig):
        self._config = config

    def process(self, kind_and_count):
        kind, count = kind_and_count
        Metrics.counter('newswire', f'dedup_dropped_keys_{kind}').inc(count)
        log_dropped_keys(kind, count, self._config)
        yield kind_and_count


def log_dropped_keys(kind: str, count: Optional[int], config: DedupConfig) -> None:
    how_many = f'{count} {kind} keys were' if count is not None else f'{kind} keys are being'
    _LOG.warning('dedup: %s shared by more than %d documents within %d s and dropped as candidate '
                 'keys, like stop words (max_documents_per_key)', how_many,
                 config.max_documents_per_key, config.horizon_seconds)


class FlagDuplicates(beam.PTransform):
    """Documents -> `DedupOutputs(documents with dedup filled in, dead letters, dropped keys)`.

    Nothing is dropped: duplicates are flagged (`duplicate_of`, `near_duplicate_of`, `story_id`), never
    removed. A document whose signature cannot be computed (or not within `timeout_seconds`)
    becomes a dead letter. Candidate keys shared by too many documents are dropped
    (`dropped_key_kind`) and counted per kind.
    """

    def __init__(self, config: DedupConfig, timeout_seconds: Optional[float] = None):
        super().__init__()
        self._config = config
        self._timeout_seconds = timeout_seconds

    def expand(self, docs):
        config = self._config
        signed, dead_letters = docs | 'Sign' >> ApplyStage(SignDocumentsFn(config), STAGE,
                                                          timeout_seconds=self._timeout_seconds)
        signatures = signed | 'Signatures' >> beam.MapTuple(lambda doc, signature: signature)
        # Story keys are tested for crowding on their times alone, and crowded ones never filed.
        crowded_story_keys = (
            signatures
            | 'StoryKeyTimes' >> beam.FlatMap(
                lambda s: ((f't:{term}', s.event_time) for term in s.story_keys))
            | 'FindCrowdedStoryKeys' >> beam.CombinePerKey(CrowdedKeyFn(config))
            | 'CrowdedOnly' >> beam.Filter(lambda key_and_crowded: key_and_crowded[1]))
        compared = (
            signatures
            | 'FileUnderCandidateKeys' >> beam.FlatMap(
                batch_bucket_entries, config, crowded=beam.pvalue.AsDict(crowded_story_keys))
            | 'GroupByCandidateKey' >> beam.GroupByKey()
            | 'CompareWithinBucket' >> beam.ParDo(_CompareOrNamePairsFn(config))
            .with_outputs(NEAR_COPY_PAIRS, DROPPED_KEYS, main='matches'))
        dropped_keys = (
            (compared[DROPPED_KEYS],
             crowded_story_keys | 'StoryKeyKind' >> beam.Map(lambda _: CAPPED_KEY_KINDS['t']))
            | 'AllDroppedKeys' >> beam.Flatten()
            | 'CountDroppedKeys' >> beam.combiners.Count.PerElement()
            | 'ReportDroppedKeys' >> beam.ParDo(_ReportDroppedKeysFn(config)))
        near_copies = (
            (signatures | 'NearCopySignatures' >> beam.Map(DedupSignature.minhash_only),
             compared[NEAR_COPY_PAIRS])
            | 'TestNearCopyPairs' >> TestNearCopyPairs(config))
        best = (
            (compared.matches, near_copies)
            | 'AllMatches' >> beam.Flatten()
            | 'KeyByLaterDocument' >> beam.Map(lambda match: (match.later, match))
            | 'BestMatchPerDocument' >> beam.CombinePerKey(BestMatchesFn()))
        parents = (
            best
            | 'StoryParent' >> beam.MapTuple(lambda doc_id, b: (doc_id, b.parent().earlier))
            | 'ParentsAsDict' >> beam.combiners.ToDict())
        flagged = (
            {
                # The annotation reads only the signature's id and content hash: the bulky
                # MinHash and term vector stay out of this shuffle.
                'signed': signed | 'KeyById' >> beam.MapTuple(
                    lambda d, s: (d.id, (d, s.identity_only()))),
                'best': best,
            }
            | 'JoinById' >> beam.CoGroupByKey()
            | 'Annotate' >> beam.ParDo(_AnnotateFn(), beam.pvalue.AsSingleton(parents)))
        return DedupOutputs(flagged, dead_letters, dropped_keys)
