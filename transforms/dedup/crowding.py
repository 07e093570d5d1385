"""Crowded candidate keys: a band or heavy term shared by too many documents within the horizon
stops being a key, like a stop word (`max_documents_per_key`)."""

from __future__ import annotations

import logging
from typing import Iterable, Optional

import apache_beam as beam

from newswire.transforms.dedup.config import DedupConfig
from newswire.transforms.dedup.keys import CandidateKey

_LOG = logging.getLogger(__name__)


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


def dropped_key_kind(key: CandidateKey, signatures: list, config: DedupConfig) -> Optional[str]:
    """`KeyKind.capped_name` of `key` when more than `max_documents_per_key` of its bucket's
    `signatures` lie within one horizon, else None.

    Such a key is dropped, like a stop word: a band or a heavy term that thousands of documents
    share says little about which of them are copies or one story, and comparing each with its
    200 predecessors in every such bucket makes memory and time grow with the shape of the data,
    not its size (short texts on a 40-word vocabulary: every heavy term in thousands of them).
    Worked example (cap 1000, horizon 7 days): `t:ferry` in 1,500 reports of one week is dropped;
    in 1,500 reports spread evenly over a year (some 30 a week) it stays a key.
    """
    kind = key.kind.capped_name
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


def log_dropped_keys(kind: str, count: Optional[int], config: DedupConfig) -> None:
    how_many = f'{count} {kind} keys were' if count is not None else f'{kind} keys are being'
    _LOG.warning('dedup: %s shared by more than %d documents within %d s and dropped as candidate '
                 'keys, like stop words (max_documents_per_key)', how_many,
                 config.max_documents_per_key, config.horizon_seconds)
