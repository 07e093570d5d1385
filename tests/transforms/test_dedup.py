import dataclasses

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.dedup import (DROPPED_KEYS, EXACT, NEAR_COPY, SAME_STORY, BestMatches,
                                       BestMatchesFn, BucketEntry, CrowdedKeyFn, DedupConfig,
                                       FlagDuplicates, Match, Signer, TestNearCopyPairs,
                                       band_group_key, batch_bucket_entries, candidate_keys,
                                       compare_bucket, compare_or_name_pairs, dedup_info,
                                       dropped_key_kind, event_seconds, is_near_copy, match_pair,
                                       pack_bucket_entry, story_root, unpack_bucket_entry)
from newswire.transforms import similarity
from newswire.transforms.records import Document, Language, SourceRef
from tests.conftest import direct_pipeline

CONFIG = DedupConfig()
SIGNER = Signer(CONFIG)

ARTICLE = (
    "Azerbaijan's Deputy Foreign Minister met the head of the ICRC delegation in Baku on Tuesday to "
    "discuss the fate of 3,890 people registered as missing since the first Karabakh war. The sides "
    "agreed to set up a joint working group on the exhumation of remains found near Aghdam. "
    "Officials said the group will meet monthly and report to both governments.\n\n"
    "The ICRC said its forensic teams had identified 112 sets of remains since 2021 and that the "
    "families of the missing deserve answers. Demining crews will clear the access roads first.")


def _doc(doc_id, text, published=None, source_id=None, title=None):
    return Document(id=doc_id, source=SourceRef('jsonl', source_id or doc_id), text=text,
                    title=title, published_at=published, language=Language('en', 1.0))


def _near_copy(text):
    """A syndicated copy: other headline, a typo, the last sentence trimmed, an extra promo line."""
    edited = text.replace('Officials said', 'Officals said').rsplit(' Demining', 1)[0]
    return edited + '\n\nFollow our agency for more news.'


def test_event_seconds():
    assert event_seconds('2023-11-14') == event_seconds('2023-11-14T00:00:00+00:00')
    assert event_seconds('2023-11-14T04:00:00+04:00') == event_seconds('2023-11-14')
    assert event_seconds(None) is None and event_seconds('garbage') is None


def test_near_copy_signature_similarity_is_high_and_rewrite_low():
    original, copy = SIGNER.sign(_doc('a', ARTICLE)), SIGNER.sign(_doc('b', _near_copy(ARTICLE)))
    shared_bands = {k for k, _ in candidate_keys(original, CONFIG) if k.startswith('b')} & {
        k for k, _ in candidate_keys(copy, CONFIG) if k.startswith('b')}
    assert shared_bands, 'a near copy shares at least one LSH band'


def _matches(docs, config=CONFIG):
    signatures = [SIGNER.sign(d) for d in docs]
    buckets = {}
    for sig in signatures:
        for key, s in candidate_keys(sig, config):
            buckets.setdefault(key, []).append(s)
    return [m for key, sigs in buckets.items() for m in compare_bucket(key, sigs, config)]


def test_exact_duplicate_by_content_and_by_source_id():
    matches = _matches([
        _doc('a', ARTICLE, '2023-11-14'),
        _doc('b', ARTICLE.upper() + '  ', '2023-11-15'),       # same normalized content
        _doc('c', 'Completely different words here about trade.', '2023-11-16', source_id='a'),
    ])
    exact = {(m.later, m.earlier) for m in matches if m.tier == EXACT}
    assert exact == {('b', 'a'), ('c', 'a')}


def test_near_copy_found_and_points_to_the_earlier_item():
    matches = _matches([_doc('copy', _near_copy(ARTICLE), '2023-11-15'),
                        _doc('orig', ARTICLE, '2023-11-14')])
    near = [m for m in matches if m.tier == NEAR_COPY]
    assert near and {(m.later, m.earlier) for m in near} == {('copy', 'orig')}
    assert all(0.5 <= m.score < 1 for m in near)


def test_containment_from_jaccard_and_sizes():
    # A (40 shingles) inside B (100): Jaccard 0.4, containment 1.
    assert similarity.containment(0.4, 40, 100) == pytest.approx(1.0)
    # Equal sizes, half shared (|A∩B| = 50 of 100 each): Jaccard 1/3, containment 0.5.
    assert similarity.containment(1 / 3, 100, 100) == pytest.approx(0.5)
    assert similarity.containment(0.0, 40, 100) == 0.0 and similarity.containment(0.5, 0, 10) == 0.0


def test_near_copy_test_needs_high_jaccard_or_containment_with_enough_jaccard():
    assert is_near_copy(0.5, 100, 100, CONFIG)
    assert is_near_copy(0.46, 50, 100, CONFIG)         # containment 0.92
    assert not is_near_copy(0.46, 100, 100, CONFIG)    # containment 0.63: two texts half alike
    assert not is_near_copy(0.3, 30, 100, CONFIG)      # contained, but too little in common


def test_trimmed_copy_is_a_near_copy_by_containment_only():
    # The first 48 of the article's 90 words: Jaccard under 0.5, nearly all of it inside the original.
    original = SIGNER.sign(_doc('orig', ARTICLE, '2023-11-14'))
    trimmed = SIGNER.sign(_doc('copy', ' '.join(ARTICLE.split(' ')[:48]), '2023-11-15'))
    jaccard = similarity.minhash_jaccard(original.minhash, trimmed.minhash)
    assert 0.45 <= jaccard < 0.5
    match = match_pair('b0:any', original, trimmed, CONFIG)
    assert match is not None and match.tier == NEAR_COPY and match.earlier == 'orig'
    without_containment = dataclasses.replace(CONFIG, near_copy_containment=1.01)
    assert match_pair('b0:any', original, trimmed, without_containment) is None


def test_nothing_is_compared_with_itself_or_across_the_horizon():
    late = _doc('late', ARTICLE, '2024-06-01')
    matches = _matches([_doc('a', ARTICLE, '2023-11-14'), late, late])
    assert all(m.later != m.earlier for m in matches)
    assert not [m for m in matches if m.later == 'late' and m.earlier == 'a']


def test_order_is_publication_then_id_and_unknown_times_come_last():
    matches = _matches([_doc('z', ARTICLE, '2023-11-14'), _doc('a', ARTICLE, None),
                        _doc('m', ARTICLE, '2023-11-14')])
    exact = {(m.later, m.earlier) for m in matches if m.tier == EXACT}
    # An exact bucket matches each document with the earliest before it: m (same time, first id).
    assert exact == {('z', 'm'), ('a', 'm')}


def test_bucket_comparisons_are_capped():
    config = dataclasses.replace(CONFIG, max_bucket_comparisons=2)
    sigs = [SIGNER.sign(_doc(f'd{i}', ARTICLE, f'2023-11-{10 + i}')) for i in range(5)]
    matches = list(compare_bucket('t:missing', sigs, config))
    assert len(matches) == 2 + 2 + 2 + 1  # d1 sees d0; d2..d4 see their two predecessors
    # An exact bucket is not capped: every copy is matched with the first one.
    exact = {(m.later, m.earlier) for m in compare_bucket('x:same', sigs, config)}
    assert exact == {(f'd{i}', 'd0') for i in range(1, 5)}


def test_a_band_or_term_key_crowded_within_the_horizon_is_dropped_and_an_exact_key_never():
    config = dataclasses.replace(CONFIG, max_documents_per_key=3, horizon_seconds=10 * 86400)
    daily = [SIGNER.sign(_doc(f'd{i}', ARTICLE, f'2023-11-{10 + i:02d}')) for i in range(4)]
    weekly = [SIGNER.sign(_doc(f'w{i}', ARTICLE, f'2023-{i + 1:02d}-01')) for i in range(4)]
    undated = SIGNER.sign(_doc('u', ARTICLE))
    assert dropped_key_kind('b3:00ff', daily, config) == 'lsh_band'
    assert dropped_key_kind('t:icrc', daily, config) == 'story_term'
    assert dropped_key_kind('x:same', daily, config) is None  # exact keys are never dropped
    assert dropped_key_kind('t:icrc', daily[:3], config) is None  # 3 is not more than 3
    # Four a month apart: never more than one within ten days; one with no time is within any.
    assert dropped_key_kind('t:icrc', weekly, config) is None
    assert dropped_key_kind('t:icrc', weekly[:3] + [undated], config) is None
    assert dropped_key_kind('t:icrc', daily[:3] + [undated], config) == 'story_term'
    assert list(compare_bucket('t:icrc', daily, config)) == []
    assert [(out.tag, out.value) for out in compare_or_name_pairs(
        't:icrc', [entry for s in daily for k, entry in batch_bucket_entries(s, config)
                   if k == 't:icrc'], config)] == [(DROPPED_KEYS, 'story_term')]
    assert len(list(compare_bucket('t:icrc', daily[:3], config))) == 3


def test_config_rejects_a_key_cap_below_one():
    with pytest.raises(ValueError, match='max_documents_per_key must be at least 1, got 0'):
        DedupConfig(max_documents_per_key=0)


@pytest.mark.slow  # a pipeline; the fast subset runs FlagDuplicates once
def test_flag_duplicates_drops_crowded_keys_counts_them_and_keeps_every_exact_copy():
    config = dataclasses.replace(CONFIG, max_documents_per_key=3)
    docs = [_doc(f'c{i}', ARTICLE, f'2023-11-14T10:{i:02d}:00') for i in range(6)]
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


def test_best_matches_prefer_earliest_copy_and_most_similar_story():
    combine = BestMatchesFn()
    matches = [Match('d', 'b', (False, 2.0, 'b'), NEAR_COPY, 0.9),
               Match('d', 'a', (False, 1.0, 'a'), NEAR_COPY, 0.6),
               Match('d', 'a', (False, 1.0, 'a'), SAME_STORY, 0.4),
               Match('d', 'c', (False, 3.0, 'c'), SAME_STORY, 0.7)]
    left, right = combine.create_accumulator(), combine.create_accumulator()
    for match in matches[:2]:
        left = combine.add_input(left, match)
    for match in matches[2:]:
        right = combine.add_input(right, match)
    best = combine.extract_output(combine.merge_accumulators([right, left]))
    assert best.near_copy.earlier == 'a' and best.same_story.earlier == 'c'
    assert best.parent() is best.near_copy


def test_story_root_follows_the_chain():
    parents = {'c': 'b', 'b': 'a', 'e': 'd'}
    assert [story_root(x, parents) for x in 'abcde'] == ['a', 'a', 'a', 'd', 'd']


def test_flag_duplicates_transform_flags_and_never_drops():
    docs = [
        _doc('orig', ARTICLE, '2023-11-14'),
        _doc('again', ARTICLE, '2023-11-14T10:00:00'),
        _doc('copy', _near_copy(ARTICLE), '2023-11-15'),
        _doc('other', 'The central bank raised interest rates by half a point on Thursday, '
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


def test_config_rejects_more_bands_than_permutations():
    with pytest.raises(ValueError, match='num_perm'):
        DedupConfig(num_perm=64, lsh_bands=32, lsh_rows=4)


def test_each_bucket_copy_carries_only_what_its_test_reads():
    signature = SIGNER.sign(_doc('a', ARTICLE, '2023-11-14'))
    keyed = list(candidate_keys(signature, CONFIG))
    for key, copy in keyed:
        assert (copy.id, copy.order_key, copy.content_hash) == (
            signature.id, signature.order_key, signature.content_hash)
        assert copy.minhash == (signature.minhash if key[0] == 'b' else b'')
        assert copy.story_vector == (signature.story_vector if key[0] == 't'
                                     else similarity.PackedVector())
        assert copy.story_keys == ()
    assert sorted({key[0] for key, _ in keyed}) == ['b', 's', 't', 'x']


def test_signature_normalises_once_to_the_same_hash_and_shingles():
    from newswire.transforms.records import content_hash, hash_of_normalized, normalize_for_hash
    text = 'Ünïcode  TEXT, with—punctuation… and ﬁ ligatures!'
    assert hash_of_normalized(normalize_for_hash(text)) == content_hash(text)
    hasher = similarity.MinHasher(CONFIG.num_perm, CONFIG.minhash_seed, CONFIG.shingle_words)
    assert hasher.shingles_of_normalized(normalize_for_hash(ARTICLE)) == hasher.shingles(ARTICLE)
    assert SIGNER.sign(_doc('a', ARTICLE)).content_hash == content_hash(ARTICLE)


def _tuple_jaccard(a, b):
    """The share of equal values as computed on tuples of Python ints, before signatures were bytes."""
    import numpy as np
    if not a or not b or len(a) != len(b):
        return 0.0
    return float(np.mean(np.asarray(a, dtype=np.uint64) == np.asarray(b, dtype=np.uint64)))


def test_minhash_bytes_hold_the_hash_values_and_their_jaccard_is_the_tuple_one():
    import numpy as np
    texts = [ARTICLE, _near_copy(ARTICLE), ' '.join(ARTICLE.split(' ')[:48]), 'short text', '']
    signatures = [SIGNER.sign(_doc(f'd{i}', text)).minhash for i, text in enumerate(texts)]
    assert len(signatures[0]) == CONFIG.num_perm * 4 and signatures[-1] == b''
    from datasketch import MinHash
    reference = MinHash(num_perm=CONFIG.num_perm, seed=CONFIG.minhash_seed)
    reference.update_batch([s.encode() for s in similarity.MinHasher(
        CONFIG.num_perm, CONFIG.minhash_seed, CONFIG.shingle_words).shingles(ARTICLE)])
    assert np.frombuffer(signatures[0], similarity.MINHASH_DTYPE).tolist() == [
        int(v) for v in reference.hashvalues]
    as_tuples = [tuple(np.frombuffer(s, similarity.MINHASH_DTYPE).tolist()) for s in signatures]
    for a, ta in zip(signatures, as_tuples):
        for b, tb in zip(signatures, as_tuples):
            assert similarity.minhash_jaccard(a, b) == _tuple_jaccard(ta, tb)
    assert 0.5 < similarity.minhash_jaccard(signatures[0], signatures[1]) < 1.0


def _plain_flags(docs, config=CONFIG):
    """What FlagDuplicates must give, by the plain route: every bucket's matches (`compare_bucket`
    on full signatures, band copies with their MinHash), combined per document."""
    signatures = [SIGNER.sign(d) for d in docs]
    combine, best = BestMatchesFn(), {}
    for match in _matches(docs, config):
        best[match.later] = combine.add_input(best.get(match.later, BestMatches()), match)
    parents = {doc_id: b.parent().earlier for doc_id, b in best.items()}
    return [(s.id, dedup_info(s, best.get(s.id, BestMatches()), parents)) for s in signatures]


def _copies(count):
    """`count` near copies of ARTICLE, each with another edit, a minute apart."""
    words = ARTICLE.split(' ')
    return [_doc(f'c{i}', ' '.join(words[:30 + i] + ['edited'] + words[31 + i:]),
                 f'2023-11-14T10:{i:02d}:00') for i in range(count)]


def test_band_buckets_name_pairs_and_each_distinct_pair_is_tested_once():
    docs = _copies(4)
    signatures = [SIGNER.sign(d) for d in docs]
    buckets = {}
    for signature in signatures:
        for key, entry in batch_bucket_entries(signature, CONFIG):
            packed = entry[10:] if key[0] == 'b' else entry  # a band entry: digest first
            assert key[0] == 't' or unpack_bucket_entry(packed) == (
                signature.order_key, signature.event_time, signature.content_hash)
            buckets.setdefault(key, []).append(entry)
    outputs = [out for key, copies in buckets.items() if key[0] == 'b'
               for out in compare_or_name_pairs(key, copies, CONFIG)]
    assert all(isinstance(out, beam.pvalue.TaggedOutput) for out in outputs)
    named = [out.value for out in outputs]
    distinct = set(named)
    assert len(distinct) == 6 and len(named) > 5 * len(distinct)  # 4 copies share most bands
    assert all(later[0] > earlier[0] for later, earlier in distinct)  # (later, earlier) ...
    expected = {m for m in _matches(docs) if m.tier == NEAR_COPY}
    assert len(expected) == 6
    with direct_pipeline() as p:
        near = ((p | 'Signatures' >> beam.Create(signatures), p | 'Pairs' >> beam.Create(named))
                | TestNearCopyPairs(CONFIG))
        assert_that(near, equal_to(sorted(expected, key=lambda m: (m.later, m.earlier))))



def test_story_buckets_shuffle_plain_tuples_and_give_the_signatures_matches():
    reports = _ecb_reports()
    entries = [[entry for key, entry in batch_bucket_entries(signature, CONFIG) if key[0] == 't']
               for signature in reports]
    # Plain tuples of primitives, which Beam's coder writes without pickling; one per heavy term.
    assert all(len(copies) == CONFIG.story_keys and all(type(e) is tuple for e in copies)
               for copies in entries)
    by_signature = set(compare_bucket('t:bucket', reports, CONFIG))
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
    return [(key, copies) for key, copies in buckets.items() if key[0] == 'b']


def test_the_bucket_step_names_each_pair_once_per_bundle():
    from newswire.transforms.dedup import _CompareOrNamePairsFn
    band_buckets = _band_buckets(_copies(4))
    every_naming = [out.value for key, copies in band_buckets
                    for out in compare_or_name_pairs(key, copies, CONFIG)]
    fn = _CompareOrNamePairsFn(CONFIG)
    for _ in range(2):  # a second bundle names the pairs again: its set starts empty
        fn.start_bundle()
        named = [out.value for bucket in band_buckets for out in fn.process(bucket)]
        assert len(named) == len(set(named)) == len(set(every_naming)) == 6
        assert len(every_naming) > 5 * len(named)


def test_the_bucket_step_forgets_named_pairs_past_its_limit_and_loses_none(monkeypatch):
    import newswire.transforms.dedup as dedup
    monkeypatch.setattr(dedup, '_NAMED_PAIRS_MAX', 2)
    fn = dedup._CompareOrNamePairsFn(CONFIG)
    fn.start_bundle()
    named = [out.value for bucket in _band_buckets(_copies(4)) for out in fn.process(bucket)]
    assert len(set(named)) == 6 and len(named) > 6  # every pair, some more than once
    assert len(fn._named) <= 2


@pytest.mark.slow  # two pipelines; the fast subset runs FlagDuplicates once
def test_flag_duplicates_equals_the_plain_per_bucket_route():
    docs = _copies(3) + [
        _doc('orig', ARTICLE, '2023-11-14'),
        _doc('again', ARTICLE.upper(), '2023-11-14T10:00:00'),
        _doc('undated', _near_copy(ARTICLE)),
        _doc('far', ARTICLE, '2024-06-01'),
        _doc('far', ARTICLE, '2024-06-02'),  # the same id again, told apart by its time
        _doc('twin', _copies(5)[4].text, '2023-11-14T11:00:00'),
        _doc('twin', _near_copy(ARTICLE), '2023-11-14T11:00:00'),  # ... or by its text
        _doc('other', 'The central bank raised interest rates by half a point on Thursday.',
             '2023-11-15'),
    ]
    expected = _plain_flags(docs)
    assert {info.tier for _, info in expected} == {None, EXACT, NEAR_COPY}
    with direct_pipeline() as p:
        flagged, _, _ = p | beam.Create(docs) | FlagDuplicates(CONFIG)
        assert_that(flagged | beam.Map(lambda d: (d.id, d.dedup)), equal_to(expected))


def _ecb_reports(topics=(1, 2, 3)):
    """ECB+ reports of a few topics (two similar stories each), as signatures, an hour apart in a
    shuffled order (so that reports of one story lie hours to days apart)."""
    import json
    import random
    from tests.conftest import SHARED_EVAL
    path = SHARED_EVAL / 'same-story-ecbplus' / 'docs.jsonl'
    if not path.is_file():
        pytest.skip('shared/eval is not beside the repo')
    with open(path, encoding='utf-8') as handle:
        records = [r for r in map(json.loads, handle) if r['topic'] in topics]
    random.Random(1).shuffle(records)
    return [SIGNER.sign(_doc(r['doc_id'], r['text'], f'2023-11-{1 + i // 24:02d}T{i % 24:02d}:00:00',
                             title=r['title'])) for i, r in enumerate(records)]


def test_story_cosines_by_one_sparse_product_equal_the_pairwise_ones():
    from newswire.transforms.dedup import _story_cosine
    reports = _ecb_reports()
    matrix = similarity.term_matrix([s.story_vector for s in reports])
    product = (matrix @ matrix.T).toarray()
    vectors = {}
    for i, later in enumerate(reports):
        for j, earlier in enumerate(reports[:i]):
            pairwise = _story_cosine(earlier, later, vectors)
            assert pairwise == similarity.cosine(earlier.story_vector.unpacked(),
                                                 later.story_vector.unpacked())
            assert abs(product[i, j] - pairwise) < 1e-12


def test_large_story_bucket_gives_the_matches_of_the_pairwise_loop(monkeypatch):
    import newswire.transforms.dedup as dedup
    reports = _ecb_reports()
    assert len(reports) > dedup.STORY_MATRIX_MIN_REPORTS
    undated = [dataclasses.replace(s, id=f'{s.id}~undated', event_time=None) for s in reports[::7]]
    configs = [CONFIG, dataclasses.replace(CONFIG, max_bucket_comparisons=10),
               dataclasses.replace(CONFIG, horizon_seconds=24 * 3600),
               dataclasses.replace(CONFIG, story_threshold=0.3, story_central_term_below=0.5),
               dataclasses.replace(CONFIG, story_threshold=0.3, story_central_term_below=0.0)]
    by_product = [set(compare_bucket('t:bucket', reports + undated, c)) for c in configs]
    monkeypatch.setattr(dedup, 'STORY_MATRIX_MIN_REPORTS', 10 ** 9)  # the pairwise loop
    by_loop = [set(compare_bucket('t:bucket', reports + undated, c)) for c in configs]
    assert by_product == by_loop
    assert all(len(matches) > 20 for matches in by_loop)
    # The central-term test removes some matches between 0.3 and 0.5, not all of them.
    assert by_loop[3] < by_loop[4]


def test_a_product_cosine_is_used_only_when_the_loop_would_surely_agree():
    from newswire.transforms.dedup import _certain_score
    at_half = dataclasses.replace(CONFIG, story_threshold=0.5, story_central_term_below=0.5)
    assert _certain_score(0.61234, at_half) == 0.6123
    assert _certain_score(0.7, at_half) == 0.7
    assert _certain_score(0.61235 + 1e-12, at_half) is None  # the loop's could round either way
    assert _certain_score(0.5 + 1e-12, at_half) is None       # ... or fall under the threshold
    assert _certain_score(0.4, at_half) is None
    below = dataclasses.replace(CONFIG, story_threshold=0.3, story_central_term_below=0.5)
    assert _certain_score(0.4, below) == 0.4
    assert _certain_score(0.5 + 1e-12, below) is None  # ... or fall on the other side of 0.5


def test_packed_term_vector_gives_back_the_very_vector():
    features = similarity.story_features('Talks resume in Baku', ARTICLE, 'en')
    packed = similarity.PackedVector.of(features.vector)
    assert packed.unpacked() == features.vector and len(packed.weights) == 8 * len(features.vector)
    assert SIGNER.sign(_doc('a', ARTICLE, title='Talks resume in Baku')).story_vector == packed
    assert similarity.PackedVector.of(()).unpacked() == () and not similarity.PackedVector().terms
    matrix = similarity.term_matrix([packed, similarity.PackedVector(), packed])
    assert matrix.shape == (3, len(features.vector)) and matrix[1].nnz == 0
    assert abs((matrix @ matrix.T)[0, 2] - 1.0) < 1e-12


def test_central_term_is_the_heaviest_and_the_first_key():
    features = similarity.story_features('Talks resume in Baku', ARTICLE, 'en')
    packed = similarity.PackedVector.of(features.vector)
    assert packed.central_term() == features.keys[0]
    tied = similarity.PackedVector.of((('baku', 0.6), ('icrc', 0.6), ('talks', 0.529)))
    assert tied.central_term() == 'baku'  # a tie goes to the first term, as in the keys
    assert tied.has_term('icrc') and not tied.has_term('icr') and not tied.has_term('')
    assert similarity.PackedVector().central_term() == ''


def _story_signature(doc_id: str, weights: dict):
    norm = sum(w * w for w in weights.values()) ** 0.5
    vector = tuple(sorted((term, w / norm) for term, w in weights.items()))
    return dataclasses.replace(SIGNER.sign(_doc(doc_id, doc_id)).story_vector_only(),
                               story_vector=similarity.PackedVector.of(vector))


def test_a_middling_cosine_joins_a_story_only_with_a_shared_central_term():
    meeting = _story_signature('meeting', {'naghiyev': 3, 'kauma': 2, 'baku': 2, 'icrc': 1})
    # The same place and people, another event: neither report's heaviest term is in the other.
    demining = _story_signature('demining', {'mines': 3, 'baku': 2, 'kauma': 2, 'aghdam': 1})
    # Another report about the meeting's subject, in other words.
    follow_up = _story_signature('follow-up', {'exhumation': 3, 'naghiyev': 2, 'aghdam': 2,
                                               'graves': 1})
    config = dataclasses.replace(CONFIG, story_threshold=0.3, story_central_term_below=0.5)

    def score(later, conf):
        match = match_pair('t:baku', meeting, later, conf)
        return match and match.score

    assert score(demining, dataclasses.replace(config, story_central_term_below=0.0)) == 0.4444
    assert score(demining, config) is None
    assert score(follow_up, config) == 0.3333
    cosine_only = dataclasses.replace(config, story_threshold=0.5)
    assert score(follow_up, cosine_only) is None and score(demining, cosine_only) is None
    # At or above story_central_term_below the cosine alone decides.
    close = _story_signature('close', {'zangezur': 2.5, 'kauma': 2, 'baku': 2, 'icrc': 1})
    assert score(close, config) == round(9 / (18 ** 0.5 * 15.25 ** 0.5), 4) > 0.5


def test_normalized_text_is_its_alphanumeric_runs_casefolded():
    import sys
    import unicodedata
    from newswire.transforms.records import normalize_for_hash
    every_character = ''.join(map(chr, range(sys.maxunicode + 1)))
    text = f'Ǆemal   Bijedić—Stadium_2 ½ (3²) {every_character}'
    folded = unicodedata.normalize('NFKC', text).casefold()
    by_character = ' '.join(''.join(c if c.isalnum() else ' ' for c in folded).split())
    assert normalize_for_hash(text) == by_character
    assert normalize_for_hash('Stadium_2, ½!') == 'stadium 2 1 2'  # NFKC: ½ is 1⁄2


def test_word_weights_are_kept_across_documents_and_bounded(monkeypatch):
    similarity._idf_table.cache_clear()
    first = similarity.story_features('Talks resume in Baku', ARTICLE, 'en')
    table = similarity._idf_table('en', similarity.DEFAULT_STORY_PARAMS)
    assert 'exhumation' in table
    assert similarity.story_features('Talks resume in Baku', ARTICLE, 'en') == first  # from the table
    monkeypatch.setattr(similarity, '_IDF_TABLE_MAX_WORDS', 10)
    assert similarity.story_features('Talks resume in Baku', ARTICLE, 'und') == first  # 'und' is 'en'
    assert 10 < len(table) < 200  # emptied once past the bound, then filled by this document only


def test_a_packed_bucket_entry_gives_back_the_very_entry():
    for signature in (SIGNER.sign(_doc('é-1', ARTICLE, '2023-11-14T10:00:00')),
                      SIGNER.sign(_doc('undated', ARTICLE))):
        entry = (signature.order_key, signature.event_time, signature.content_hash)
        assert unpack_bucket_entry(pack_bucket_entry(*entry)) == entry


def test_crowded_key_combiner_agrees_with_the_bucket_test_and_forgets_crowded_times():
    config = dataclasses.replace(CONFIG, max_documents_per_key=3, horizon_seconds=100)
    combine = CrowdedKeyFn(config)
    cases = {(0, 10, 20, 30): True, (0, 10, 20, 300, 310): False, (0, None, 200, 400): False,
             (0, None, 50, 60, 500): True, (0, 1000, 2000, 3000, 4000, 5000, 6000, 7000): False}
    for times, crowded in cases.items():
        left, right = combine.create_accumulator(), combine.create_accumulator()
        for index, when in enumerate(times):
            if index % 2:
                left = combine.add_input(left, when)
            else:
                right = combine.add_input(right, when)
        assert combine.extract_output(combine.merge_accumulators([left, right])) is crowded
        signatures = [BucketEntry((t is None, t or 0.0, f'd{i}'), t, '')
                      for i, t in enumerate(times)]
        assert (dropped_key_kind('t:k', signatures, config) is not None) is crowded
    # Once crowded, the times are let go: the accumulator stays None.
    accumulator = combine.create_accumulator()
    for when in range(0, 40):
        accumulator = combine.add_input(accumulator, float(when))
    assert accumulator is None


def test_a_band_group_is_shuffled_as_one_and_compared_bucket_by_bucket():
    a, b = (SIGNER.sign(_doc(doc_id, ARTICLE, '2023-11-14')) for doc_id in 'ab')

    def entry(signature, digest):
        return bytes.fromhex(digest) + pack_bucket_entry(signature.order_key, signature.event_time,
                                                         signature.content_hash)

    assert band_group_key('b3:' + 'ab' * 10) == 'b3:ab'
    same = compare_or_name_pairs('b3:ab', [entry(a, 'ab' * 10), entry(b, 'ab' * 10)], CONFIG)
    assert [out.value for out in same] == [((b.order_key, b.content_hash),
                                            (a.order_key, a.content_hash))]
    apart = compare_or_name_pairs('b3:ab', [entry(a, 'ab' * 10), entry(b, 'ab' + 'cd' * 9)], CONFIG)
    assert list(apart) == []
