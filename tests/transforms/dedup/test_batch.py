"""FlagDuplicates (batch) and its bucket step."""

import dataclasses

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.dedup import (EXACT, NEAR_COPY, BestMatches, BestMatchesFn, FlagDuplicates,
                                       TestNearCopyPairs, band_group_key, batch_bucket_entries,
                                       compare_bucket, compare_or_name_pairs, dedup_info,
                                       pack_bucket_entry, unpack_bucket_entry)
from newswire.transforms.dedup.keys import CandidateKey, KeyKind
from tests.conftest import direct_pipeline
from tests.transforms.dedup.documents import (ARTICLE, CONFIG, SIGNER, all_matches, ecb_reports,
                                              make_doc, near_copies, near_copy_of)


@pytest.mark.slow  # a pipeline; the fast subset runs FlagDuplicates once
def test_flag_duplicates_drops_crowded_keys_counts_them_and_keeps_every_exact_copy():
    config = dataclasses.replace(CONFIG, max_documents_per_key=3)
    docs = [make_doc(f'c{i}', ARTICLE, f'2023-11-14T10:{i:02d}:00') for i in range(6)]
    with direct_pipeline() as p:
        flagged, dead, dropped = p | beam.Create(docs) | FlagDuplicates(config)
        assert_that(
            flagged | beam.Map(lambda d: (d.id, d.dedup.tier, d.dedup.duplicate_of)),
            equal_to([('c0', None, None)] + [(f'c{i}', EXACT, 'c0') for i in range(1, 6)]),
            label='flags')
        # Six copies of one text share all its bands and heavy terms: every one is dropped.
        assert_that(dropped, equal_to([('lsh_band', config.lsh_bands),
                                       ('story_term', config.story_keys)]), label='dropped')
        assert_that(dead, equal_to([]), label='no dead letters')


def test_flag_duplicates_transform_flags_and_never_drops():
    docs = [
        make_doc('orig', ARTICLE, '2023-11-14'),
        make_doc('again', ARTICLE, '2023-11-14T10:00:00'),
        make_doc('copy', near_copy_of(ARTICLE), '2023-11-15'),
        make_doc('other', 'The central bank raised interest rates by half a point on Thursday, '
             'citing inflation in food and energy prices across the region.', '2023-11-15'),
    ]
    with direct_pipeline() as p:
        flagged, dead, _ = p | beam.Create(docs) | FlagDuplicates(CONFIG)
        assert_that(
            flagged | beam.Map(lambda d: (d.id, d.dedup.tier, d.dedup.duplicate_of,
                                          d.dedup.near_duplicate_of, d.dedup.story_id)),
            equal_to([
                ('orig', None, None, None, 'orig'),
                ('again', EXACT, 'orig', None, 'orig'),
                ('copy', NEAR_COPY, None, 'orig', 'orig'),
                ('other', None, None, None, 'other'),
            ]), label='flags')
        assert_that(dead, equal_to([]), label='no dead letters')


def _plain_flags(docs, config=CONFIG):
    """What FlagDuplicates must give, by the plain route: every bucket's matches (`compare_bucket`
    on full signatures, band copies with their MinHash), combined per document."""
    signatures = [SIGNER.sign(d) for d in docs]
    combine, best = BestMatchesFn(), {}
    for match in all_matches(docs, config):
        best[match.later] = combine.add_input(best.get(match.later, BestMatches()), match)
    parents = {doc_id: b.parent().earlier for doc_id, b in best.items()}
    return [(s.id, dedup_info(s, best.get(s.id, BestMatches()), parents)) for s in signatures]


@pytest.mark.slow
def test_band_buckets_name_pairs_and_each_distinct_pair_is_tested_once():
    docs = near_copies(4)
    signatures = [SIGNER.sign(d) for d in docs]
    buckets = {}
    for signature in signatures:
        for key, entry in batch_bucket_entries(signature, CONFIG):
            band = KeyKind.of_encoded(key) is KeyKind.BAND
            packed = entry[10:] if band else entry  # a band entry: digest first
            assert KeyKind.of_encoded(key) is KeyKind.TERM or unpack_bucket_entry(packed) == (
                signature.order_key, signature.event_time, signature.content_hash)
            buckets.setdefault(key, []).append(entry)
    outputs = [out for key, copies in buckets.items()
               if KeyKind.of_encoded(key) is KeyKind.BAND
               for out in compare_or_name_pairs(key, copies, CONFIG)]
    assert all(isinstance(out, beam.pvalue.TaggedOutput) for out in outputs)
    named = [out.value for out in outputs]
    distinct = set(named)
    assert len(distinct) == 6 and len(named) > 5 * len(distinct)  # 4 copies share most bands
    assert all(later[0] > earlier[0] for later, earlier in distinct)  # (later, earlier) ...
    expected = {m for m in all_matches(docs) if m.tier == NEAR_COPY}
    assert len(expected) == 6
    with direct_pipeline() as p:
        near = ((p | 'Signatures' >> beam.Create(signatures), p | 'Pairs' >> beam.Create(named))
                | TestNearCopyPairs(CONFIG))
        assert_that(near, equal_to(sorted(expected, key=lambda m: (m.later, m.earlier))))


def test_story_buckets_shuffle_plain_tuples_and_give_the_signatures_matches():
    reports = ecb_reports()
    entries = [[entry for key, entry in batch_bucket_entries(signature, CONFIG)
                if KeyKind.of_encoded(key) is KeyKind.TERM]
               for signature in reports]
    # Plain tuples of primitives, which Beam's coder writes without pickling; one per heavy term.
    assert all(len(copies) == CONFIG.story_keys and all(type(e) is tuple for e in copies)
               for copies in entries)
    by_signature = set(compare_bucket(CandidateKey(KeyKind.TERM, 'bucket'), reports, CONFIG))
    by_entry = set(compare_or_name_pairs('t:bucket', [copies[0] for copies in entries], CONFIG))
    # The bucket step passes on each report's best match only: what BestMatchesFn keeps of all.
    combine, best = BestMatchesFn(), {}
    for match in by_signature:
        best[match.later] = combine.add_input(best.get(match.later, BestMatches()), match)
    assert len(by_signature) > 20 and len(by_entry) < len(by_signature)
    assert by_entry == {b.same_story for b in best.values()}


def _band_buckets(docs):
    """The band buckets (key, shuffled entries) the batch bucket step gets for `docs`."""
    buckets = {}
    for signature in map(SIGNER.sign, docs):
        for key, entry in batch_bucket_entries(signature, CONFIG):
            buckets.setdefault(key, []).append(entry)
    return [(key, copies) for key, copies in buckets.items()
            if KeyKind.of_encoded(key) is KeyKind.BAND]


def test_the_bucket_step_names_each_pair_once_per_bundle():
    from newswire.transforms.dedup.batch import _CompareOrNamePairsFn
    band_buckets = _band_buckets(near_copies(4))
    every_naming = [out.value for key, copies in band_buckets
                    for out in compare_or_name_pairs(key, copies, CONFIG)]
    fn = _CompareOrNamePairsFn(CONFIG)
    for _ in range(2):  # a second bundle names the pairs again: its set starts empty
        fn.start_bundle()
        named = [out.value for bucket in band_buckets for out in fn.process(bucket)]
        assert len(named) == len(set(named)) == len(set(every_naming)) == 6
        assert len(every_naming) > 5 * len(named)


def test_the_bucket_step_forgets_named_pairs_past_its_limit_and_loses_none(monkeypatch):
    import newswire.transforms.dedup.batch as dedup
    monkeypatch.setattr(dedup, '_NAMED_PAIRS_MAX', 2)
    fn = dedup._CompareOrNamePairsFn(CONFIG)
    fn.start_bundle()
    named = [out.value for bucket in _band_buckets(near_copies(4)) for out in fn.process(bucket)]
    assert len(set(named)) == 6 and len(named) > 6  # every pair, some more than once
    assert len(fn._named) <= 2


@pytest.mark.slow  # two pipelines; the fast subset runs FlagDuplicates once
def test_flag_duplicates_equals_the_plain_per_bucket_route():
    docs = near_copies(3) + [
        make_doc('orig', ARTICLE, '2023-11-14'),
        make_doc('again', ARTICLE.upper(), '2023-11-14T10:00:00'),
        make_doc('undated', near_copy_of(ARTICLE)),
        make_doc('far', ARTICLE, '2024-06-01'),
        make_doc('far', ARTICLE, '2024-06-02'),  # the same id again, told apart by its time
        make_doc('twin', near_copies(5)[4].text, '2023-11-14T11:00:00'),
        make_doc('twin', near_copy_of(ARTICLE), '2023-11-14T11:00:00'),  # ... or by its text
        make_doc('other', 'The central bank raised interest rates by half a point on Thursday.',
             '2023-11-15'),
    ]
    expected = _plain_flags(docs)
    assert {info.tier for _, info in expected} == {None, EXACT, NEAR_COPY}
    with direct_pipeline() as p:
        flagged, _, _ = p | beam.Create(docs) | FlagDuplicates(CONFIG)
        assert_that(flagged | beam.Map(lambda d: (d.id, d.dedup)), equal_to(expected))


def test_a_band_group_is_shuffled_as_one_and_compared_bucket_by_bucket():
    a, b = (SIGNER.sign(make_doc(doc_id, ARTICLE, '2023-11-14')) for doc_id in 'ab')

    def entry(signature, digest):
        return bytes.fromhex(digest) + pack_bucket_entry(signature.order_key, signature.event_time,
                                                         signature.content_hash)

    assert band_group_key(CandidateKey(KeyKind.BAND, 'ab' * 10, 3)) == 'b3:ab'
    same = compare_or_name_pairs('b3:ab', [entry(a, 'ab' * 10), entry(b, 'ab' * 10)], CONFIG)
    assert [out.value for out in same] == [((b.order_key, b.content_hash),
                                            (a.order_key, a.content_hash))]
    apart = compare_or_name_pairs('b3:ab', [entry(a, 'ab' * 10), entry(b, 'ab' + 'cd' * 9)], CONFIG)
    assert list(apart) == []
