"""Each evaluation on a small slice of the real data, so the harness cannot silently break."""

import json
import random

import pytest

from newswire.evaluation import evaluate
from newswire.pipeline import cli
from tests.conftest import SHARED_EVAL

ZYTE = SHARED_EVAL / 'article-extraction-zyte-benchmark'
ECB = SHARED_EVAL / 'same-story-ecbplus'
LANGID = SHARED_EVAL / 'langid-lingua-testdata'
MRPC = SHARED_EVAL / 'paraphrase-mrpc-news'

needs_data = pytest.mark.skipif(not SHARED_EVAL.is_dir(), reason='shared/eval is not beside the repo')


def _rows(evaluation):
    return {row.system: row.figures for row in evaluation.rows}


@needs_data
def test_extraction_on_a_slice_scores_both_systems():
    result = evaluate.evaluate_extraction(str(ZYTE), limit=4)
    rows = _rows(result)
    ours = rows['newswire (extract_page + cleaner)']
    assert ours['pages'] == 4
    assert 0.5 < ours['f1'] <= 1.0
    assert 0.5 < rows['bare trafilatura (benchmark call)']['f1'] <= 1.0


@needs_data
@pytest.mark.slow
def test_stories_run_the_batch_pipeline_and_score_its_story_ids():
    result = evaluate.evaluate_stories(str(ECB), limit=40, beam_args=['--runner', 'DirectRunner'])
    rows = _rows(result)
    ours = rows['newswire story_id (single pass)']
    assert result.details['documents'] == 40 and result.details['not_enriched'] == []
    # The first 40 train documents span topic 1 (two stories) and part of topic 3.
    assert ours['pair_F1'] > rows['every document its own story']['pair_F1']
    assert 0.0 < ours['b3_F1'] <= 1.0


def test_derived_near_copy_is_edited_but_close():
    from newswire.transforms.similarity import MinHasher

    text = '\n'.join(' '.join(f'word{i}x{j}' for j in range(40)) for i in range(8))
    doc = {'doc_id': 'x', 'title': 'Flood hits valley', 'text': 'Flood hits valley\n' + text}
    copy = evaluate.derive_near_copy(doc, random.Random(3))
    assert copy['copy_of'] == 'x' and copy['doc_id'] == 'x~copy'
    assert copy['text'] != doc['text'] and copy['title'] != doc['title']
    hasher = MinHasher(16, 1, 5)
    a, b = hasher.shingles(doc['text']), hasher.shingles(copy['text'])
    assert len(a & b) / len(a | b) > 0.5
    assert evaluate.derive_near_copy(doc, random.Random(3)) == copy  # seeded: reproducible


def test_genuine_copy_pairs_finds_only_the_copied_pair():
    base = ' '.join(f'word{i}' for i in range(60))
    docs = [{'doc_id': 'a', 'text': base}, {'doc_id': 'b', 'text': base + ' extra tail words here'},
            {'doc_id': 'c', 'text': ' '.join(f'other{i}' for i in range(60))}]
    assert evaluate.genuine_copy_pairs(docs) == {('a', 'b')}


@needs_data
@pytest.mark.slow
def test_near_copies_on_a_slice():
    result = evaluate.evaluate_near_copies(str(ECB), limit=30, beam_args=['--runner', 'DirectRunner'])
    ours = _rows(result)['newswire near_duplicate_of']
    assert ours['copies'] == 15
    assert ours['found'] + ours['wrong_original'] <= 15
    assert 0.0 <= ours['P'] <= 1.0 and 0.0 <= ours['R'] <= 1.0


@needs_data
def test_language_measures_a_detector_on_a_slice():
    measured = evaluate.measure_detector('langdetect', str(LANGID), limit=2)
    assert measured['sentences']['languages_supported'] == 50  # of langdetect's 55, 50 are in the set
    assert set(measured['sentences']['per_language']) == set(measured['word_pairs']['per_language'])
    assert len(measured['sentences']['per_language']) == 75
    assert 0.5 < measured['sentences']['accuracy_supported'] <= 1.0
    assert measured['sentences']['ms_per_text'] > 0


@needs_data
def test_paraphrase_on_a_slice():
    result = evaluate.evaluate_paraphrase(str(MRPC), limit=60)
    rows = _rows(result)
    assert result.details['pairs'] == 60
    assert 0.0 <= rows['newswire story cosine']['roc_auc'] <= 1.0


@needs_data
def test_cli_prints_json_for_a_task(capsys):
    assert cli.main(['eval', 'paraphrase', '--data', str(MRPC), '--limit', '40', '--json']) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result['task'] == 'paraphrase' and result['rows'][0]['figures']['roc_auc'] >= 0.0


@needs_data
def test_cli_refuses_a_bad_beam_option(capsys):
    assert cli.main(['eval', 'stories', '--data', str(ECB), '--limit', '3', '--no_such_option']) == 2
    assert 'no_such_option' in capsys.readouterr().err


def test_cli_refuses_a_missing_folder(tmp_path, capsys):
    assert cli.main(['eval', 'stories', '--data', str(tmp_path / 'nope')]) == 2
    assert 'no such folder' in capsys.readouterr().err


def test_table_marks_our_rows():
    table = evaluate.format_table(evaluate.Evaluation('x', 'd', [
        evaluate.Row('ours', {'f1': 0.5}), evaluate.Row('base', {'f1': 0.25}, baseline=True)]))
    assert '* ours' in table and '  base' in table and '0.250' in table


def _measured(per_language: dict, supported: list, accuracy: float) -> dict:
    """A `measure_detector` result with the figures the language table reads."""
    return {'supported': supported, 'rss_growth_mib': 10.0, 'peak_rss_mib': 200.0,
            'sentences': {'accuracy': accuracy, 'accuracy_supported': accuracy,
                          'ms_per_text': 1.0, 'per_language': per_language},
            'word_pairs': {'accuracy': accuracy / 2, 'per_language': per_language}}


def test_language_table_has_a_row_per_region_language_and_compares_with_langdetect():
    everything = {code: 1.0 for code in evaluate.REGION_LANGUAGES} | {'fr': 0.9, 'de': 1.0}
    old = _measured({**everything, 'az': 0.0, 'hy': 0.0}, ['en', 'fr', 'de', 'ru', 'tr'], 0.6)
    new = _measured({**everything, 'fr': 0.8}, ['az', 'en', 'fr', 'de', 'hy', 'ru', 'tr'], 0.8)
    rows = _rows(evaluate.Evaluation('language', 'd', evaluate.language_rows(
        {'langdetect': old, 'regional': new})))
    assert [name for name in rows][:10] == list(evaluate.REGION_LANGUAGES)
    assert rows['az'] == {'langdetect': 0.0, 'regional': 1.0}
    # langdetect knows fr, de and en of the test languages (ru, tr too): the macro average over them.
    assert rows["langdetect's 5 languages (macro)"] == {'langdetect': 0.98, 'regional': 0.96}
    assert rows['languages below langdetect'] == {'langdetect': 0, 'regional': 1}  # fr
    assert rows['all languages (sentences)']['py3langid (PROVENANCE)'] == 0.910
    table = evaluate.format_table(evaluate.Evaluation('language', 'd', evaluate.language_rows(
        {'langdetect': old, 'regional': new})))
    assert all(f'* {code} ' in table for code in evaluate.REGION_LANGUAGES)


@needs_data
@pytest.mark.slow
def test_language_evaluation_runs_each_detector_in_its_own_process():
    result = evaluate.evaluate_language(str(LANGID), limit=2, detectors=['langdetect', 'regional'])
    rows = _rows(result)
    assert set(result.details) == {'langdetect', 'regional'}
    assert rows['hy'] == {'langdetect': 0.0, 'regional': 1.0}  # langdetect has no Armenian
    assert 0 < rows['process peak RSS MiB']['regional'] < 1024
