"""The batch dedup stage, `FlagDuplicates`: the candidate-key buckets as `GroupByKey`s, or (its
other strategy) one in-memory index on one worker (`index`)."""

from __future__ import annotations

from typing import Any, Container, Iterable, Iterator, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from newswire.transforms import similarity
from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.dedup.buckets import candidate_pairs, compare_bucket
from newswire.transforms.dedup.config import STAGE, DedupConfig
from newswire.transforms.dedup.crowding import CrowdedKeyFn, dropped_key_kind, log_dropped_keys
from newswire.transforms.dedup.decision import BestMatches, BestMatchesFn, better_match, dedup_info
from newswire.transforms.dedup.entries import StoryEntry, pack_bucket_entry, unpack_bucket_entry
from newswire.transforms.dedup.index import (MEMORY, AnnotateFromIndex, MatchInIndex,
                                             batch_index_strategy)
from newswire.transforms.dedup.keys import (BAND_DIGEST_BYTES, CandidateKey, KeyKind,
                                            band_group_key, band_of_group, candidate_keys,
                                            story_term_key)
from newswire.transforms.dedup.pairs import EXACT, NEAR_COPY, SAME_STORY, Match, near_copy_match
from newswire.transforms.dedup.signature import DedupSignature, SignDocumentsFn

NEAR_COPY_PAIRS = 'near_copy_pairs'  # the batch bucket step's output of candidate pairs
DROPPED_KEYS = 'dropped_keys'  # and of the kind of each key it dropped (`dropped_key_kind`)


# Distinct near-copy pairs the bucket step remembers per bundle (some 780 bytes each): past this it
# starts again, and `DistinctPairs` removes the repeats it then names.
_NAMED_PAIRS_MAX = 200_000


def batch_bucket_entries(sig: DedupSignature, config: DedupConfig,
                         crowded: Container = ()) -> Iterable[tuple[str, Any]]:
    """`candidate_keys` for the batch shuffle, encoded (`CandidateKey.encode`), but for `crowded`
    (encoded) story keys: a story bucket's copy
    as the plain tuple (order key, event time, terms, weights) of a `StoryEntry`, an exact one's as
    a packed `BucketEntry` (`pack_bucket_entry`), a band one's as its digest and a packed entry
    under its `band_group_key`."""
    for key, copy in candidate_keys(sig, config):
        if key.kind is KeyKind.BAND:
            yield band_group_key(key), (bytes.fromhex(key.value) + pack_bucket_entry(
                copy.order_key, copy.event_time, copy.content_hash))
        elif key.kind is KeyKind.TERM:
            encoded = key.encode()
            if encoded not in crowded:
                yield encoded, (copy.order_key, copy.event_time, *copy.story_vector)
        else:
            yield key.encode(), pack_bucket_entry(copy.order_key, copy.event_time,
                                                  copy.content_hash)


def _identity(signature) -> tuple:
    """Which signature a named pair means: the order key holds the id, and the content hash tells
    apart two texts under one id (a feed entry polled again after an edit)."""
    return signature.order_key, signature.content_hash


def compare_or_name_pairs(encoded: str, entries: Iterable, config: DedupConfig) -> Iterable:
    """The batch bucket step, on what `batch_bucket_entries` filed under the key `encoded`. A
    dropped key
    (`dropped_key_kind`) yields its kind on `DROPPED_KEYS` and nothing else; a band bucket yields
    its candidate pairs on `NEAR_COPY_PAIRS` as (later, earlier) `_identity`s, for
    `TestNearCopyPairs`; any other bucket yields its `Match`es. A group of band buckets
    (`band_group_key`) is taken bucket by bucket."""
    kind = KeyKind.of_encoded(encoded)
    if kind is KeyKind.BAND:
        band = band_of_group(encoded)
        buckets: dict[bytes, list] = {}
        for entry in entries:
            buckets.setdefault(entry[:BAND_DIGEST_BYTES], []).append(
                unpack_bucket_entry(entry[BAND_DIGEST_BYTES:]))
        for digest, bucket in buckets.items():
            yield from _bucket_outputs(CandidateKey(kind, digest.hex(), band), bucket, config)
        return
    if kind is KeyKind.TERM:
        entries = [StoryEntry(order_key, event_time, similarity.PackedVector(terms, weights))
                   for order_key, event_time, terms, weights in entries]
    else:
        entries = [unpack_bucket_entry(entry) for entry in entries]
    yield from _bucket_outputs(CandidateKey.decode(encoded), entries, config)


def _bucket_outputs(key: CandidateKey, entries: list, config: DedupConfig) -> Iterable:
    """`compare_or_name_pairs` for one bucket, its entries unpacked."""
    entries.sort(key=lambda entry: entry.order_key)
    dropped = dropped_key_kind(key, entries, config)
    if dropped:
        yield beam.pvalue.TaggedOutput(DROPPED_KEYS, dropped)
    elif key.kind is KeyKind.BAND:
        for earlier, later in candidate_pairs(entries, config):
            yield beam.pvalue.TaggedOutput(NEAR_COPY_PAIRS, (_identity(later), _identity(earlier)))
    elif key.kind is KeyKind.TERM:
        # Only each report's best match goes on, the one `BestMatchesFn` keeps of them anyway:
        # a bucket of reports much alike would send up to 200 per report.
        best: dict[str, Match] = {}
        for match in compare_bucket(key, entries, config):
            if better_match(SAME_STORY, best.get(match.later), match):
                best[match.later] = match
        yield from best.values()
    else:
        yield from compare_bucket(key, entries, config)


class _CompareOrNamePairsFn(beam.DoFn):
    """(encoded candidate key, bucket entries) -> `compare_or_name_pairs`, each candidate pair named
    once per bundle. A near copy shares most of its bands with its original, so the buckets name
    each pair many times over, and all those namings need not be shuffled into `DistinctPairs`,
    which still removes what different bundles (or one bundle past `_NAMED_PAIRS_MAX`) both name. A
    DoFn, not a lambda, so that the step inside `.with_outputs` has a stable name."""

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
            yield doc.replaced(dedup=info)


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


class FindCrowdedStoryKeys(beam.PTransform):
    """Signatures -> (encoded story-term key, True) for each story key shared by more than
    `max_documents_per_key` documents within the horizon (`CrowdedKeyFn`). Tested on the times
    alone, before any term vector is shuffled, so that a crowded key's bucket is never filed."""

    def __init__(self, config: DedupConfig):
        super().__init__()
        self._config = config

    def expand(self, signatures):
        return (
            signatures
            | 'StoryKeyTimes' >> beam.FlatMap(
                lambda s: ((story_term_key(term).encode(), s.event_time)
                           for term in s.story_keys))
            | 'FindCrowdedStoryKeys' >> beam.CombinePerKey(CrowdedKeyFn(self._config))
            | 'CrowdedOnly' >> beam.Filter(lambda key_and_crowded: key_and_crowded[1]))


class CompareInBuckets(beam.PTransform):
    """Signatures -> the bucket step's outputs (`compare_or_name_pairs`): `Match`es (main), named
    near-copy pairs (`NEAR_COPY_PAIRS`) and the kinds of dropped keys (`DROPPED_KEYS`)."""

    def __init__(self, config: DedupConfig, crowded_story_keys: beam.PCollection):
        super().__init__()
        self._config = config
        self._crowded_story_keys = crowded_story_keys

    def expand(self, signatures):
        return (
            signatures
            | 'FileUnderCandidateKeys' >> beam.FlatMap(
                batch_bucket_entries, self._config,
                crowded=beam.pvalue.AsDict(self._crowded_story_keys))
            | 'GroupByCandidateKey' >> beam.GroupByKey()
            | 'CompareWithinBucket' >> beam.ParDo(_CompareOrNamePairsFn(self._config))
            .with_outputs(NEAR_COPY_PAIRS, DROPPED_KEYS, main='matches'))


class ReportDroppedKeys(beam.PTransform):
    """(kinds of keys dropped in buckets, crowded story keys) -> (key kind, how many), one per kind,
    counted and logged (`_ReportDroppedKeysFn`)."""

    def __init__(self, config: DedupConfig):
        super().__init__()
        self._config = config

    def expand(self, inputs):
        dropped_in_buckets, crowded_story_keys = inputs
        return (
            (dropped_in_buckets,
             crowded_story_keys | 'StoryKeyKind' >> beam.Map(lambda _: KeyKind.TERM.capped_name))
            | 'AllDroppedKeys' >> beam.Flatten()
            | 'CountDroppedKeys' >> beam.combiners.Count.PerElement()
            | 'ReportDroppedKeys' >> beam.ParDo(_ReportDroppedKeysFn(self._config)))


class PickBestMatches(beam.PTransform):
    """Every `Match` -> (document id, `BestMatches`) for each document with an earlier match."""

    def expand(self, matches):
        return (
            matches
            | 'AllMatches' >> beam.Flatten()
            | 'KeyByLaterDocument' >> beam.Map(lambda match: (match.later, match))
            | 'BestMatchPerDocument' >> beam.CombinePerKey(BestMatchesFn()))


class AnnotateDocuments(beam.PTransform):
    """((document, signature) pairs, best matches per document id) -> documents with `dedup`: each
    joined with its best matches, its story the root of the chain of story parents."""

    def expand(self, inputs):
        signed, best = inputs
        parents = (
            best
            | 'StoryParent' >> beam.MapTuple(lambda doc_id, b: (doc_id, b.parent().earlier))
            | 'ParentsAsDict' >> beam.combiners.ToDict())
        return (
            {
                # The annotation reads only the signature's id and content hash: the bulky
                # MinHash and term vector stay out of this shuffle.
                'signed': signed | 'KeyById' >> beam.MapTuple(
                    lambda d, s: (d.id, (d, s.identity_only()))),
                'best': best,
            }
            | 'JoinById' >> beam.CoGroupByKey()
            | 'Annotate' >> beam.ParDo(_AnnotateFn(), beam.pvalue.AsSingleton(parents)))


class FlagDuplicates(beam.PTransform):
    """Documents -> `DedupOutputs(documents with dedup filled in, dead letters, dropped keys)`.

    Nothing is dropped: duplicates are flagged (`duplicate_of`, `near_duplicate_of`, `story_id`), never
    removed. A document whose signature cannot be computed (or not within `timeout_seconds`)
    becomes a dead letter. Candidate keys shared by too many documents are dropped
    (`dropped_key_kind`) and counted per kind.

    Two strategies give the same output (`batch_index`, default the config's `dedup.batch_index`,
    `auto` resolved by the pipeline's runner: `index.batch_index_strategy`): `shuffle` files each
    signature under its candidate keys in `GroupByKey`s, which spreads the buckets over the
    workers; `memory` sends every signature to one worker's in-memory index (`index`), one element
    per document instead of some 74, and the decisions back as a side input. `signing_hints` are
    the resource hints of the per-document signing step (where it runs), none by default.
    """

    def __init__(self, config: DedupConfig, timeout_seconds: Optional[float] = None,
                 batch_index: Optional[str] = None, signing_hints: Optional[dict] = None):
        super().__init__()
        self._config = config
        self._timeout_seconds = timeout_seconds
        self._batch_index = batch_index or config.batch_index
        self._signing_hints = signing_hints or {}  # resource hints of the per-document signing

    def expand(self, docs):
        config = self._config
        strategy = batch_index_strategy(self._batch_index, docs.pipeline.runner,
                                        docs.pipeline.options)
        signed, dead_letters = docs | 'Sign' >> ApplyStage(
            SignDocumentsFn(config), STAGE, timeout_seconds=self._timeout_seconds
        ).with_resource_hints(**self._signing_hints)
        signatures = signed | 'Signatures' >> beam.MapTuple(lambda doc, signature: signature)
        if strategy == MEMORY:
            matched = signatures | 'MatchInIndex' >> MatchInIndex(config)
            dropped_keys = (matched.dropped_keys
                            | 'ReportDroppedKeys' >> beam.ParDo(_ReportDroppedKeysFn(config)))
            flagged = (signed, matched.decisions) | 'AnnotateDocuments' >> AnnotateFromIndex()
            return DedupOutputs(flagged, dead_letters, dropped_keys)
        crowded_story_keys = signatures | 'FindCrowdedStoryKeys' >> FindCrowdedStoryKeys(config)
        compared = signatures | 'CompareInBuckets' >> CompareInBuckets(config, crowded_story_keys)
        dropped_keys = ((compared[DROPPED_KEYS], crowded_story_keys)
                        | 'ReportDroppedKeys' >> ReportDroppedKeys(config))
        near_copies = (
            (signatures | 'NearCopySignatures' >> beam.Map(DedupSignature.minhash_only),
             compared[NEAR_COPY_PAIRS])
            | 'TestNearCopyPairs' >> TestNearCopyPairs(config))
        best = (compared.matches, near_copies) | 'PickBestMatches' >> PickBestMatches()
        flagged = (signed, best) | 'AnnotateDocuments' >> AnnotateDocuments()
        return DedupOutputs(flagged, dead_letters, dropped_keys)
