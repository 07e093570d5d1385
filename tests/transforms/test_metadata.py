import dataclasses
import json

import jsonschema
import pytest

from newswire.transforms.clean import Cleaner, load_cleaning_rules
from newswire.transforms.metadata import (MetadataExtractor, load_metadata_rules, parse_published,
                                          split_title)
from newswire.transforms.records import Dateline, Document, SourceRef
from tests.conftest import REPO, SEEDS, seed_path

RULES = load_metadata_rules()
EXTRACTOR = MetadataExtractor(RULES)
CLEANER = Cleaner(load_cleaning_rules())


@pytest.mark.parametrize('section,text,expected', RULES.examples,
                         ids=[f'{s}-{i}' for i, (s, _, _) in enumerate(RULES.examples)])
def test_rule_examples(section, text, expected):
    if section == 'attributions':
        assert EXTRACTOR.outlet_from_text(text) == expected['outlet']
    else:
        dateline, outlet, published = EXTRACTOR.dateline(text)
        if expected['place'] is None:
            assert dateline is None
            return
        assert dateline.place == expected['place']
        assert dateline.month == expected.get('month')
        assert dateline.day == expected.get('day')
        assert outlet == expected.get('outlet')
        assert published == expected.get('published')


REGIONAL = ('ru', 'az', 'tr', 'hy', 'ka')


def test_datelines_have_examples_in_each_regional_language():
    languages = {expected.get('language') for section, _, expected in RULES.examples
                 if section == 'datelines' and expected['place'] is not None}
    assert set(REGIONAL) <= languages


# A dateline per script, the month word put where that language puts it.
def _dateline_with(form: str) -> str:
    first = form[0]
    if 'А' <= first.upper() <= 'Я':
        return f'БАКУ, 14 {form}. /Trend/ Текст.'
    if '\u0531' <= first <= '\u0587':
        return f'ԵՐԵՎԱՆ, {form} 14. Տեքստ։'
    if '\u10d0' <= first <= '\u10ff':
        return f'თბილისი, 14 {form}. ტექსტი.'
    if first.islower():
        return f'Bakı, 14 {form} /Trend/ Mətn.'
    return f'Ankara, 14 {form} (AA) Metin.'


@pytest.mark.parametrize('form,english', RULES.months, ids=[f for f, _ in RULES.months])
def test_every_month_form_reads_as_its_english_name(form, english):
    dateline, _, _ = EXTRACTOR.dateline(_dateline_with(form))
    assert (dateline.month, dateline.day) == (english, 14)


def _english_texts():
    texts = [path.read_text(encoding='utf-8') for path in sorted(SEEDS.glob('*.txt'))]
    texts += [text for _, text, expected in RULES.examples if expected.get('language', 'en') == 'en']
    texts += [e.text for rule in load_cleaning_rules() for e in rule.examples if e.language == 'en']
    texts += ['London, 14 May 2023. Markets rose.', 'Sources, 3 mart stores closed.',
              'WASHINGTON, 14 March (Reuters) - Talks resumed.', 'Ankara, 14 of them arrived.']
    return texts


def test_regional_datelines_never_read_english_text():
    regional = dataclasses.replace(RULES, datelines=tuple(
        r for r in RULES.datelines if r.id.endswith(REGIONAL)))
    assert len(regional.datelines) == len(REGIONAL)
    extractor = MetadataExtractor(regional)
    for text in _english_texts():
        assert extractor.dateline(text).dateline is None, text


def test_dateline_year_becomes_published_at_unless_the_page_said_more():
    source = SourceRef('text_file', 'x')
    text = 'БАКУ, 14 ноября 2023 года. /АПА/ Саперы обезвредили 30 мин.\n\nВторой абзац.'
    doc = EXTRACTOR.extract(Document(id='x', source=source, text=text))
    assert doc.published_at == '2023-11-14'
    assert doc.dateline == Dateline('БАКУ', 'November', 14)
    assert doc.source.outlet == 'APA'
    headed = EXTRACTOR.extract(Document(id='y', source=source, text=text,
                                        captured=(('published', '2023-11-15'),)))
    assert headed.published_at == '2023-11-15'
    no_year = EXTRACTOR.extract(Document(id='z', source=source, text='БАКУ, 14 ноября. /Trend/ Т.'))
    assert no_year.published_at is None and no_year.dateline.month == 'November'
    impossible = EXTRACTOR.extract(Document(id='w', source=source,
                                            text='Bakı, 31 fevral 2024-cü il /Report/ Mətn.'))
    assert impossible.published_at is None and impossible.dateline.day == 31


def test_regional_datelines_fit_the_record_schema():
    schema = json.loads((REPO / 'pipeline' / 'schemas' / 'enriched_record.schema.json').read_text())
    for section, text, expected in RULES.examples:
        if section != 'datelines' or expected['place'] is None:
            continue
        dateline, _, published = EXTRACTOR.dateline(text)
        jsonschema.validate(dataclasses.asdict(dateline), schema['properties']['dateline'])
        jsonschema.validate(published, schema['properties']['published_at'])


@pytest.mark.parametrize('value,expected', [
    (' ' * 40_000 + 'UTC+04:00', None),  # longer than any date: not read (it would be quadratic)
    ('2023-11-14', ('2023-11-14', 1)),
    ('18 September 2023 13:36 (UTC+04:00)', ('2023-09-18T13:36:00+04:00', 3)),
    ('14 Nov 2023 10:00 GMT-05:00', ('2023-11-14T10:00:00-05:00', 3)),
    ('Tue, 14 Nov 2023 10:00:00 +0400', ('2023-11-14T10:00:00+04:00', 3)),
    ('2023-11-14T10:00:00Z', ('2023-11-14T10:00:00+00:00', 3)),
    ('2023-11-14T10:00:00', ('2023-11-14T10:00:00', 2)),
    ('November 14, 2023', ('2023-11-14', 1)),
    ('2023-13-45', None),
    ('not a date', None),
    ('', None),
])
def test_parse_published(value, expected):
    assert parse_published(value) == expected


def test_split_title_takes_a_headline_line_only():
    assert split_title('Talks resume in Baku\n\nThe sides met.', 200) == (
        'Talks resume in Baku', 'The sides met.')
    assert split_title('The sides met on Monday.\n\nMore.', 200) == (None,
                                                                    'The sides met on Monday.\n\nMore.')
    assert split_title('Only one paragraph', 200) == (None, 'Only one paragraph')


def _seed(prefix):
    cleaned = CLEANER.clean(seed_path(prefix).read_text(encoding='utf-8'))
    doc = Document(id=prefix, source=SourceRef('text_file', prefix), text=cleaned.text,
                   captured=cleaned.captured)
    return EXTRACTOR.extract(doc)


def test_seed_000_dateline_and_attributed_outlet():
    doc = _seed('000')
    assert doc.dateline == Dateline('BAKU, Azerbaijan', 'November', 14)
    assert doc.source.outlet == 'Trend'
    assert doc.title is None


def test_seed_001_headline_becomes_title_and_leaves_text():
    doc = _seed('001')
    assert doc.title == ('Chief of Azerbaijan’s State Security Service meets with OSCE '
                         'Parliamentary Assembly President')
    assert doc.text.startswith('Chief of Azerbaijan’s State Security Service, Chairman')
    assert doc.source.outlet is None  # "..., reports." names no outlet


def test_seed_002_date_header_and_signature():
    doc = _seed('002')
    assert doc.published_at == '2023-11-14'
    assert doc.source.outlet == 'News.Az'


def test_seed_003_keeps_the_utc_offset():
    doc = _seed('003')
    assert doc.published_at == '2023-09-18T13:36:00+04:00'
    assert doc.source.outlet == 'Azernews'


def test_seed_004_told_outlet():
    assert _seed('004').source.outlet == 'Trend'


def test_source_outlet_and_date_win_and_bad_dates_are_kept_raw():
    doc = Document(id='x', source=SourceRef('jsonl', 'x', outlet='Reuters'),
                   text='Body, Trend reports.\n\nMore.', published_at='yesterday-ish',
                   captured=(('published', '2023-11-14'),))
    out = EXTRACTOR.extract(doc)
    assert out.source.outlet == 'Reuters'
    assert out.published_at == '2023-11-14'
    assert out.extra['published_raw'] == 'yesterday-ish'


def test_bad_rules_file_names_the_file_rule_and_pattern(tmp_path):
    bad = tmp_path / 'metadata.yaml'
    bad.write_text('datelines:\n  - id: broken_dateline\n    pattern: "^(?P<place>[A-Z"\n')
    with pytest.raises(ValueError) as error:
        load_metadata_rules(bad)
    assert str(bad) in str(error.value) and 'broken_dateline' in str(error.value)
    assert '^(?P<place>[A-Z' in str(error.value)
    bad.write_text('datelines:\n  - id: odd\n    pattern: "^(?P<town>X)"\n')
    with pytest.raises(ValueError, match='town'):
        load_metadata_rules(bad)
    bad.write_text('months:\n  Brumaire: [x]\n')
    with pytest.raises(ValueError, match='Brumaire'):
        load_metadata_rules(bad)
