"""One bucket's comparisons: which pairs of its documents are tested (`candidate_pairs`), and all
the matches in it (`compare_bucket`), batch and stream alike."""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

import numpy as np

from newswire.transforms import similarity
from newswire.transforms.dedup.config import DedupConfig
from newswire.transforms.dedup.crowding import dropped_key_kind
from newswire.transforms.dedup.keys import CandidateKey, KeyKind
from newswire.transforms.dedup.pairs import (EXACT, SAME_STORY, STORY_SCREEN_MARGIN, Match,
                                             is_same_story, match_pair, within_horizon)

# A story bucket of more reports than this gets its cosines from one sparse matrix product (below
# that, building the matrix costs more than the pairwise loop saves).
STORY_MATRIX_MIN_REPORTS = 16
_STORY_MATRIX_ROWS = 512  # later reports per product: memory stays (rows x (rows + max comparisons))


def candidate_pairs(signatures: Iterable, config: DedupConfig,
                    in_order: bool = False) -> Iterator[tuple]:
    """The (earlier, later) pairs one bucket compares: each document, in publication order, with the
    ones before it, nearest first, up to the first beyond the horizon and at most
    `max_bucket_comparisons` of them; never a document with itself (the same id twice).
    `signatures` are `DedupSignature`s, `BucketEntry`s or `StoryEntry`s; `in_order`: a list
    already sorted by `order_key`, taken as it is (sorting it again, stably, would change nothing)."""
    ordered = signatures if in_order else sorted(signatures, key=lambda s: s.order_key)
    for index, later in enumerate(ordered):
        window = ordered[max(0, index - config.max_bucket_comparisons):index]
        for earlier in reversed(window):
            if not within_horizon(earlier, later, config.horizon_seconds):
                break
            if earlier.id != later.id:
                yield earlier, later


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


def _story_matches_by_product(key: CandidateKey, ordered: list, config: DedupConfig,
                              columns: Optional[similarity.TermColumns]) -> Iterator[Match]:
    """`compare_bucket` for a large story bucket, `ordered` by `order_key`: the same pairs, the same
    matches, faster.

    One sparse product (of a `similarity.term_matrix`, or of `columns`' matrix) gives the cosines of
    a block of later reports with every report before them; the loop's window and horizon rule
    (`candidate_pairs`) pick each later report's earlier ones. The product sums in its own order,
    so a cosine may differ from the loop's in the last bits: where that could change the decision
    or the 4-decimal score (within `STORY_SCREEN_MARGIN` of the threshold or of a rounding
    boundary), the pair is scored by `match_pair`, the loop's own arithmetic. Scores and decisions
    are the loop's. In a bucket of 200 reports, ~20,000 pairwise cosines become one product.
    """
    cap = config.max_bucket_comparisons
    times = np.array([np.nan if s.event_time is None else s.event_time for s in ordered])
    story_vectors = [s.story_vector for s in ordered]
    matrix = columns.matrix(story_vectors) if columns else similarity.term_matrix(story_vectors)
    floor = config.story_threshold - STORY_SCREEN_MARGIN
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
    """The score of a same-story match whose cosine is `cosine` give or take `STORY_SCREEN_MARGIN`,
    when all of that range passes the threshold, falls on one side of story_central_term_below and
    rounds alike (`round` is monotonic); else None."""
    low, high = cosine - STORY_SCREEN_MARGIN, cosine + STORY_SCREEN_MARGIN
    if low < config.story_threshold or low < config.story_central_term_below <= high:
        return None
    score = round(low, 4)
    return score if score == round(high, 4) else None


def compare_bucket(key: CandidateKey, signatures: Iterable, config: DedupConfig,
                   in_order: bool = False,
                   columns: Optional[similarity.TermColumns] = None,
                   tested: Optional[dict] = None) -> Iterable[Match]:
    """All matches in one bucket: each document against those published before it; none in a
    bucket whose key is dropped (`dropped_key_kind`). `signatures` are `DedupSignature`s, or a batch
    bucket's `StoryEntry`s or `BucketEntry`s; `in_order` as in `candidate_pairs`; `columns` numbers
    the terms of a large story bucket's product across the buckets a caller compares (each bucket
    numbers its own without); `tested` keeps the result of each pair a small story bucket tests
    across the buckets a caller compares, by the two signatures' `id` (they must stay alive
    meanwhile), so that a pair named in another bucket is not tested again."""
    ordered = signatures if in_order else sorted(signatures, key=lambda s: s.order_key)
    if dropped_key_kind(key, ordered, config):
        return
    if key.kind.exact:
        yield from exact_matches(ordered, config)
        return
    if key.kind is KeyKind.TERM and len(ordered) > STORY_MATRIX_MIN_REPORTS:
        yield from _story_matches_by_product(key, ordered, config, columns)
        return
    vectors: dict = {}
    for earlier, later in candidate_pairs(ordered, config, in_order=True):
        if tested is None:
            match = match_pair(key, earlier, later, config, vectors)
        else:
            pair = (id(earlier), id(later))
            match = tested.get(pair, _UNTESTED)
            if match is _UNTESTED:
                match = tested[pair] = match_pair(key, earlier, later, config, vectors)
        if match is not None:
            yield match


_UNTESTED = object()
