"""From a document's matches to its `DedupInfo`: the best match per tier (`BestMatchesFn`) and the
story, the root of the chain of story parents (`story_root`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import apache_beam as beam

from newswire.transforms.dedup.pairs import EXACT, NEAR_COPY, SAME_STORY, Match
from newswire.transforms.dedup.signature import DedupSignature
from newswire.transforms.records import DedupInfo

@dataclass(frozen=True)
class BestMatches:
    exact: Optional[Match] = None
    near_copy: Optional[Match] = None
    same_story: Optional[Match] = None

    def parent(self) -> Optional[Match]:
        return self.exact or self.near_copy or self.same_story


def better_match(tier: str, current: Optional[Match], candidate: Match) -> bool:
    if current is None:
        return True
    if tier == SAME_STORY:  # the most similar earlier report; ties to the earliest
        return (-candidate.score, candidate.earlier_order) < (-current.score, current.earlier_order)
    # Copies point at the earliest original. Two matches with one earlier document differ only when
    # a later id comes twice with other texts: the closer copy wins, so that the order in which the
    # matches come never decides (`BestMatchesFn` is then order-independent, as runners need).
    return ((candidate.earlier_order, -candidate.score)
            < (current.earlier_order, -current.score))


class BestMatchesFn(beam.CombineFn):
    """Matches of one document -> `BestMatches` (order-independent, so any runner combines it alike)."""

    def create_accumulator(self):
        return BestMatches()

    def add_input(self, best: BestMatches, match: Match):
        current = getattr(best, match.tier)
        if better_match(match.tier, current, match):
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
