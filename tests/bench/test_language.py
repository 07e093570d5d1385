"""The language step's benchmark on a few articles, so it cannot silently break. Nothing is timed."""

import pytest

from bench import corpus
from bench.language import main, measure
from newswire.evaluation.evaluate import REGION_LANGUAGES

pytestmark = pytest.mark.skipif(
    not (corpus.shared_eval() / 'langid-lingua-testdata' / 'sentences.tsv').is_file(),
    reason='no ../shared/eval/langid-lingua-testdata beside this checkout')


def test_measure_detects_each_language_one_by_one_and_batched():
    result = measure('regional', 3)
    assert set(result['per_language']) == {*REGION_LANGUAGES, 'en'}
    for figures in result['per_language'].values():
        assert figures['articles_per_second'] > 0 and figures['batched_articles_per_second'] > 0
        assert 0.0 <= figures['right'] <= 1.0
    assert result['per_language']['hy']['right'] == 1.0  # its script names it


@pytest.mark.slow  # a fresh process per detector
def test_main_prints_both_ways_for_each_detector(capsys):
    assert main(['--detector', 'langdetect', '--articles', '2']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines[1:]] == [['langdetect', 'one'], ['langdetect', 'batched']]
