import json
import re

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.clean import Cleaner, load_cleaning_rules
from newswire.transforms.records import Document, SourceRef, TopicTag
from newswire.transforms.topics import (TagTopics, TopicTagger, _needed_literals, _without_overlaps,
                                        load_taxonomy)
from tests.conftest import SEEDS, SHARED_EVAL, direct_pipeline, seed_path

TAXONOMY = load_taxonomy()
TAGGER = TopicTagger(TAXONOMY)
CLEANER = Cleaner(load_cleaning_rules())
ECB = SHARED_EVAL / 'same-story-ecbplus' / 'docs.jsonl'
REQUIRED = {'mine_maps', 'landmines', 'missing_persons', 'mass_graves', 'prisoners_hostages',
            'peace_treaty', 'reconstruction', 'displaced_return', 'human_rights',
            'military_escalation'}
POSITIVE = [(t.id, s) for t in TAXONOMY.topics for s in t.positive_examples]
NEGATIVE = [(t.id, s) for t in TAXONOMY.topics for s in t.negative_examples]


def _ids(text):
    return {tag.id for tag in TAGGER.tag(text, 'en')}


def test_default_taxonomy_covers_the_required_topics():
    assert REQUIRED <= {t.id for t in TAXONOMY.topics}
    for topic in TAXONOMY.topics:
        assert topic.positive_examples and topic.negative_examples, topic.id


@pytest.mark.parametrize('topic,sentence', POSITIVE)
def test_positive_examples_are_tagged(topic, sentence):
    assert topic in _ids(sentence)


@pytest.mark.parametrize('topic,sentence', NEGATIVE)
def test_negative_examples_are_not_tagged(topic, sentence):
    assert topic not in _ids(sentence)


def _seed_tags(prefix):
    return TAGGER.tag(CLEANER.clean(seed_path(prefix).read_text(encoding='utf-8')).text, 'en')


def test_peace_treaty_only_where_a_treaty_is_meant():
    tagged = {p for p in ('000', '001', '002', '003', '004')
              if 'peace_treaty' in {t.id for t in _seed_tags(p)}}
    assert tagged == {'000', '002'}


def test_every_seed_is_about_mine_maps():
    for prefix in ('000', '001', '002', '003', '004'):
        assert 'mine_maps' in {t.id for t in _seed_tags(prefix)}, prefix


@pytest.mark.parametrize('path', sorted(SEEDS.glob('*.txt')), ids=lambda p: p.name[:3])
def test_evidence_offsets_point_into_the_text(path):
    text = CLEANER.clean(path.read_text(encoding='utf-8')).text
    for tag in TAGGER.tag(text, 'en'):
        assert 0 < tag.score <= 1
        for evidence in tag.evidence:
            assert text[evidence.start:evidence.end] == evidence.text


def test_score_grows_with_distinct_evidence_and_overlaps_count_once():
    (one,) = TAGGER.tag('They asked for the mine maps.', 'en')
    assert one.id == 'mine_maps' and one.score == 0.5
    tags = {t.id: t for t in TAGGER.tag(
        'They asked for mine maps. Maps of minefields were promised. Mine maps never came.', 'en')}
    assert len(tags['mine_maps'].evidence) == 3 and tags['mine_maps'].score == 0.875


def test_exclusions_and_language_are_respected():
    assert 'landmines' not in _ids('The coal mines of the region reopened.')
    assert TAGGER.tag('They asked for the mine maps.', 'fr') == ()
    assert TAGGER.tag('They asked for the mine maps.', 'und')[0].id == 'mine_maps'


def test_a_users_own_taxonomy_replaces_the_default(tmp_path):
    path = tmp_path / 'mine.yaml'
    path.write_text(
        'topics:\n'
        '  - id: border_talks\n'
        '    label: Border talks\n'
        '    language: any\n'
        '    patterns: ["\\\\bborder (?:commission|delimitation)\\\\b"]\n')
    tagger = TopicTagger(load_taxonomy(path))
    (tag,) = tagger.tag('The border commission met on Friday.', 'en')
    assert tag.id == 'border_talks' and tag.evidence[0].text == 'border commission'
    assert tagger.tag('They asked for the mine maps.', 'en') == ()


@pytest.mark.parametrize('content,problem', [
    ('topics:\n  - id: Bad-Id\n    patterns: ["x"]\n', 'id'),
    ('topics:\n  - id: ok\n    patterns: []\n', 'pattern'),
    ('topics:\n  - id: ok\n    patterns: ["(x"]\n', 'compile'),
    ('nothing: here\n', 'topics'),
])
def test_invalid_taxonomies_are_refused(tmp_path, content, problem):
    path = tmp_path / 'bad.yaml'
    path.write_text(content)
    with pytest.raises(ValueError, match=problem):
        load_taxonomy(path)


def test_tag_topics_transform():
    docs = [Document(id='a', source=SourceRef('jsonl', 'a'), text='Peace talks resumed.'),
            Document(id='b', source=SourceRef('jsonl', 'b'), text='Nothing to see.')]
    with direct_pipeline() as p:
        good, _ = p | beam.Create(docs) | TagTopics(TAXONOMY)
        assert_that(good | beam.Map(lambda d: (d.id, [t.id for t in d.topics])),
                    equal_to([('a', ['peace_treaty']), ('b', [])]))


# --- the literal prefilter: the same tags and evidence as running every pattern ---------------------

def _tag_running_every_pattern(taxonomy, text, language):
    """The tagger without its prefilter: every pattern and exclusion runs over the text."""
    tags = []
    for topic in taxonomy.topics:
        if topic.language not in ('any', language) and language not in (None, 'und'):
            continue
        excluded = [m.span() for p in topic.exclude for m in re.finditer(p, text, re.IGNORECASE)]
        spans = {}
        for pattern in topic.patterns:
            for match in re.finditer(pattern, text, re.IGNORECASE):
                start, end = match.span()
                if end > start and not any(s < end and start < e for s, e in excluded):
                    spans[(start, end)] = match.group(0)
        evidence = _without_overlaps(spans)
        if len(evidence) >= taxonomy.min_evidence:
            tags.append(TopicTag(id=topic.id, label=topic.label, score=round(1 - 0.5 ** len(evidence), 4),
                                 evidence=tuple(evidence[:taxonomy.max_evidence])))
    return tuple(sorted(tags, key=lambda t: (-t.score, t.id)))


def _assert_prefilter_changes_nothing(texts, taxonomy=TAXONOMY, language='en'):
    tagger = TAGGER if taxonomy is TAXONOMY else TopicTagger(taxonomy)
    differing = [text[:60] for text in texts
                 if tagger.tag(text, language) != _tag_running_every_pattern(taxonomy, text, language)]
    assert not differing, f'{len(differing)} of {len(texts)} differ, first: {differing[0]!r}'


def test_prefilter_changes_nothing_on_the_seeds():
    raw = [path.read_text(encoding='utf-8') for path in sorted(SEEDS.glob('*.txt'))]
    _assert_prefilter_changes_nothing(raw + [CLEANER.clean(text).text for text in raw])


@pytest.mark.skipif(not ECB.is_file(), reason='shared/eval is not beside the repo')
def test_prefilter_changes_nothing_on_news_articles():
    with open(ECB, encoding='utf-8') as handle:
        texts = [json.loads(line)['text'] for line in handle]
    _assert_prefilter_changes_nothing(texts)
    assert sum(bool(TAGGER.tag(text, 'en')) for text in texts) > 10  # there were tags to keep


def test_prefilter_changes_nothing_on_examples_in_any_case():
    sentences = [s for topic in TAXONOMY.topics for s in topic.positive_examples + topic.negative_examples]
    variants = [str.upper, str.title, str.swapcase,
                # characters IGNORECASE matches to ASCII letters: Kelvin sign, long s, dotted and dotless I
                lambda s: s.replace('k', '\u212a').replace('s', '\u017f').replace('i', '\u0130'),
                lambda s: s.upper().replace('I', '\u0131')]
    texts = sentences + [variant(s) for variant in variants for s in sentences]
    _assert_prefilter_changes_nothing(texts)
    _assert_prefilter_changes_nothing(texts, language='und')
    assert TAGGER.tag('THEY ASKED FOR THE MINE MAP\u017f.', 'en')[0].evidence[0].text == 'MINE MAP\u017f'


def test_prefilter_with_a_users_taxonomy(tmp_path):
    path = tmp_path / 'mine.yaml'
    path.write_text(
        'settings:\n  min_evidence: 0\n'
        'topics:\n'
        '  - id: odd_patterns\n'
        '    language: any\n'
        '    patterns: ["(?-i:Talks)", "\\\\bk(?:ö|oe)ln\\\\b", "(?>atomic)+ group", "(a|b)\\\\1c",'
        ' "x{2,} y", "(?=look)ahead", "naïve", "\\\\d+ Straße"]\n'
        '    exclude: ["(?i:TALKS) off"]\n')
    taxonomy = load_taxonomy(path)
    texts = ['Talks talks TALKS off', 'KÖLN and Koeln, köln', 'ATOMICATOMIC GROUP', 'aac bbc abc',
             'xx y x y', 'look lookahead', 'NAÏVE naive', '12 STRASSE 12 Straße 12 STRAẞE', 'nothing']
    _assert_prefilter_changes_nothing(texts, taxonomy, language='de')
    assert TopicTagger(taxonomy).tag('nothing', 'de')[0].score == 0  # min_evidence 0 tags anyway


@pytest.mark.parametrize('pattern,needed', [
    (r'\bmine[- ]?(?:field )?maps?\b', [{'mine'}, {'map'}]),
    (r'\bmass (?:graves?|burials?)\b', [{'mass '}, {'grave', 'burial'}]),
    (r'\b(?:land ?)?mines\b', [{'mines'}]),
    (r'(?:ab)+c', [{'ab'}, {'c'}]),
    (r'\bright (?:of [\w ]{1,30} )?to return\b|\brights? of \w+ to return\b', [{'right'}, {' to return', 'to return'}]),
    (r'(?:mine)?s|x', [{'s', 'x'}]),
    (r'(?:mine)?s|\d', []),  # a branch that needs nothing: nothing is needed
    (r'\w+ [a-z]', [{' '}]),
])
def test_needed_literals(pattern, needed):
    assert sorted(map(set, _needed_literals(pattern)), key=sorted) == sorted(needed, key=sorted)
