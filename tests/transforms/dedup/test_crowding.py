"""Crowded keys dropped as stop words."""

import dataclasses

from newswire.transforms.dedup import (DROPPED_KEYS, BucketEntry, CrowdedKeyFn,
                                       batch_bucket_entries, compare_bucket, compare_or_name_pairs,
                                       dropped_key_kind)
from newswire.transforms.dedup.keys import CandidateKey, KeyKind
from tests.transforms.dedup.documents import ARTICLE, CONFIG, SIGNER, make_doc

ICRC = CandidateKey(KeyKind.TERM, 'icrc')  # a story key
SAME_TEXT = CandidateKey(KeyKind.CONTENT, 'same')  # an exact key


def test_a_band_or_term_key_crowded_within_the_horizon_is_dropped_and_an_exact_key_never():
    config = dataclasses.replace(CONFIG, max_documents_per_key=3, horizon_seconds=10 * 86400)
    daily = [SIGNER.sign(make_doc(f'd{i}', ARTICLE, f'2023-11-{10 + i:02d}')) for i in range(4)]
    weekly = [SIGNER.sign(make_doc(f'w{i}', ARTICLE, f'2023-{i + 1:02d}-01')) for i in range(4)]
    undated = SIGNER.sign(make_doc('u', ARTICLE))
    assert dropped_key_kind(CandidateKey(KeyKind.BAND, '00ff', 3), daily, config) == 'lsh_band'
    assert dropped_key_kind(ICRC, daily, config) == 'story_term'
    assert dropped_key_kind(SAME_TEXT, daily, config) is None  # exact keys are never dropped
    assert dropped_key_kind(ICRC, daily[:3], config) is None  # 3 is not more than 3
    # Four a month apart: never more than one within ten days; one with no time is within any.
    assert dropped_key_kind(ICRC, weekly, config) is None
    assert dropped_key_kind(ICRC, weekly[:3] + [undated], config) is None
    assert dropped_key_kind(ICRC, daily[:3] + [undated], config) == 'story_term'
    assert list(compare_bucket(ICRC, daily, config)) == []
    assert [(out.tag, out.value) for out in compare_or_name_pairs(
        ICRC.encode(), [entry for s in daily for k, entry in batch_bucket_entries(s, config)
                   if k == ICRC.encode()], config)] == [(DROPPED_KEYS, 'story_term')]
    assert len(list(compare_bucket(ICRC, daily[:3], config))) == 3


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
        assert (dropped_key_kind(ICRC, signatures, config) is not None) is crowded
    # Once crowded, the times are let go: the accumulator stays None.
    accumulator = combine.create_accumulator()
    for when in range(0, 40):
        accumulator = combine.add_input(accumulator, float(when))
    assert accumulator is None
