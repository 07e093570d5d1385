import pytest

from newswire.transforms.clean import Cleaner, load_cleaning_rules
from newswire.transforms.metadata import (MetadataExtractor, load_metadata_rules, parse_published,
                                          split_title)
from newswire.transforms.records import Dateline, Document, SourceRef
from tests.conftest import seed_path

RULES = load_metadata_rules()
EXTRACTOR = MetadataExtractor(RULES)
CLEANER = Cleaner(load_cleaning_rules())


@pytest.mark.parametrize('section,text,expected', RULES.examples,
                         ids=[f'{s}-{i}' for i, (s, _, _) in enumerate(RULES.examples)])
def test_rule_examples(section, text, expected):
    if section == 'attributions':
        assert EXTRACTOR.outlet_from_text(text) == expected['outlet']
    else:
        dateline, outlet = EXTRACTOR.dateline(text)
        assert dateline.place == expected['place']
        assert dateline.month == expected.get('month')
        assert dateline.day == expected.get('day')
        assert outlet == expected.get('outlet')


@pytest.mark.parametrize('value,expected', [
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
