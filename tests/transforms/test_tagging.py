import json
import random
import re

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.clean import Cleaner, load_cleaning_rules
from newswire.transforms.literals import NeededLiterals
from newswire.transforms.records import Document, Evidence, SourceRef, Tag
from newswire.transforms.tagging import (TagDocuments, Tagger, TaxonomyError, _Rule, _Spans,
                                         _literal_prefix, _without_overlaps, load_taxonomy)
from tests.conftest import SEEDS, SHARED_EVAL, direct_pipeline, first_of_each, seed_path

TAXONOMY = load_taxonomy()
TAGGER = Tagger(TAXONOMY)
CLEANER = Cleaner(load_cleaning_rules())
ECB = SHARED_EVAL / 'same-story-ecbplus' / 'docs.jsonl'
REQUIRED = {'mine_maps', 'landmines', 'missing_persons', 'mass_graves', 'prisoners_hostages',
            'peace_treaty', 'reconstruction', 'displaced_return', 'human_rights',
            'military_escalation'}
LANGUAGES = ('en', 'ru', 'az', 'tr', 'hy', 'ka')
POSITIVE = [(t.id, lang, s) for t in TAXONOMY.tags for lang, ex in t.examples.items() for s in ex.positive]
NEGATIVE = [(t.id, lang, s) for t in TAXONOMY.tags for lang, ex in t.examples.items() for s in ex.negative]
EXAMPLES = [(lang, s) for _, lang, s in POSITIVE + NEGATIVE]
# An example's kind: topic, language, positive or not (the fast subset runs one of each kind).
KIND = {(lang, s): (topic, lang, (topic, lang, s) in POSITIVE) for topic, lang, s in POSITIVE + NEGATIVE}


def _ids(text, language='en', tagger=TAGGER):
    return {tag.id for tag in tagger.tag(text, language)}


def test_default_taxonomy_covers_the_required_tags_in_every_language():
    assert REQUIRED <= {t.id for t in TAXONOMY.tags}
    for tag in TAXONOMY.tags:
        for lang in LANGUAGES:
            assert tag.patterns.get(lang), (tag.id, lang)
            examples = tag.examples.get(lang)
            assert examples and examples.positive and examples.negative, (tag.id, lang)


# The fast subset runs each tag's first example in each language; .ci/run runs them all.
@pytest.mark.parametrize('tag,language,sentence', first_of_each(POSITIVE, lambda e: e[:2]))
def test_positive_examples_are_tagged(tag, language, sentence):
    assert tag in _ids(sentence, language)


@pytest.mark.parametrize('tag,language,sentence', first_of_each(NEGATIVE, lambda e: e[:2]))
def test_negative_examples_are_not_tagged(tag, language, sentence):
    assert tag not in _ids(sentence, language)


@pytest.mark.parametrize('tag,language,sentence', first_of_each(POSITIVE + NEGATIVE,
                                                                 lambda e: KIND[e[1:]]))
def test_examples_tag_the_same_when_their_language_is_unknown(tag, language, sentence):
    """The default taxonomy gives a record in `und` every language's patterns (unknown_language: all):
    each example keeps its verdict when its language is not known."""
    assert TAXONOMY.unknown_language == 'all'
    assert (tag in _ids(sentence, 'und')) == ((tag, language, sentence) in POSITIVE)


@pytest.mark.parametrize('sentence', [
    'Tədbir mayın 28-də, Müstəqillik Günündə keçiriləcək.',
    'Bayram 1 mayın səhərindən başlayır.',
    'Mayın 9-da Qələbə Günü qeyd olunur.',
])
def test_azerbaijani_may_is_no_mine_even_when_read_as_turkish(sentence):
    # a detector may answer tr for Azerbaijani; Turkish mayın (mine) must not fire on az dates
    for language in ('az', 'tr', 'und'):
        assert 'landmines' not in _ids(sentence, language), language


@pytest.mark.parametrize('sentence,language', [
    ('Qarabağ FK came back from two goals down to beat Benfica in Lisbon.', 'en'),
    ('Qarabağ FK Lissabonda Benfikanı 3:2 hesabı ilə məğlub etdi.', 'az'),
    ('Karabağ, Lizbon\'da Benfica\'yı 3-2 yendi.', 'tr'),
    ('«Карабах» обыграл «Бенфику» в Лиссабоне.', 'ru'),
])
def test_the_football_club_is_no_war_and_no_return(sentence, language):
    assert not _ids(sentence, language) & {'military_escalation', 'displaced_return'}


def test_an_institutions_name_alone_is_no_evidence():
    name = 'The State Commission on Prisoners of War, Hostages and Missing Persons presented its budget.'
    assert _ids(name) == set()
    (missing,) = [t for t in TAGGER.tag('Relatives of the missing persons met the State Commission on '
                                        'Prisoners of War, Hostages and Missing Persons.', 'en')]
    assert missing.id == 'missing_persons' and [e.text for e in missing.evidence] == ['missing persons']


@pytest.mark.parametrize('language,sentence', first_of_each(EXAMPLES, KIND.get))
def test_evidence_offsets_point_into_every_languages_text(language, sentence):
    for tag in TAGGER.tag(sentence, language):
        for evidence in tag.evidence:
            assert sentence[evidence.start:evidence.end] == evidence.text


def test_patterns_apply_by_language():
    assert _ids('Армения не передала карты минных полей.', 'ru') == {'mine_maps', 'landmines'}
    assert _ids('Армения не передала карты минных полей.', 'en') == set()
    assert _ids('They asked for the mine maps.', 'ru') == set()
    assert _ids('They asked for the mine maps.', 'fr') == set()  # a language without patterns: any only
    assert _ids('ANAMA cleared 900 hectares.', 'fr') == {'landmines'}  # an `any` pattern


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
    one = {t.id: t for t in TAGGER.tag('They asked for the mine maps.', 'en')}['mine_maps']
    assert len(one.evidence) == 1 and one.score == 0.5
    tags = {t.id: t for t in TAGGER.tag(
        'They asked for mine maps. Maps of minefields were promised. Mine maps never came.', 'en')}
    assert len(tags['mine_maps'].evidence) == 3 and tags['mine_maps'].score == 0.875


def test_exclusions_are_respected():
    assert 'landmines' not in _ids('The coal mines of the region reopened.')
    assert 'landmines' in _ids('The coal mines of the region reopened. A mine blast injured two.')


def test_a_users_own_taxonomy_replaces_the_default(tmp_path):
    path = tmp_path / 'mine.yaml'
    path.write_text(
        'topics:\n'
        '  - id: border_talks\n'
        '    label: Border talks\n'
        '    patterns:\n'
        '      en: ["\\\\bborder (?:commission|delimitation)\\\\b"]\n'
        '      ru: ["\\\\bделимитаци\\\\w* границ\\\\w*"]\n'
        '      any: ["\\\\bOSCE\\\\b"]\n'
        '    exclude:\n'
        '      en: ["\\\\bOSCE Minsk\\\\b"]\n', encoding='utf-8')
    tagger = Tagger(load_taxonomy(path))
    (tag,) = tagger.tag('The border commission met on Friday.', 'en')
    assert tag.id == 'border_talks' and tag.evidence[0].text == 'border commission'
    assert tagger.tag('They asked for the mine maps.', 'en') == ()
    assert _ids('Комиссия обсудила делимитацию границы.', 'ru', tagger) == {'border_talks'}
    assert _ids('Комиссия обсудила делимитацию границы.', 'en', tagger) == set()
    assert _ids('The OSCE Minsk Group was dissolved.', 'en', tagger) == set()  # en exclusion
    assert _ids('The OSCE Minsk Group was dissolved.', 'ru', tagger) == {'border_talks'}  # any pattern
    assert _ids('Комиссия обсудила делимитацию границы.', 'und', tagger) == {'border_talks'}  # default: all


def test_a_taxonomy_in_the_older_shape_is_read_as_one_language(tmp_path):
    path = tmp_path / 'old.yaml'
    path.write_text(
        'topics:\n'
        '  - id: border_talks\n'
        '    language: en\n'
        '    patterns: ["\\\\bborder commission\\\\b"]\n'
        '    exclude: ["\\\\bborder commission of the EU\\\\b"]\n'
        '    examples:\n'
        '      positive: ["The border commission met."]\n'
        '      negative: ["The border commission of the EU met."]\n'
        '  - id: anything\n'
        '    patterns: ["\\\\bOSCE\\\\b"]\n', encoding='utf-8')
    taxonomy = load_taxonomy(path)
    border, anything = taxonomy.tags
    assert border.patterns == {'en': (r'\bborder commission\b',)}
    assert border.exclude == {'en': (r'\bborder commission of the EU\b',)}
    assert border.examples['en'].positive == ('The border commission met.',)
    assert anything.patterns == {'any': (r'\bOSCE\b',)}
    tagger = Tagger(taxonomy)
    assert _ids('The border commission met.', 'en', tagger) == {'border_talks'}
    assert _ids('The border commission of the EU met.', 'en', tagger) == set()
    assert _ids('The border commission met.', 'ru', tagger) == set()
    assert _ids('OSCE', 'ka', tagger) == {'anything'}
    assert _ids('The border commission met.', 'und', tagger) == {'border_talks'}  # as it always was


def test_unknown_language_policy(tmp_path):
    path = tmp_path / 'und.yaml'
    body = ('topics:\n  - id: t\n    patterns:\n      en: ["mine maps"]\n      any: ["ANAMA"]\n')
    for policy, expected in (('any', set()), ('all', {'t'})):
        path.write_text(f'settings:\n  unknown_language: {policy}\n' + body, encoding='utf-8')
        tagger = Tagger(load_taxonomy(path))
        assert _ids('They asked for the mine maps.', 'und', tagger) == expected
        assert _ids('They asked for the mine maps.', None, tagger) == expected
        assert _ids('ANAMA', 'und', tagger) == {'t'}


@pytest.mark.parametrize('content,problem', [
    ('topics:\n  - id: Bad-Id\n    patterns: ["x"]\n', '"id" must be unique'),
    ('topics:\n  - id: ok\n    patterns: []\n', 'at least one pattern'),
    ('topics:\n  - id: ok\n    patterns: {en: []}\n', 'at least one pattern'),
    ('topics:\n  - id: ok\n    patterns: {English: ["x"]}\n', "key 'English' is not a language code"),
    ('topics:\n  - id: ok\n    patterns: {en: "x"}\n', 'language en: "patterns" must be a list'),
    ('topics:\n  - id: ok\n    patterns: 7\n', 'must map language codes'),
    ('settings: {unknown_language: most}\ntopics:\n  - id: ok\n    patterns: ["x"]\n', 'unknown_language'),
    ('nothing: here\n', '"topics" list'),
    ('topics: [\n', 'not valid YAML'),
])
def test_invalid_taxonomies_are_refused(tmp_path, content, problem):
    path = tmp_path / 'bad.yaml'
    path.write_text(content, encoding='utf-8')
    with pytest.raises(TaxonomyError, match=re.escape(problem)) as raised:
        load_taxonomy(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize('patterns,language', [
    ('patterns:\n      en: ["ok"]\n      ru: ["\\\\bминн(?:ые|ых"]\n', 'ru'),
    ('patterns: ["(x"]\n    language: az\n', 'az'),
    ('patterns:\n      any: ["ok"]\n    exclude:\n      hy: ["ական["]\n', 'hy'),
])
def test_a_pattern_that_does_not_compile_names_file_topic_language_and_pattern(tmp_path, patterns,
                                                                                 language):
    path = tmp_path / 'bad.yaml'
    path.write_text('topics:\n  - id: fine\n    patterns: ["x"]\n  - id: broken\n    ' + patterns,
                    encoding='utf-8')
    with pytest.raises(TaxonomyError) as raised:
        load_taxonomy(path)
    message = str(raised.value)
    bad = re.search(r"pattern ('.*') does not compile", message).group(1)
    assert str(path) in message and '(broken)' in message and f'language {language}' in message
    with pytest.raises(re.error):
        re.compile(eval(bad))
    assert isinstance(raised.value, ValueError)  # what the CLI turns into a usage error (exit 2)


def test_tag_documents_transform():
    docs = [Document(id='a', source=SourceRef('jsonl', 'a'), text='Peace talks resumed.'),
            Document(id='b', source=SourceRef('jsonl', 'b'), text='Nothing to see.')]
    with direct_pipeline() as p:
        good, _ = p | beam.Create(docs) | TagDocuments(TAXONOMY)
        assert_that(good | beam.Map(lambda d: (d.id, [t.id for t in d.tags])),
                    equal_to([('a', ['peace_treaty']), ('b', [])]))


# --- the literal prefilter: the same tags and evidence as running every pattern ---------------------

def _rules_for(taxonomy, tag, language):
    """(patterns, exclusions) a record in `language` gets, read from the taxonomy as documented."""
    if language in (None, 'und'):
        if taxonomy.unknown_language == 'all':
            return ([p for ps in tag.patterns.values() for p in ps],
                    [p for ps in tag.exclude.values() for p in ps])
        language = 'any'
    if language not in taxonomy.languages:
        language = 'any'
    return tag.patterns_for(language), tag.exclude_for(language)


def _tag_running_every_pattern(taxonomy, text, language):
    """The tagger without its prefilter: every pattern and exclusion runs over the text."""
    tags = []
    for tag in taxonomy.tags:
        patterns, exclude = _rules_for(taxonomy, tag, language)
        if not patterns:
            continue
        excluded = [m.span() for p in exclude for m in re.finditer(p, text, re.IGNORECASE)]
        spans = {}
        for pattern in patterns:
            for match in re.finditer(pattern, text, re.IGNORECASE):
                start, end = match.span()
                if end > start and not any(s < end and start < e for s, e in excluded):
                    spans[(start, end)] = match.group(0)
        evidence = _without_overlaps(spans)
        if len(evidence) >= taxonomy.min_evidence:
            tags.append(Tag(id=tag.id, label=tag.label, score=round(1 - 0.5 ** len(evidence), 4),
                                 evidence=tuple(evidence[:taxonomy.max_evidence])))
    return tuple(sorted(tags, key=lambda t: (-t.score, t.id)))


def _assert_prefilter_changes_nothing(texts, taxonomy=TAXONOMY, language='en'):
    tagger = TAGGER if taxonomy is TAXONOMY else Tagger(taxonomy)
    differing = [text[:60] for text in texts
                 if tagger.tag(text, language) != _tag_running_every_pattern(taxonomy, text, language)]
    assert not differing, f'{len(differing)} of {len(texts)} differ, first: {differing[0]!r}'


def test_prefilter_changes_nothing_on_the_seeds():
    raw = [path.read_text(encoding='utf-8') for path in sorted(SEEDS.glob('*.txt'))]
    _assert_prefilter_changes_nothing(raw + [CLEANER.clean(text).text for text in raw])


@pytest.mark.slow  # ~10 s: 772 articles, each pattern run twice
@pytest.mark.skipif(not ECB.is_file(), reason='shared/eval is not beside the repo')
def test_prefilter_changes_nothing_on_news_articles():
    with open(ECB, encoding='utf-8') as handle:
        texts = [json.loads(line)['text'] for line in handle]
    _assert_prefilter_changes_nothing(texts)
    assert sum(bool(TAGGER.tag(text, 'en')) for text in texts) > 10  # there were tags to keep


# English in the fast subset (it has a check of its own below); every language in .ci/run.
@pytest.mark.parametrize('language', [pytest.param(lang, marks=() if lang == 'en' else pytest.mark.slow)
                                      for lang in LANGUAGES])
def test_prefilter_changes_nothing_on_examples_in_any_case(language):
    sentences = [s for lang, s in EXAMPLES if lang == language]
    variants = [str.upper, str.title, str.swapcase,
                # characters IGNORECASE matches to ASCII letters: Kelvin sign, long s, dotted and dotless I
                lambda s: s.replace('k', '\u212a').replace('s', '\u017f').replace('i', '\u0130'),
                lambda s: s.upper().replace('I', '\u0131')]
    texts = sentences + [variant(s) for variant in variants for s in sentences]
    _assert_prefilter_changes_nothing(texts, language=language)
    _assert_prefilter_changes_nothing(texts, language='und')
    if language == 'en':
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
    assert Tagger(taxonomy).tag('nothing', 'de')[0].score == 0  # min_evidence 0 tags anyway


def _without_overlaps_pairwise(spans):
    """The definition: longest first (then the first), each kept unless it overlaps one kept before."""
    kept = []
    for (start, end), text in sorted(spans.items(), key=lambda kv: (-(kv[0][1] - kv[0][0]), kv[0])):
        if not any(e.start < end and start < e.end for e in kept):
            kept.append(Evidence(text=text, start=start, end=end))
    return sorted(kept, key=lambda e: e.start)


@pytest.mark.parametrize('seed', range(20))
def test_overlap_checks_agree_with_their_pairwise_definition(seed):
    rng = random.Random(seed)
    spans = {}
    for _ in range(rng.randrange(1, 60)):
        start = rng.randrange(0, 200)
        spans[(start, start + rng.randrange(1, 25))] = 'x'
    assert _without_overlaps(spans) == _without_overlaps_pairwise(spans)
    starts = [rng.randrange(0, 200) for _ in range(rng.randrange(0, 20))]
    excluded = [(s, s + rng.randrange(0, 15)) for s in starts]  # zero-width ones too
    index = _Spans(excluded)
    for start, end in spans:
        assert index.overlaps(start, end) == any(s < end and start < e for s, e in excluded)


@pytest.mark.parametrize('pattern', [r'\bhostages?\b', r'\bmayın(?:lar\w*|a)?\b', r'\bfoo|\bfob',
                                     r'\bмин\w*', r'\bk\w+ x', r'\bab'])
def test_a_rule_finds_what_its_pattern_finds(pattern):
    """The tagger runs r'\\bX...' only where X begins a word: the same matches as re.finditer."""
    regex = re.compile(pattern, re.IGNORECASE)
    rule = _Rule(regex, NeededLiterals.of((), {}), _literal_prefix(pattern, regex))
    assert rule.prefix is not None
    texts = ['hostages xhostages hostage_s _hostages 2hostages, HOSTAGES.', 'xmayınlarmayına mayına 1mayın',
             'foo fob xfoo xfob foob fob', 'заминированные мины Мины минмин', 'k\u212aK kx \u212aelvin x ab',
             'ab ab_ab abab xab aB', '']
    for text in texts:
        assert list(rule.finditer(text)) == [(m.start(), m.end(), m.group(0)) for m in regex.finditer(text)]


@pytest.mark.parametrize('pattern', [r'\b(?:a|b)c', r'\bfoo|bar', r'\b\w+', r'\bx?', r'(?a)\bab', r'\b-x'])
def test_a_rule_without_a_literal_after_its_boundary_runs_its_pattern_throughout(pattern):
    assert _literal_prefix(pattern, re.compile(pattern, re.IGNORECASE)) is None


def test_a_copy_word_for_word_is_tagged_once_per_language():
    from newswire.transforms.records import Language
    from newswire.transforms.tagging import TagDocumentsFn
    text = seed_path('001').read_text(encoding='utf-8')
    docs = [Document(id=f'd{i}', source=SourceRef('jsonl', f'd{i}'), text=body,
                     language=Language(code, 1.0) if code else None)
            for i, (body, code) in enumerate([(text, 'en'), (text, 'en'), (text, 'ru'), (text, None),
                                              ('Mass graves were found.', 'en'), (text, 'en')])]
    fn = TagDocumentsFn(TAXONOMY)
    fn.setup()
    asked = []
    tag = fn._tagger.tag
    fn._tagger.tag = lambda text, language: asked.append(language) or tag(text, language)
    tagged = [next(iter(fn.process(doc))).tags for doc in docs]
    assert tagged == [TAGGER.tag(d.text, d.language.code if d.language else None) for d in docs]
    assert tagged[0] and asked == ['en', 'ru', None, 'en']
