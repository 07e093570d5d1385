"""Property tests (hypothesis): cleaning, metadata and dedup hold for any text, not just our
examples; any record, however odd, is written or a dead letter."""

import json

import apache_beam as beam
import pytest
from apache_beam.pvalue import TaggedOutput
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswire.pipeline.job.assembly import WriteBatchOutputs, build
from newswire.pipeline.job.settings import load_settings
from newswire.transforms.clean import Cleaner, load_cleaning_rules
from newswire.transforms.dead_letters import DEAD_LETTER, ApplyStage, dead_letter
from newswire.transforms.dedup import DedupConfig, Signer, candidate_keys, compare_bucket
from newswire.transforms.metadata import MetadataExtractor, load_metadata_rules, parse_published
from newswire.transforms.read_files import document_from_record
from newswire.transforms.records import Document, Language, SourceRef, encode_json_line
from newswire.transforms.write import SerialiseRecordFn
from tests.conftest import direct_pipeline

SETTINGS = load_settings()

CLEANER = Cleaner(load_cleaning_rules())
EXTRACTOR = MetadataExtractor(load_metadata_rules())
CONFIG = DedupConfig()
SIGNER = Signer(CONFIG)

# Text made of article-like lines, chrome lines and arbitrary unicode, so rules do fire.
CHROME = st.sampled_from([
    'You Might Also Like', 'Read also: Baku talks', 'Follow us on Telegram', 'News.Az',
    ' date 2023-11-14 + ↺ − 16 px', '© 2023 Example Media. All rights reserved.', 'Share',
    'Stay up to date with more news at Trend News Agency\'s WhatsApp channel',
    '18 September 2023 13:36 (UTC+04:00)', 'BAKU, Azerbaijan, November 14. Talks, Trend reports.'])
LINES = st.lists(st.one_of(CHROME, st.text(max_size=200)), max_size=12)
TEXTS = LINES.map('\n'.join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_cleaning_never_raises_and_is_idempotent(text):
    once = CLEANER.clean(text)
    assert CLEANER.clean(once.text).text == once.text
    for removal in once.removed:
        assert removal.rule


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.one_of(st.none(), st.text(max_size=60)))
def test_metadata_never_raises(text, published):
    cleaned = CLEANER.clean(text)
    doc = Document(id='x', source=SourceRef('jsonl', 'x'), text=cleaned.text,
                   published_at=published, captured=cleaned.captured)
    out = EXTRACTOR.extract(doc)
    assert out.published_at is None or parse_published(out.published_at) is not None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parse_published_never_raises(value):
    parse_published(value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(['a', 'b', 'c', 'd']), TEXTS,
                          st.one_of(st.none(), st.sampled_from(['2023-11-14', '2023-11-15']))),
                min_size=1, max_size=6))
def test_dedup_never_matches_a_document_with_itself(items):
    # Ids repeat on purpose: the same record id twice must never match itself.
    signatures = [SIGNER.sign(Document(id=i, source=SourceRef('jsonl', i), text=t or '.',
                                       published_at=p)) for i, t, p in items]
    buckets = {}
    for signature in signatures:
        for key, s in candidate_keys(signature, CONFIG):
            buckets.setdefault(key, []).append(s)
    for key, members in buckets.items():
        for match in compare_bucket(key, members, CONFIG):
            assert match.later != match.earlier


# --- Records through the stages and the writers -------------------------------------------------
# Any JSON record, however odd, ends as exactly one enriched line or one dead letter, every line
# written is strict JSON in UTF-8, and the summary's accounting adds up.

SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
ODD_TEXT = st.lists(st.one_of(st.text(max_size=12), SURROGATES), max_size=5).map(''.join)
LEAVES = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
    st.integers(), st.integers(min_value=-10 ** 4000, max_value=10 ** 4000), ODD_TEXT)
JSON_VALUES = st.recursive(
    LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=12)


def _nested(depth: int):
    value = 'floor'
    for level in range(depth):
        value = [value] if level % 2 else {'down': value}
    return value


# Deep-ish: a real record's extra nests a few levels; 150 is past any of them and still within what
# the stages' shuffles can encode (the reader bounds what it accepts).
DEEP = st.integers(1, 150).map(_nested)
SENTENCES = st.sampled_from([
    'The ferry service between the two islands resumed on Thursday after the storm.',
    'Officials said the new bridge would carry about 20,000 vehicles a day.',
    'BAKU, Azerbaijan, May 3. The ministry published its quarterly trade figures.',
    'Farmers reported a late frost that damaged part of the apricot harvest.',
    'Share', 'Follow us on Telegram', '© 2024 Example Media. All rights reserved.',
])
PROSE = st.lists(st.one_of(SENTENCES, SURROGATES, ODD_TEXT), min_size=1, max_size=8).map(' '.join)
ODD_FIELD = st.one_of(PROSE, ODD_TEXT, JSON_VALUES)
RECORDS = st.tuples(
    st.fixed_dictionaries({'text': st.one_of(PROSE, PROSE, ODD_FIELD)}, optional={
        'id': st.one_of(ODD_TEXT, st.integers(min_value=-10 ** 4000, max_value=10 ** 4000),
                        ODD_FIELD),
        'html': st.one_of(PROSE.map(lambda t: f'<html><body><p>{t}</p></body></html>'), ODD_FIELD),
        'title': st.one_of(ODD_TEXT, ODD_TEXT, ODD_TEXT, ODD_FIELD),
        'published': st.one_of(st.sampled_from(['2024-05-03T10:00:00Z', 'May 3, 2024']),
                               ODD_TEXT, ODD_FIELD),
        'url': st.one_of(st.sampled_from(['https://example.test/a', 'http://[oops']), ODD_TEXT),
        'outlet': ODD_TEXT,
    }),
    st.dictionaries(ODD_TEXT, st.one_of(JSON_VALUES, DEEP), max_size=4),
).map(lambda known_extra: {**known_extra[1], **known_extra[0]})
# As an input line: JSON escapes carry the surrogates, Python's literals the non-finite floats.
LINES = RECORDS.map(lambda record: json.dumps(record, ensure_ascii=True))


def _strict_loads(line):
    def refuse(constant):
        raise ValueError(f'non-standard JSON constant {constant}')
    return json.loads(line, parse_constant=refuse)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RECORDS, st.one_of(st.none(), st.sampled_from([0.5, float('nan'), float('inf')])))
def test_any_record_serialises_or_is_a_dead_letter_that_serialises(record, confidence):
    """The write stage alone: a line that is strict JSON, or an `unserialisable` dead letter."""
    text = record.get('text') if isinstance(record.get('text'), str) else 'x'
    doc = Document(id='d', source=SourceRef('jsonl', 'line-1', line=1), text=text,
                   title=record.get('title') if isinstance(record.get('title'), str) else None,
                   language=None if confidence is None else Language('en', confidence),
                   extra={k: v for k, v in record.items() if k not in ('text', 'title')})
    (out,) = SerialiseRecordFn().process(doc)
    if isinstance(out, TaggedOutput):
        assert (out.tag, out.value.stage, out.value.reason) == (DEAD_LETTER, 'write',
                                                                'unserialisable')
        _strict_loads(encode_json_line(out.value.to_json_dict()).decode('utf-8'))
        return
    written, (_, line) = out
    assert written is doc
    parsed = _strict_loads(line.decode('utf-8'))
    assert parsed['text'] == text


class _ParseLineFn(beam.DoFn):
    """Stands in for the file reader: (line number, JSON line) -> Document or a read dead letter."""

    def process(self, numbered):
        number, line = numbered
        source = SourceRef('jsonl', f'line-{number}', path='records.jsonl', line=number)
        doc, problem = document_from_record(json.loads(line), source)
        if doc is None:
            yield TaggedOutput(DEAD_LETTER, dead_letter('read', *problem, source, line))
        else:
            yield doc


class _ReadLines(beam.PTransform):

    def __init__(self, lines):
        super().__init__()
        self._lines = lines

    def expand(self, pbegin):
        return (pbegin
                | 'Lines' >> beam.Create(list(enumerate(self._lines, start=1)))
                | 'Parse' >> ApplyStage(_ParseLineFn(), 'read'))


@pytest.mark.slow
@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(st.lists(LINES, min_size=1, max_size=25))
def test_every_record_is_written_or_a_dead_letter_and_the_counts_add_up(tmp_path_factory, lines):
    output = tmp_path_factory.mktemp('out')
    with direct_pipeline() as p:
        build(p, _ReadLines(lines), SETTINGS) | WriteBatchOutputs(str(output), 2)

    def read(prefix):
        return [_strict_loads(line) for path in sorted(output.glob(f'{prefix}-*.jsonl'))
                for line in path.read_bytes().decode('utf-8').splitlines()]

    enriched, dead = read('enriched'), read('dead_letter')
    summary = json.loads((output / 'summary.json').read_text())
    assert (summary['documents_read'], summary['enriched'], summary['dead_letters']) == (
        len(lines), len(enriched), len(dead))
    assert summary['accounting_ok']
    # Each input line ends exactly once: as an enriched record or as a dead letter.
    ends = sorted([r['source']['line'] for r in enriched] + [r['source']['line'] for r in dead])
    assert ends == list(range(1, len(lines) + 1))
