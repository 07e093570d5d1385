"""The batch dedup stage's in-memory strategy (`dedup.batch_index: memory`): every signature goes
to one worker, which files them in one index and runs the very bucket tests of the shuffle strategy
(`batch`) there.

The shuffle strategy files each signature under some 74 candidate keys and groups them with
`GroupByKey`s: it scales out on a distributed runner, but on a local one each of those copies
crosses the runner (Prism and the portable runners hold all shuffles in their own process) and
costs more than the comparisons themselves. Here one element per document crosses the runner, and
the decisions come back as a side input keyed by document id, so the documents are not shuffled.

The index holds each signature once, by position in publication order; a bucket is a list of
positions. Band keys, 64 a document and nearly all unshared, are not made: the bands' MinHash
values are held in one array (16 bytes per band and document) and grouped per band by sorting, so
that only shared ones become buckets (two bands share a key exactly when their values are equal).
Beyond the signatures themselves (the MinHash is 1 KB, the term vector and heavy terms most of the
rest) a document costs that copy of its MinHash and its entries under two exact keys and eight terms
(docs/dedup-batch.md has the sizes).

Same tests, same decisions: exact and story buckets go through `buckets.compare_bucket`, a band
bucket names its candidate pairs (`buckets.candidate_pairs`) and each distinct pair is tested once
(`pairs.near_copy_match`), dropped keys are those of `crowding.dropped_key_kind`, counted per kind,
and the matches are combined by `decision.BestMatchesFn`; which is what `FlagDuplicates`' shuffle
strategy does, step by step.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Callable, Iterable, NamedTuple, Optional

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from newswire.transforms.dedup.buckets import candidate_pairs, compare_bucket
from newswire.transforms.dedup.config import (AUTO, BATCH_INDEX_SETTINGS, KEYED, MEMORY, SHUFFLE,
                                             STREAM_INDEX_SETTINGS, DedupConfig)
from newswire.transforms.dedup.crowding import dropped_key_kind
from newswire.transforms.dedup.decision import BestMatches, BestMatchesFn, dedup_info, story_root
from newswire.transforms.dedup.keys import CandidateKey, KeyKind, band_digest, story_term_key
from newswire.transforms.dedup.pairs import EXACT, NEAR_COPY, SAME_STORY, near_copy_match
from newswire.transforms.dedup.signature import DedupSignature
from newswire.transforms.similarity import MINHASH_DTYPE, TermColumns

# Distinct pairs remembered as tested, near copies' and small story buckets' apart (some 100 bytes
# each, and a story pair's match): past this one starts again, and a pair named again is tested
# again, to the same result (as `batch._NAMED_PAIRS_MAX`).
_TESTED_PAIRS_MAX = 200_000


class Decision(NamedTuple):
    """What the index decided for one document id with an earlier match: its best matches and its
    story (the root of the chain of story parents, `decision.story_root`)."""
    best: BestMatches
    story_id: str


class IndexedMatches(NamedTuple):
    """`match_in_index`'s result: a `Decision` per document id with an earlier match, and how many
    keys of each kind were dropped (`crowding.dropped_key_kind`), kinds with none left out."""
    decisions: dict
    dropped_keys: dict


class _Index:
    """Signatures in publication order and the buckets they share: exact keys and story terms as
    lists of positions, bands as a (documents x bands x words) array of their MinHash values."""

    def __init__(self, signatures: Iterable[DedupSignature], config: DedupConfig):
        self.ordered = sorted(signatures, key=lambda s: s.order_key)
        self.exact: dict[CandidateKey, list[int]] = {}
        self.terms: dict[str, list[int]] = {}
        banded: list[int] = []  # positions of the signatures with band keys (those with a MinHash)
        # The keys `keys.candidate_keys` files a signature under, in its order, made here without
        # the signature copies it pairs them with; bands are keyed by their values (below).
        exact, terms = self.exact, self.terms
        for position, signature in enumerate(self.ordered):
            exact.setdefault(CandidateKey(KeyKind.CONTENT, signature.content_hash), []).append(position)
            exact.setdefault(CandidateKey(KeyKind.SOURCE, signature.source_key), []).append(position)
            if signature.minhash and config.lsh_bands:
                banded.append(position)
            for term in signature.story_keys:
                terms.setdefault(term, []).append(position)
        self.banded = np.array(banded, dtype=np.int64)
        self._width = config.lsh_rows * MINHASH_DTYPE.itemsize  # bytes per band
        used = config.lsh_bands * self._width
        values = np.frombuffer(b''.join([self.ordered[p].minhash[:used] for p in banded]),
                               dtype=np.uint8).reshape(len(banded), config.lsh_bands, self._width)
        # Each band's values as big-endian 64-bit words, zero-padded: equal words, equal values.
        words = np.zeros((len(banded), config.lsh_bands, -(-self._width // 8) * 8), dtype=np.uint8)
        words[:, :, :self._width] = values
        self.band_words = words.view('>u8')

    def bucket(self, positions) -> list[DedupSignature]:
        """The signatures at `positions` (ascending): in `order_key` order, as `self.ordered`."""
        return [self.ordered[position] for position in positions]

    def shared_bands(self, band: int) -> Iterable[list[int]]:
        """The positions (ascending) of each group of two or more signatures with equal values in
        `band`, the members of a band key's bucket."""
        columns = self.band_words[:, band, :]
        order = np.lexsort(columns.T[::-1])
        columns = columns[order]
        differs = (columns[1:] != columns[:-1]).any(axis=1)
        starts = np.flatnonzero(np.r_[True, differs])
        stops = np.r_[starts[1:], len(order)]
        for start, stop in zip(starts[stops - starts > 1], stops[stops - starts > 1]):
            yield sorted(self.banded[order[start:stop]].tolist())

    def band_key(self, band: int, position: int) -> CandidateKey:
        """The band key (`keys.candidate_keys`') of the signature at `position` in `band`."""
        values = self.ordered[position].minhash[band * self._width:(band + 1) * self._width]
        return CandidateKey(KeyKind.BAND, band_digest(values).hex(), band)


def match_in_index(signatures: Iterable[DedupSignature], config: DedupConfig) -> IndexedMatches:
    """All signatures of a batch -> `IndexedMatches`: the decisions of the shuffle strategy
    (`batch.FlagDuplicates`), from one in-memory index."""
    index = _Index(signatures, config)
    combine = BestMatchesFn()
    best: dict[str, BestMatches] = {}
    dropped: collections.Counter = collections.Counter()

    def add(match):
        best[match.later] = combine.add_input(best.get(match.later, BestMatches()), match)

    # Two buckets of one kind with the same members name the same pairs, to the same matches: copies
    # share most of their bands, so one band bucket comes back band after band. The second time only
    # a dropped key is counted; its matches are in `best` already (adding one twice changes nothing).
    crowding: dict[tuple, Optional[str]] = {}

    def new_bucket(kind: KeyKind, positions: list,
                   key_of: Callable[[], CandidateKey]) -> Optional[list]:
        """The signatures at `positions` if no bucket of `kind` had these members before and its
        key (`key_of()`, made only then) is not dropped; else None, a dropped key counted."""
        members = (kind, tuple(positions))
        bucket = None
        if members in crowding:
            dropped_kind = crowding[members]
        else:
            bucket = index.bucket(positions)
            dropped_kind = crowding[members] = dropped_key_kind(key_of(), bucket, config)
        if dropped_kind:
            dropped[dropped_kind] += 1
            return None
        return bucket

    for key, positions in index.exact.items():
        if len(positions) > 1:  # exact keys are never dropped
            for match in compare_bucket(key, index.bucket(positions), config, in_order=True):
                add(match)
    columns = TermColumns()  # a report's terms numbered once for the products of all its buckets
    # Two reports that share several heavy terms meet in several story buckets: a small bucket's
    # pair is tested once (`compare_bucket`'s `tested`), its match added again, to no change.
    story_tested: dict = {}
    for term, positions in index.terms.items():
        if len(positions) > 1:
            key = story_term_key(term)
            bucket = new_bucket(KeyKind.TERM, positions, lambda: key)
            if bucket is None:
                continue
            if len(story_tested) >= _TESTED_PAIRS_MAX:
                story_tested.clear()
            for match in compare_bucket(key, bucket, config, in_order=True, columns=columns,
                                        tested=story_tested):
                add(match)
    tested: set = set()
    for band in range(config.lsh_bands):
        for positions in index.shared_bands(band):
            bucket = new_bucket(KeyKind.BAND, positions,
                                functools.partial(index.band_key, band, positions[0]))
            if bucket is None:
                continue
            # A near copy shares most of its bands with its original: each distinct pair is tested
            # once, not once per band bucket naming it.
            for earlier, later in candidate_pairs(bucket, config, in_order=True):
                pair = (id(later), id(earlier))  # the signatures live as long as the index
                if pair in tested:
                    continue
                if len(tested) >= _TESTED_PAIRS_MAX:
                    tested.clear()
                tested.add(pair)
                match = near_copy_match(earlier, later, config)
                if match is not None:
                    add(match)
    parents = {doc_id: b.parent().earlier for doc_id, b in best.items()}
    decisions = {doc_id: Decision(b, story_root(doc_id, parents)) for doc_id, b in best.items()}
    return IndexedMatches(decisions, dict(dropped))


class _MatchInIndexFn(beam.DoFn):
    """(the one key, every signature) -> the decisions, one dict of document id -> `Decision`, and
    (key kind, keys dropped) per kind on `_DROPPED_KEYS`."""

    def __init__(self, config: DedupConfig):
        self._config = config

    def process(self, keyed):
        _, signatures = keyed
        matched = match_in_index(signatures, self._config)
        for kind_and_count in sorted(matched.dropped_keys.items()):
            yield beam.pvalue.TaggedOutput(_DROPPED_KEYS, kind_and_count)
        yield matched.decisions


_DROPPED_KEYS = 'dropped_keys'


class IndexOutputs(NamedTuple):
    decisions: beam.PCollection  # one dict, document id -> `Decision`; none for no signatures
    dropped_keys: beam.PCollection  # (key kind, how many keys of that kind), one per kind


class MatchInIndex(beam.PTransform):
    """Signatures -> `IndexOutputs`, from one in-memory index on one worker (`match_in_index`)."""

    def __init__(self, config: DedupConfig):
        super().__init__()
        self._config = config

    def expand(self, signatures):
        matched = (
            signatures
            | 'ToOneKey' >> beam.Map(lambda signature: (b'', signature))
            | 'AllOnOneWorker' >> beam.GroupByKey()
            | 'MatchInIndex' >> beam.ParDo(_MatchInIndexFn(self._config)).with_outputs(
                _DROPPED_KEYS, main='decisions'))
        return IndexOutputs(matched.decisions, matched[_DROPPED_KEYS])


class _AnnotateFromIndexFn(beam.DoFn):
    """(document, signature), the decisions by id -> the document with `dedup`."""

    def __init__(self):
        self._counters = {tier: Metrics.counter('newswire', f'dedup_{tier}')
                          for tier in (EXACT, NEAR_COPY, SAME_STORY)}

    def process(self, signed, decisions: dict):
        doc, signature = signed
        decision: Optional[Decision] = decisions.get(signature.id)
        if decision is None:
            info = dedup_info(signature, BestMatches(), {})
        else:
            # The story is decided already: no parents needed to find its root.
            info = dataclasses.replace(dedup_info(signature, decision.best, {}),
                                       story_id=decision.story_id)
        if info.tier:
            self._counters[info.tier].inc()
        yield doc.replaced(dedup=info)


class AnnotateFromIndex(beam.PTransform):
    """((document, signature) pairs, the decisions) -> documents with `dedup`, as
    `batch.AnnotateDocuments` gives them. The decisions reach every worker as a side input, so the
    documents stay where they are: no shuffle keyed by id."""

    def expand(self, inputs):
        signed, decisions = inputs
        return (
            signed
            # The annotation reads only the signature's id and content hash: the runner holds
            # these pairs until the decisions are made, without the MinHash and term vector.
            | 'IdentityOnly' >> beam.MapTuple(lambda d, s: (d, s.identity_only()))
            | 'Annotate' >> beam.ParDo(_AnnotateFromIndexFn(),
                                       beam.pvalue.AsSingleton(decisions, default_value={})))


def runs_on_one_machine(runner, options) -> bool:
    """Whether `runner` (a `PipelineRunner`) with `options` runs the job on this machine: the DirectRunner, Prism, and Flink
    or Spark on an embedded engine (`[local]`/`[auto]`, `local[N]`). Dataflow, a remote Flink or
    Spark master, a job endpoint (PortableRunner) or an unknown runner: no."""
    from apache_beam.runners.direct.direct_runner import (BundleBasedDirectRunner,
                                                          SwitchingDirectRunner)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.runners.portability.flink_runner import FlinkRunner
    from apache_beam.runners.portability.prism_runner import PrismRunner
    from apache_beam.runners.portability.spark_runner import SparkRunner

    from newswire.pipeline.job.runners import embedded_engine

    if isinstance(runner, (SwitchingDirectRunner, BundleBasedDirectRunner, FnApiRunner,
                           PrismRunner)):
        return True
    if isinstance(runner, (FlinkRunner, SparkRunner)):
        return embedded_engine('FlinkRunner' if isinstance(runner, FlinkRunner) else 'SparkRunner',
                               options)
    return False


def batch_index_strategy(setting: str, runner, options) -> str:
    """`dedup.batch_index` -> `MEMORY` or `SHUFFLE`: `auto` is `MEMORY` where the runner runs the
    job on this machine (`runs_on_one_machine`), where one worker's index is faster than the
    shuffle, else `SHUFFLE`, which spreads the buckets over the workers."""
    return _strategy('batch_index', setting, BATCH_INDEX_SETTINGS, SHUFFLE, runner, options)


def stream_index_strategy(setting: str, runner, options) -> str:
    """`dedup.stream_index` -> `MEMORY` or `KEYED`, as `batch_index_strategy`: `auto` is `MEMORY`
    (`stream_index`: one key, held in memory) on this machine, else `KEYED` (`stream`: a keyed
    state per candidate key, spread over the workers)."""
    return _strategy('stream_index', setting, STREAM_INDEX_SETTINGS, KEYED, runner, options)


def _strategy(name: str, setting: str, allowed: tuple, distributed: str, runner, options) -> str:
    if setting == AUTO:
        return MEMORY if runs_on_one_machine(runner, options) else distributed
    if setting not in allowed:
        raise ValueError(f'dedup.{name} must be one of {", ".join(allowed)}, got {setting!r}')
    return setting
