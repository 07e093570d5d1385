"""The pair tests: whether a later document is an exact copy, a near copy or a report of the same
story as an earlier one, and the `Match` that says so."""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Optional, Union

from newswire.transforms import similarity
from newswire.transforms.dedup.config import DedupConfig
from newswire.transforms.dedup.entries import BucketEntry, StoryEntry
from newswire.transforms.dedup.keys import CandidateKey, KeyKind
from newswire.transforms.dedup.signature import DedupSignature

EXACT, NEAR_COPY, SAME_STORY = 'exact', 'near_copy', 'same_story'


# How far a cosine summed in another order (a sparse product's, a set's) can be from the pairwise
# loop's and still count as the same score: far above the rounding error of a sum of a few thousand
# products of unit-vector weights (~1e-13).
STORY_SCREEN_MARGIN = 1e-9


@dataclass(frozen=True)
class Match:
    later: str
    earlier: str
    earlier_order: tuple
    tier: str
    score: float



# The pair tests below read a document through its signature or a batch bucket's entry of it, which
# carries what that bucket's test reads.
Signed = Union[DedupSignature, BucketEntry, StoryEntry]


def within_horizon(a: Signed, b: Signed, horizon_seconds: float) -> bool:
    if a.event_time is None or b.event_time is None:
        return True
    return abs(a.event_time - b.event_time) <= horizon_seconds


def _story_cosine(earlier: Signed, later: Signed, vectors: dict,
                  floor: Optional[float] = None) -> Optional[float]:
    """`similarity.cosine` of the two term vectors, summed over the shared terms only, in term
    order (the vectors are sorted by term): the very additions `cosine` makes, whose other terms
    add 0.0, so the same float, without walking the terms the two do not share. `vectors` caches
    each signature's lookup per bucket (or per arrival in a stream, whose signatures all stay alive
    meanwhile, so that `id` names one). With a `floor`, None for a pair whose cosine is certainly
    below it (`STORY_SCREEN_MARGIN`)."""
    looked_up = []
    for signature in (earlier, later):
        # By the vector itself too: one id may come twice with two texts.
        name = (signature.id, id(signature.story_vector))
        entry = vectors.get(name)
        if entry is None:
            entry = vectors[name] = _terms_and_weights(signature.story_vector)
        looked_up.append(entry)
    (a, a_terms), (b, b_terms) = looked_up
    shared = a_terms & b_terms
    # Most pairs of a bucket fall short: summed in the set's order, whose rounding is far inside
    # the margin, they are dropped without sorting their terms.
    if floor is not None and _sum_of_products(a, b, shared) < floor - STORY_SCREEN_MARGIN:
        return None
    return float(_sum_of_products(a, b, sorted(shared)))


def _sum_of_products(a: dict, b: dict, terms) -> float:
    # Summed left to right by `sum`, as the generator `sum(a[t] * b[t] for t in terms)` would, with
    # C iterators instead of a generator frame per term.
    return sum(map(operator.mul, map(a.__getitem__, terms), map(b.__getitem__, terms)))


# A report sits in several story buckets (some 8 heavy terms): its vector is unpacked once, not per
# bucket. The cache holds the unpacked vectors of 2,048 reports, some 30 MB; callers only read them.
@functools.lru_cache(maxsize=2048)
def _terms_and_weights(vector: similarity.PackedVector) -> tuple[dict, frozenset]:
    weights = vector.weights_by_term()
    return weights, frozenset(weights)


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


def match_pair(key: CandidateKey, earlier: Signed, later: Signed,
               config: DedupConfig, vectors: Optional[dict] = None) -> Optional[Match]:
    """The test a bucket's key stands for, applied to one ordered pair; None if it fails.
    `vectors` (a dict kept for one bucket) makes the same-story test faster at the same result."""
    if earlier.id == later.id:
        return None
    if key.kind.exact:
        tier, score = EXACT, 1.0
    elif key.kind is KeyKind.BAND:
        return near_copy_match(earlier, later, config)
    else:
        tier, score = SAME_STORY, (
            similarity.cosine(earlier.story_vector.unpacked(), later.story_vector.unpacked())
            if vectors is None
            else _story_cosine(earlier, later, vectors, floor=config.story_threshold))
        if score is None or not is_same_story(score, earlier, later, config):
            return None
    return Match(later.id, earlier.id, earlier.order_key, tier, round(score, 4))
