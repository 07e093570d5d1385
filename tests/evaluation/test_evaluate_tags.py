"""`newswire eval topics` through the console entry point, on a small labelled set with a taxonomy of
its own (so the figures below, counted by hand, do not move when the built-in taxonomy changes)."""

import json

import pytest

from newswire.evaluation import evaluate_tags
from newswire.pipeline import cli

TAXONOMY = """
topics:
  - id: mines
    label: Mines
    language: en
    patterns: ['\\bmines?\\b']
    exclude: ['\\bcoal mines?\\b']
  - id: talks
    label: Talks
    language: any
    patterns: ['\\bpeace talks\\b']
"""

# Labelled texts and, per line, what the tagger does with the given language:
GOOD_LINES = [
    # mines tagged and labelled: tp mines
    {'id': 'e1', 'language': 'en', 'text': 'Deminers found two mines near the school road.',
     'labels': ['mines']},
    # a trap: the exclusion keeps it untagged
    {'id': 'e2', 'language': 'en', 'text': 'The coal mines of the valley closed in spring.',
     'labels': []},
    # tp talks, fp mines
    {'id': 'e3', 'language': 'en', 'text': 'Peace talks resumed while old mines still lie nearby.',
     'labels': ['talks']},
    # fn talks
    {'id': 'e4', 'language': 'en', 'text': 'Negotiators met again in Washington on Monday.',
     'labels': ['talks']},
    # English text given as Russian: the English-only topic is not applied, fn mines. The language
    # stage detects English, and then it is a tp.
    {'id': 'r1', 'language': 'ru',
     'text': 'Deminers cleared the mines laid along the border road near the village last week.',
     'labels': ['mines']},
]
BAD_LINES = [
    '{"id": "b1", "language": "en", "text": "no closing brace"',
    json.dumps({'id': 'b2', 'language': 'en', 'text': 'labels missing'}),
    json.dumps({'id': 'b3', 'language': 'en', 'text': 'x', 'labels': ['no_such_topic']}),
    json.dumps({'id': 'e1', 'language': 'en', 'text': 'the id again', 'labels': []}),
]


@pytest.fixture
def labelled(tmp_path):
    data = tmp_path / 'data'
    (data / 'more').mkdir(parents=True)
    (data / 'en.jsonl').write_text(
        ''.join(json.dumps(item) + '\n' for item in GOOD_LINES[:3]) + '\n', encoding='utf-8')
    (data / 'more' / 'mixed.jsonl').write_text(
        '\n'.join([json.dumps(GOOD_LINES[3]), *BAD_LINES, json.dumps(GOOD_LINES[4])]) + '\n',
        encoding='utf-8')
    (data / 'notes.txt').write_text('not read: only *.jsonl files are', encoding='utf-8')
    taxonomy = tmp_path / 'taxonomy.yaml'
    taxonomy.write_text(TAXONOMY, encoding='utf-8')
    return data, taxonomy


def _run_json(capsys, *argv):
    assert cli.main(['eval', 'topics', *argv, '--json']) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_figures_per_topic_language_and_overall_as_counted_by_hand(labelled, capsys):
    data, taxonomy = labelled
    result, err = _run_json(capsys, '--data', str(data), '--taxonomy', str(taxonomy))
    assert result['texts'] == 5 and result['language_from'] == 'given'
    assert result['per_topic']['mines'] == {'precision': 0.5, 'recall': 0.5, 'f1': 0.5,
                                            'tp': 1, 'fp': 1, 'fn': 1}
    assert result['per_topic']['talks'] == {'precision': 1.0, 'recall': 0.5, 'f1': 0.6667,
                                            'tp': 1, 'fp': 0, 'fn': 1}
    assert result['per_language']['en'] == {
        'texts': 4, 'unlabelled': 1, 'unlabelled_tagged': 0,
        'precision': 0.6667, 'recall': 0.6667, 'f1': 0.6667, 'tp': 2, 'fp': 1, 'fn': 1}
    assert result['per_language']['ru'] == {
        'texts': 1, 'unlabelled': 0, 'unlabelled_tagged': 0,
        'precision': 0.0, 'recall': 0.0, 'f1': 0.0, 'tp': 0, 'fp': 0, 'fn': 1}
    # micro: tp 2, fp 1, fn 2 -> P 2/3, R 1/2, F1 4/7; macro: mean of (1/2, 1/2, 1/2), (1, 1/2, 2/3)
    assert result['overall']['micro'] == {'precision': 0.6667, 'recall': 0.5, 'f1': 0.5714,
                                          'tp': 2, 'fp': 1, 'fn': 2}
    assert result['overall']['macro'] == {'precision': 0.75, 'recall': 0.5, 'f1': 0.5833,
                                          'topics': 2}
    assert [(m['kind'], m['id'], m['topic'], m['evidence']) for m in result['mistakes']] == [
        ('false_positive', 'e3', 'mines', ['mines']),
        ('false_negative', 'e4', 'talks', []),
        ('false_negative', 'r1', 'mines', []),
    ]
    assert 'mines still lie' in result['mistakes'][0]['excerpt']
    assert [(b['path'], b['line']) for b in result['bad_lines']] == [
        ('more/mixed.jsonl', n) for n in (2, 3, 4, 5)]
    problems = [b['problem'] for b in result['bad_lines']]
    assert 'malformed JSON' in problems[0] and "missing ['labels']" in problems[1]
    assert "['no_such_topic']" in problems[2] and 'already used at en.jsonl:1' in problems[3]
    assert 'skipped 4 bad line(s)' in err


def test_detect_language_tags_with_the_language_stage_s_answer(labelled, capsys):
    data, taxonomy = labelled
    result, _ = _run_json(capsys, '--data', str(data), '--taxonomy', str(taxonomy),
                          '--detect-language')
    assert result['language_from'] == 'detected'
    assert result['detected_languages']['ru'] == {'en': 1}
    assert result['per_topic']['mines'] == {'precision': 0.6667, 'recall': 1.0, 'f1': 0.8,
                                            'tp': 2, 'fp': 1, 'fn': 0}
    assert result['per_language']['ru']['tp'] == 1  # still counted under the given language


def test_tables_show_every_topic_language_and_mistake(labelled, capsys):
    data, taxonomy = labelled
    assert cli.main(['eval', 'topics', '--data', str(data), '--taxonomy', str(taxonomy)]) == 0
    out = capsys.readouterr().out
    assert 'overall micro  P 0.667  R 0.500  F1 0.571' in out
    assert any(line.split()[:4] == ['mines', '0.500', '0.500', '0.500'] for line in out.splitlines())
    assert any(line.split()[:2] == ['ru', '1'] for line in out.splitlines())
    assert 'FP mines' in out and 'e3 [en]' in out and 'more/mixed.jsonl:3:' in out


def test_nothing_readable_is_a_usage_error(tmp_path, capsys):
    (tmp_path / 'bad.jsonl').write_text('[1, 2]\n', encoding='utf-8')
    assert cli.main(['eval', 'topics', '--data', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'bad.jsonl:1: expected a JSON object, got list' in err and 'no labelled text' in err
    assert cli.main(['eval', 'topics', '--data', str(tmp_path / 'nope')]) == 2
    assert 'no such folder' in capsys.readouterr().err


def test_a_taxonomy_that_does_not_load_is_a_usage_error(tmp_path, capsys):
    (tmp_path / 'a.jsonl').write_text(json.dumps(GOOD_LINES[0]) + '\n', encoding='utf-8')
    broken = tmp_path / 'taxonomy.yaml'
    broken.write_text('topics:\n  - id: x\n    patterns: ["(unclosed"]\n', encoding='utf-8')
    assert cli.main(['eval', 'topics', '--data', str(tmp_path), '--taxonomy', str(broken)]) == 2
    assert 'does not compile' in capsys.readouterr().err


def test_excerpt_is_short_and_marks_cuts():
    text = 'word ' * 100
    assert evaluate_tags._excerpt(text, 200).startswith('…')
    assert len(evaluate_tags._excerpt(text)) <= evaluate_tags.EXCERPT_CHARS + 1


def test_the_dev_set_reads_cleanly_with_half_traps_in_each_language():
    from pathlib import Path

    from newswire.transforms.tagging import load_taxonomy

    dev = Path(__file__).resolve().parents[2] / 'eval' / 'topics-dev'
    topic_ids = frozenset(t.id for t in load_taxonomy().tags)
    texts, bad = evaluate_tags.read_labelled(str(dev), topic_ids)
    assert bad == []
    for language in ('en', 'ru', 'az', 'tr', 'hy', 'ka'):
        mine = [t for t in texts if t.language == language]
        traps = [t for t in mine if t.id.startswith(f'{language}-t')]
        assert len(mine) >= 40 and 2 * len(traps) == len(mine), language
        assert all(t.path == f'{language}.jsonl' for t in mine)
        assert all(t.labels for t in mine if t not in traps), language  # every story is labelled
