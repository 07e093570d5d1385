"""One bucket's comparisons."""

import dataclasses

from newswire.transforms.dedup import EXACT, NEAR_COPY, compare_bucket, match_pair
from newswire.transforms.dedup.keys import CandidateKey, KeyKind
from tests.transforms.dedup.documents import (ARTICLE, CONFIG, SIGNER, all_matches, ecb_reports,
                                              make_doc, near_copy_of)

STORY_KEY = CandidateKey(KeyKind.TERM, 'missing')
EXACT_KEY = CandidateKey(KeyKind.CONTENT, 'same')


def test_exact_duplicate_by_content_and_by_source_id():
    matches = all_matches([
        make_doc('a', ARTICLE, '2023-11-14'),
        make_doc('b', ARTICLE.upper() + '  ', '2023-11-15'),       # same normalized content
        make_doc('c', 'Completely different words here about trade.', '2023-11-16', source_id='a'),
    ])
    exact = {(m.later, m.earlier) for m in matches if m.tier == EXACT}
    assert exact == {('b', 'a'), ('c', 'a')}


def test_near_copy_found_and_points_to_the_earlier_item():
    matches = all_matches([make_doc('copy', near_copy_of(ARTICLE), '2023-11-15'),
                        make_doc('orig', ARTICLE, '2023-11-14')])
    near = [m for m in matches if m.tier == NEAR_COPY]
    assert near and {(m.later, m.earlier) for m in near} == {('copy', 'orig')}
    assert all(0.5 <= m.score < 1 for m in near)


def test_nothing_is_compared_with_itself_or_across_the_horizon():
    late = make_doc('late', ARTICLE, '2024-06-01')
    matches = all_matches([make_doc('a', ARTICLE, '2023-11-14'), late, late])
    assert all(m.later != m.earlier for m in matches)
    assert not [m for m in matches if m.later == 'late' and m.earlier == 'a']


def test_order_is_publication_then_id_and_unknown_times_come_last():
    matches = all_matches([make_doc('z', ARTICLE, '2023-11-14'), make_doc('a', ARTICLE, None),
                        make_doc('m', ARTICLE, '2023-11-14')])
    exact = {(m.later, m.earlier) for m in matches if m.tier == EXACT}
    # An exact bucket matches each document with the earliest before it: m (same time, first id).
    assert exact == {('z', 'm'), ('a', 'm')}


def test_bucket_comparisons_are_capped():
    config = dataclasses.replace(CONFIG, max_bucket_comparisons=2)
    sigs = [SIGNER.sign(make_doc(f'd{i}', ARTICLE, f'2023-11-{10 + i}')) for i in range(5)]
    matches = list(compare_bucket(STORY_KEY, sigs, config))
    assert len(matches) == 2 + 2 + 2 + 1  # d1 sees d0; d2..d4 see their two predecessors
    # An exact bucket is not capped: every copy is matched with the first one.
    exact = {(m.later, m.earlier) for m in compare_bucket(EXACT_KEY, sigs, config)}
    assert exact == {(f'd{i}', 'd0') for i in range(1, 5)}


def test_large_story_bucket_gives_the_matches_of_the_pairwise_loop(monkeypatch):
    import newswire.transforms.dedup.buckets as dedup
    reports = ecb_reports()
    assert len(reports) > dedup.STORY_MATRIX_MIN_REPORTS
    undated = [dataclasses.replace(s, id=f'{s.id}~undated', event_time=None) for s in reports[::7]]
    configs = [CONFIG, dataclasses.replace(CONFIG, max_bucket_comparisons=10),
               dataclasses.replace(CONFIG, horizon_seconds=24 * 3600),
               dataclasses.replace(CONFIG, story_threshold=0.3, story_central_term_below=0.5),
               dataclasses.replace(CONFIG, story_threshold=0.3, story_central_term_below=0.0)]
    by_product = [set(compare_bucket(STORY_KEY, reports + undated, c)) for c in configs]
    monkeypatch.setattr(dedup, 'STORY_MATRIX_MIN_REPORTS', 10 ** 9)  # the pairwise loop
    by_loop = [set(compare_bucket(STORY_KEY, reports + undated, c)) for c in configs]
    assert by_product == by_loop
    assert all(len(matches) > 20 for matches in by_loop)
    # The central-term test removes some matches between 0.3 and 0.5, not all of them.
    assert by_loop[3] < by_loop[4]


def test_a_product_cosine_is_used_only_when_the_loop_would_surely_agree():
    from newswire.transforms.dedup.buckets import _certain_score
    at_half = dataclasses.replace(CONFIG, story_threshold=0.5, story_central_term_below=0.5)
    assert _certain_score(0.61234, at_half) == 0.6123
    assert _certain_score(0.7, at_half) == 0.7
    assert _certain_score(0.61235 + 1e-12, at_half) is None  # the loop's could round either way
    assert _certain_score(0.5 + 1e-12, at_half) is None       # ... or fall under the threshold
    assert _certain_score(0.4, at_half) is None
    below = dataclasses.replace(CONFIG, story_threshold=0.3, story_central_term_below=0.5)
    assert _certain_score(0.4, below) == 0.4
    assert _certain_score(0.5 + 1e-12, below) is None  # ... or fall on the other side of 0.5


def test_a_pair_met_in_another_small_story_bucket_is_not_tested_again(monkeypatch):
    import newswire.transforms.dedup.buckets as buckets
    reports = ecb_reports()[:24]
    # Overlapping buckets of at most 16 reports, which the pairwise loop compares.
    groups = [reports[0:12], reports[6:18], reports[10:24], reports[0:12]]
    expected = [sorted(compare_bucket(STORY_KEY, group, CONFIG), key=repr) for group in groups]
    tested_pairs = []

    def counted(key, earlier, later, config, vectors=None):
        tested_pairs.append((earlier.id, later.id))
        return match_pair(key, earlier, later, config, vectors)

    monkeypatch.setattr(buckets, 'match_pair', counted)
    tested = {}
    got = [sorted(compare_bucket(STORY_KEY, group, CONFIG, tested=tested), key=repr)
           for group in groups]
    assert got == expected and any(expected)
    assert len(tested_pairs) == len(set(tested_pairs)) == len(tested)
    assert len(tested) < sum(len(g) * (len(g) - 1) // 2 for g in groups)
