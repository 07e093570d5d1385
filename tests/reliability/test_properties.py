"""Property tests (hypothesis): cleaning, metadata and dedup hold for any text, not just our examples."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswire.transforms.clean import Cleaner, load_cleaning_rules
from newswire.transforms.dedup import DedupConfig, Signer, candidate_keys, compare_bucket
from newswire.transforms.metadata import MetadataExtractor, load_metadata_rules, parse_published
from newswire.transforms.records import Document, SourceRef

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
