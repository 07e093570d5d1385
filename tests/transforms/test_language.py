import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.language import DetectLanguage, LangdetectDetector, LanguageConfig
from newswire.transforms.records import Document, SourceRef
from tests.conftest import SEEDS, direct_pipeline

DETECTOR = LangdetectDetector(LanguageConfig())


@pytest.mark.parametrize('path', sorted(SEEDS.glob('*.txt')), ids=lambda p: p.name[:3])
def test_seeds_are_english_with_confidence(path):
    language = DETECTOR.detect(path.read_text(encoding='utf-8'))
    assert language.code == 'en'
    assert language.confidence > 0.9


@pytest.mark.parametrize('text,code', [
    ('Le ministre des Affaires étrangères a rencontré hier son homologue arménien à Paris.', 'fr'),
    ('Der Außenminister traf sich gestern in Berlin mit seinem armenischen Amtskollegen.', 'de'),
    ('Министр иностранных дел встретился вчера со своим армянским коллегой в Москве.', 'ru'),
])
def test_other_languages(text, code):
    assert DETECTOR.detect(text).code == code


@pytest.mark.parametrize('text', ['', '12345 67 89', '!!! ???', 'OK', '—' * 50])
def test_too_short_or_featureless_text_is_undetermined(text):
    language = DETECTOR.detect(text)
    assert (language.code, language.confidence) == ('und', 0.0)


def test_detection_is_deterministic_across_instances():
    text = 'Baku Yerevan talks. Les négociations continuent. Die Gespräche gehen weiter.'
    first = [DETECTOR.detect(text) for _ in range(5)]
    other = LangdetectDetector(LanguageConfig())
    assert {*first, other.detect(text)} == {first[0]}


def test_detect_language_transform():
    docs = [Document(id='a', source=SourceRef('jsonl', 'a'),
                     text='The foreign ministers met in Washington to discuss the peace treaty.'),
            Document(id='b', source=SourceRef('jsonl', 'b'), text='2023')]
    with direct_pipeline() as p:
        good, dead = p | beam.Create(docs) | DetectLanguage(LanguageConfig())
        assert_that(good | beam.Map(lambda d: (d.id, d.language.code)),
                    equal_to([('a', 'en'), ('b', 'und')]), label='codes')
        assert_that(dead, equal_to([]), label='no dead letters')


_MIXED_SCRIPTS = [
    'Le ministre des Affaires étrangères a rencontré hier son homologue à Paris. NATO and the UN.',
    'Министр иностранных дел встретился вчера с коллегой в Москве, сообщает ТАСС.',
    'Bộ trưởng Ngoại giao đã gặp người đồng cấp tại Hà Nội hôm qua.',
    'وزير الخارجية التقى أمس نظيره في القاهرة. The meeting was held in CAIRO.',
    '外交部长昨天在北京会见了他的同行。 ASEAN 2024',
    'Ministrul de externe s-a întâlnit ieri la București cu omologul său, în ședința țării.',
    'ΥΠΟΥΡΓΟΣ ΕΞΩΤΕΡΙΚΩΝ met OSCE delegates — “quotes”, e-mail me@example.org, http://x.org/a',
]


@pytest.mark.parametrize('text', [p.read_text(encoding='utf-8') for p in sorted(SEEDS.glob('*.txt'))]
                         + _MIXED_SCRIPTS)
def test_fast_ngram_extraction_matches_langdetects_own(text):
    from langdetect.detector import Detector

    from newswire.transforms.language import _detector_class

    ours, theirs = _detector_class()(DETECTOR._factory), Detector(DETECTOR._factory)
    for detector in (ours, theirs):
        detector.append(text)
        detector.cleaning_text()
    assert ours._extract_ngrams() == theirs._extract_ngrams()
    ours.seed = theirs.seed = 0
    assert [str(p) for p in ours.get_probabilities()] == [str(p) for p in theirs.get_probabilities()]


def test_recent_answers_are_reused_and_bounded(monkeypatch):
    from newswire.transforms import language as module

    monkeypatch.setattr(module, 'RECENT_SAMPLES', 2)
    detector = LangdetectDetector(LanguageConfig())
    texts = ['The minister met his counterpart in Paris yesterday to discuss the treaty.',
             'Le ministre a rencontré hier son homologue à Paris pour parler du traité.',
             'Der Minister traf gestern seinen Amtskollegen in Paris, um über den Vertrag zu reden.']
    answers = [detector.detect(text) for text in texts]
    assert [a.code for a in answers] == ['en', 'fr', 'de']
    assert list(detector._recent) == texts[1:]  # the oldest went first
    assert detector.detect(texts[0]) == answers[0] == DETECTOR.detect(texts[0])
