"""The pair tests."""

import dataclasses
import math

import pytest

from newswire.transforms import similarity
from newswire.transforms.dedup import NEAR_COPY, is_near_copy, match_pair
from newswire.transforms.dedup.keys import CandidateKey, KeyKind
from tests.transforms.dedup.documents import ARTICLE, CONFIG, SIGNER, ecb_reports, make_doc

BAND_KEY = CandidateKey(KeyKind.BAND, '00' * 10, 0)


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
    original = SIGNER.sign(make_doc('orig', ARTICLE, '2023-11-14'))
    trimmed = SIGNER.sign(make_doc('copy', ' '.join(ARTICLE.split(' ')[:48]), '2023-11-15'))
    jaccard = similarity.minhash_jaccard(original.minhash, trimmed.minhash)
    assert 0.45 <= jaccard < 0.5
    match = match_pair(BAND_KEY, original, trimmed, CONFIG)
    assert match is not None and match.tier == NEAR_COPY and match.earlier == 'orig'
    without_containment = dataclasses.replace(CONFIG, near_copy_containment=1.01)
    assert match_pair(BAND_KEY, original, trimmed, without_containment) is None


def _story_signature(doc_id: str, weights: dict):
    norm = sum(w * w for w in weights.values()) ** 0.5
    vector = tuple(sorted((term, w / norm) for term, w in weights.items()))
    return dataclasses.replace(SIGNER.sign(make_doc(doc_id, doc_id)).story_vector_only(),
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
        match = match_pair(CandidateKey(KeyKind.TERM, 'baku'), meeting, later, conf)
        return match and match.score

    assert score(demining, dataclasses.replace(config, story_central_term_below=0.0)) == 0.4444
    assert score(demining, config) is None
    assert score(follow_up, config) == 0.3333
    cosine_only = dataclasses.replace(config, story_threshold=0.5)
    assert score(follow_up, cosine_only) is None and score(demining, cosine_only) is None
    # At or above story_central_term_below the cosine alone decides.
    close = _story_signature('close', {'zangezur': 2.5, 'kauma': 2, 'baku': 2, 'icrc': 1})
    assert score(close, config) == round(9 / (18 ** 0.5 * 15.25 ** 0.5), 4) > 0.5


def test_story_cosines_by_one_sparse_product_equal_the_pairwise_ones():
    from newswire.transforms.dedup.pairs import _story_cosine
    reports = ecb_reports()
    matrix = similarity.term_matrix([s.story_vector for s in reports])
    product = (matrix @ matrix.T).toarray()
    vectors = {}
    for i, later in enumerate(reports):
        for j, earlier in enumerate(reports[:i]):
            pairwise = _story_cosine(earlier, later, vectors)
            assert pairwise == similarity.cosine(earlier.story_vector.unpacked(),
                                                 later.story_vector.unpacked())
            assert abs(product[i, j] - pairwise) < 1e-12



def test_screening_pairs_below_the_threshold_changes_no_match():
    from newswire.transforms.dedup.pairs import Match, _story_cosine
    reports = ecb_reports()
    key = CandidateKey(KeyKind.TERM, 'ecb')
    configs = {}
    vectors = {}
    matched = 0
    for i, later in enumerate(reports):
        for earlier in reports[:i]:
            cosine = _story_cosine(earlier, later, vectors)
            # At the pair's very cosine and one float either side, where a screen that dropped too
            # much would show, and at a threshold most pairs are far below.
            for threshold in (math.nextafter(cosine, 0.0), cosine, math.nextafter(cosine, 1.0), 0.5):
                config = configs.get(threshold) or configs.setdefault(threshold, dataclasses.replace(
                    CONFIG, story_threshold=threshold, story_central_term_below=0.0))
                expected = (Match(later.id, earlier.id, earlier.order_key, 'same_story',
                                  round(cosine, 4)) if cosine >= threshold else None)
                assert match_pair(key, earlier, later, config, vectors) == expected
                matched += expected is not None
    assert matched > 2 * len(reports) * (len(reports) - 1) // 2
