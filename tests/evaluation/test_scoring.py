import pytest

from newswire.evaluation import scoring


def test_shingle_score_counts_repeated_shingles():
    gold = 'a b c d a b c d'
    page = scoring.shingle_page_score('a b c d', gold)
    # gold shingles: abcd x2, bcda, cdab, dabc; predicted: abcd once -> tp 1, fn 4, fp 0
    assert (page.tp, page.fp, page.fn) == pytest.approx((0.2, 0.0, 0.8))
    assert not page.exact


def test_same_tokens_are_exact_whatever_the_punctuation_but_case_counts():
    same = scoring.shingle_page_score('One two three four five', 'One, two  three four five!')
    assert (same.fp, same.fn, same.exact) == (0, 0, True)
    cased = scoring.shingle_page_score('One two three four five', 'one two three four five')
    assert cased.fp > 0 and cased.fn > 0 and not cased.exact


def test_short_text_is_one_shingle():
    assert scoring.shingle_counts('hello world') == {('hello', 'world'): 1}
    assert scoring.shingle_counts('') == {}


def test_extraction_scores_average_pages_then_f1():
    pages = [scoring.PageScore(1.0, 0.0, 0.0, True),      # perfect
             scoring.PageScore(0.5, 0.5, 0.0, False),     # precision 0.5, recall 1
             scoring.PageScore(0.0, 0.0, 1.0, False)]     # nothing predicted: recall 0, no precision
    scores = scoring.extraction_scores(pages)
    assert scores['precision'] == pytest.approx(0.75)
    assert scores['recall'] == pytest.approx(2 / 3, abs=1e-4)
    assert scores['f1'] == pytest.approx(2 * 0.75 * (2 / 3) / (0.75 + 2 / 3), abs=1e-4)
    assert scores['exact'] == pytest.approx(1 / 3, abs=1e-4) and scores['pages'] == 3


def test_pairwise_and_bcubed():
    gold = {'a': 1, 'b': 1, 'c': 1, 'd': 2}
    predicted = {'a': 'x', 'b': 'x', 'c': 'y', 'd': 'y'}
    pairwise = scoring.pairwise_prf(predicted, gold)
    # predicted pairs ab, cd; gold pairs ab, ac, bc -> tp 1
    assert (pairwise.precision, pairwise.recall) == pytest.approx((0.5, 1 / 3))
    bcubed = scoring.bcubed_prf(predicted, gold)
    # precision per item: a 1, b 1, c 1/2, d 1/2; recall: a 2/3, b 2/3, c 1/3, d 1
    assert bcubed.precision == pytest.approx(0.75)
    assert bcubed.recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    perfect = scoring.bcubed_prf(gold, gold)
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)


def test_clusterings_must_cover_the_same_items():
    with pytest.raises(ValueError):
        scoring.pairwise_prf({'a': 1}, {'b': 1})


def test_roc_auc_ranks_and_ties():
    assert scoring.roc_auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert scoring.roc_auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert scoring.roc_auc([0.5, 0.5], [True, False]) == 0.5
    # one positive (0.6) beats 2 of 3 negatives (0.1, 0.5; not 0.7)
    assert scoring.roc_auc([0.1, 0.5, 0.7, 0.6], [False, False, False, True]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        scoring.roc_auc([0.1], [True])


def test_accuracy_by_label_with_and_without_a_supported_subset():
    gold = ['en', 'en', 'fr', 'mi']
    predicted = ['en', 'de', 'fr', 'und']
    everything = scoring.accuracy_by_label(gold, predicted)
    assert everything['accuracy'] == 0.5
    assert everything['per_label'] == {'en': 0.5, 'fr': 1.0, 'mi': 0.0}
    assert everything['macro_accuracy'] == pytest.approx(0.5)
    supported = scoring.accuracy_by_label(gold, predicted, {'en', 'fr'})
    assert (supported['accuracy'], supported['items']) == (pytest.approx(2 / 3), 3)
