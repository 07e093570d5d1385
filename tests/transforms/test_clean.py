import re

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from newswire.transforms.clean import (CleanBoilerplate, Cleaner, _tried_throughout,
                                       default_rules_path, load_cleaning_rules)
from newswire.transforms.literals import NeededLiterals, case_folding, needed_literals
from newswire.transforms.records import Document, SourceRef
from tests.conftest import SEEDS, direct_pipeline, seed_path

RULES = load_cleaning_rules()
CLEANER = Cleaner(RULES)
EXAMPLES = [(rule, example) for rule in RULES for example in rule.examples]


@pytest.mark.parametrize('rule,example', EXAMPLES,
                         ids=[f'{r.id}-{i}' for i, (r, _) in enumerate(EXAMPLES)])
def test_rule_examples(rule, example):
    removed = CLEANER.clean(example.text, only_rule=rule.id).removed
    assert tuple(r.text for r in removed) == example.removed


def test_every_rule_has_a_positive_example():
    for rule in RULES:
        assert any(example.removed for example in rule.examples), rule.id


def _clean_seed(prefix):
    return CLEANER.clean(seed_path(prefix).read_text(encoding='utf-8'))


def test_seed_001_loses_you_might_also_like():
    result = _clean_seed('001')
    assert 'You Might Also Like' not in result.text
    assert result.text.endswith('The sides also exchanged views on other issues of mutual interest.')
    assert [r.rule for r in result.removed] == ['related_articles_block']


def test_seed_004_loses_whatsapp_promo():
    result = _clean_seed('004')
    assert 'WhatsApp' not in result.text
    assert result.text.endswith('Sahiba Gafarova.')


@pytest.mark.parametrize('prefix,published', [('002', '2023-11-14'), ('003', '2023-09-18')])
def test_font_widget_and_date_header_removed_and_captured(prefix, published):
    result = _clean_seed(prefix)
    assert '↺' not in result.text and 'px' not in result.text.split('\n')[0]
    assert not result.text.startswith('date')
    assert ('published', published) in result.captured


def test_seed_002_signature_becomes_outlet():
    result = _clean_seed('002')
    assert not result.text.rstrip().endswith('News.Az')
    assert ('outlet', 'News.Az') in result.captured


def test_seed_003_timestamp_header_captured_with_offset():
    result = _clean_seed('003')
    assert ('published', '18 September 2023 13:36 (UTC+04:00)') in result.captured
    assert result.text.startswith('The chief of the State Security Service')


# The chrome the seeds carry, as the issue lists it; every other line is article text.
SEED_CHROME = ('You Might Also Like', 'Stay up to date with more news', 'News.Az', 'date 20')


def _body_sentences(raw: str) -> list[str]:
    """Sentences of the lines that are article prose (paragraphs, not chrome: over 60 characters)."""
    sentences = []
    for line in raw.split('\n'):
        line = line.strip()
        if len(line) > 60 and not line.startswith(SEED_CHROME):
            sentences += [s for s in re.split(r'(?<=[.!?])\s+', line) if len(s) > 20]
    return sentences


@pytest.mark.parametrize('path', sorted(SEEDS.glob('*.txt')), ids=lambda p: p.name[:3])
def test_every_body_sentence_survives_cleaning(path):
    raw = path.read_text(encoding='utf-8')
    cleaned = CLEANER.clean(raw).text
    sentences = _body_sentences(raw)
    assert len(sentences) >= 8, sentences
    for sentence in sentences:
        assert sentence in cleaned


@pytest.mark.parametrize('path', sorted(SEEDS.glob('*.txt')), ids=lambda p: p.name[:3])
def test_cleaning_is_idempotent_on_seeds(path):
    once = CLEANER.clean(path.read_text(encoding='utf-8')).text
    assert CLEANER.clean(once).text == once


def test_bad_rules_file_is_refused_with_the_rule_named(tmp_path):
    bad = tmp_path / 'rules.yaml'
    bad.write_text('rules:\n  - id: broken\n    kind: drop_line\n    pattern: "(unclosed"\n')
    with pytest.raises(ValueError) as error:
        load_cleaning_rules(bad)
    assert str(bad) in str(error.value) and 'broken' in str(error.value)
    assert "'(unclosed'" in str(error.value)
    bad.write_text('rules:\n  - id: odd\n    kind: delete_everything\n    pattern: "x"\n')
    with pytest.raises(ValueError, match='kind'):
        load_cleaning_rules(bad)


def test_default_rules_file_is_packaged():
    assert default_rules_path().is_file()


def test_clean_transform_routes_empty_results_to_dead_letters():
    source = SourceRef('text_file', 'x.txt')
    docs = [
        Document(id='a', source=source, text='Body sentence stays here.\n\nYou Might Also Like\nX'),
        Document(id='b', source=source, text='Share this article'),
    ]
    with direct_pipeline() as p:
        good, dead = p | beam.Create(docs) | CleanBoilerplate(RULES)
        assert_that(good | 'Texts' >> beam.Map(lambda d: (d.id, d.text)),
                    equal_to([('a', 'Body sentence stays here.')]), label='good')
        assert_that(dead | 'Reasons' >> beam.Map(lambda d: (d.source.id, d.stage, d.reason)),
                    equal_to([('x.txt', 'clean', 'empty_after_cleaning')]), label='dead')


REGIONAL = ('ru', 'az', 'tr', 'hy', 'ka')
REGIONAL_RULES = [rule for rule in RULES if any(e.language != 'en' for e in rule.examples)]


def test_regional_chrome_has_examples_in_each_language():
    assert len(REGIONAL_RULES) >= 5
    for rule in REGIONAL_RULES:
        languages = {e.language for e in rule.examples if e.removed}
        assert set(REGIONAL) <= languages, (rule.id, languages)
        assert any(not e.removed for e in rule.examples), rule.id  # and a sentence it must keep


def test_regional_chrome_never_removes_english_text():
    texts = [path.read_text(encoding='utf-8') for path in sorted(SEEDS.glob('*.txt'))]
    texts += [e.text for rule in RULES for e in rule.examples if e.language == 'en']
    texts += ['Body.\nShare\nPrint', 'Body.\nFollow us on Telegram', 'Body.\nLatest news\nOther story',
              'Body.\n© 2023 Example. All rights reserved.']
    cleaner = Cleaner(REGIONAL_RULES)
    for text in texts:
        assert cleaner.clean(text).removed == (), text


def test_cleaning_a_regional_page_keeps_its_prose():
    page = ('БАКУ, 14 ноября. /Trend/ Саперы обезвредили еще 30 мин в Агдамском районе.\n'
            'Поделиться\n'
            'Работы продолжатся до конца месяца, сообщили в агентстве.\n'
            'Читайте также: В Баку прошла конференция\n'
            'Подписывайтесь на наш Telegram-канал\n'
            '© 2023 Trend. Все права защищены.\n\n'
            'Последние новости\nКурс маната не изменился')
    result = CLEANER.clean(page)
    assert result.text == ('БАКУ, 14 ноября. /Trend/ Саперы обезвредили еще 30 мин в Агдамском районе.\n'
                           'Работы продолжатся до конца месяца, сообщили в агентстве.')


# The rules the cleaner runs only where their needed literals are (`Cleaner`), and the pieces of
# text they are tested on: every example, in pieces, in any case, with letters whose case folds oddly.
FILTERED = [rule for rule in RULES if _tried_throughout(rule)]
EXAMPLE_TEXTS = sorted({example.text for rule in FILTERED for example in rule.examples})
PIECES = sorted({piece for rule in RULES for example in rule.examples
                 for piece in re.split(r'(?<=\s)', example.text)}) + ['\n', 'ſ', '\u212a', 'İ', 'ı']


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(EXAMPLE_TEXTS) | st.sampled_from(PIECES),
                          st.sampled_from([str, str.upper, str.lower])),
                max_size=12).map(lambda pieces: ''.join(case(piece) for piece, case in pieces)))
@pytest.mark.slow
def test_a_rule_skipped_for_its_absent_literals_matches_no_line(text):
    assert len(FILTERED) >= 4  # the .{0,N}-led and lookbehind rules, regional ones among them
    for rule in FILTERED:
        literals = needed_literals(rule.pattern)
        folding = case_folding(frozenset(ch for options in literals for s in options for ch in s))
        if not NeededLiterals.of(literals, folding).may_match(text.translate(folding)):
            regex = rule.compile()
            assert not any(regex.search(line) for line in text.split('\n')), rule.id


def test_rules_tried_at_every_position_are_those_not_led_by_literals():
    by_id = {rule.id: rule for rule in RULES}
    assert _tried_throughout(by_id['messenger_promo_regional'])  # '.{0,80}?(?:...)'
    assert _tried_throughout(by_id['follow_us_sentence'])  # a lookbehind first
    assert not _tried_throughout(by_id['share_prompt'])  # literals in every branch
    assert not _tried_throughout(by_id['date_header'])  # reads the first line only
