import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.clean import Cleaner, load_cleaning_rules
from newswire.transforms.records import Document, SourceRef
from newswire.transforms.topics import TagTopics, TopicTagger, load_taxonomy
from tests.conftest import SEEDS, direct_pipeline, seed_path

TAXONOMY = load_taxonomy()
TAGGER = TopicTagger(TAXONOMY)
CLEANER = Cleaner(load_cleaning_rules())
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
