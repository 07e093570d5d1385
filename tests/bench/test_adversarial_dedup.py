"""The adversarial dedup corpora, and a scaled-down batch run on them: crowded candidate keys are
dropped, counted in the summary and logged once per kind, and exact copies all still point at the
first one."""

import json
import logging

import pytest

from bench import adversarial_dedup
from newswire.pipeline.job.run import run_batch


def _texts(paths):
    return [path.read_text(encoding='utf-8') for path in paths]


def test_corpora_are_reproducible_and_have_their_shape(tmp_path):
    for kind in adversarial_dedup.KINDS:
        first = _texts(adversarial_dedup.write_corpus(kind, 50, tmp_path / f'{kind}-a'))
        again = _texts(adversarial_dedup.write_corpus(kind, 50, tmp_path / f'{kind}-b'))
        assert first == again and len(first) == 50
    near = _texts(adversarial_dedup.write_corpus('near_identical', 50, tmp_path / 'near'))
    assert len(set(near)) == 50
    assert all(len(text.split()) == 30 for text in near)
    vocabulary = set(adversarial_dedup.VOCABULARY)
    for text in _texts(adversarial_dedup.write_corpus('small_vocabulary', 50, tmp_path / 'small')):
        assert {word.strip('.').lower() for word in text.split()} <= vocabulary
    assert len(set(_texts(adversarial_dedup.write_corpus('identical', 50, tmp_path / 'same')))) == 1


@pytest.mark.slow
def test_crowded_keys_are_dropped_counted_and_logged_once_and_exact_copies_all_found(
        tmp_path, caplog):
    corpus = tmp_path / 'in'
    adversarial_dedup.write_corpus('near_identical', 1000, corpus)
    adversarial_dedup.write_corpus('small_vocabulary', 400, corpus)
    adversarial_dedup.write_corpus('identical', 600, corpus)
    settings = tmp_path / 'settings.yaml'
    settings.write_text('dedup:\n  max_documents_per_key: 100\n', encoding='utf-8')
    output = tmp_path / 'out'
    with caplog.at_level(logging.WARNING, logger='newswire.transforms.dedup'):
        summary = run_batch([f'--input={corpus}', f'--output={output}', f'--settings={settings}'])

    dropped = summary['dedup_dropped_keys']
    assert set(dropped) == {'lsh_band', 'story_term'} and min(dropped.values()) > 0
    logged = [record.getMessage() for record in caplog.records
              if 'dropped as candidate keys' in record.getMessage()]
    assert len(logged) == 2  # once per kind, not per key or document
    for kind, count in dropped.items():
        assert sum(f'{count} {kind} keys' in message for message in logged) == 1

    records = [json.loads(line) for line in
               (output / 'enriched-00000-of-00001.jsonl').read_text().splitlines()]
    assert summary['enriched'] == len(records) == 2000
    copies = [r for r in records if r['source']['path'].startswith('identical-')]
    first = min(r['id'] for r in copies)  # no publication times: the first is the smallest id
    assert len(copies) == 600
    assert {r['dedup']['duplicate_of'] for r in copies if r['id'] != first} == {first}
    assert [r['dedup']['tier'] for r in copies if r['id'] == first] == [None]
    assert summary['duplicates_by_tier']['exact'] == 599
