import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.language import (DetectLanguage, LangdetectDetector, LanguageConfig,
                                          make_detector)
from newswire.transforms.records import UNDETERMINED, Document, SourceRef
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


LINGUA = make_detector(LanguageConfig(detector='lingua'))


@pytest.mark.parametrize('text,code', [
    ('Le ministre des Affaires étrangères a rencontré hier son homologue arménien à Paris.', 'fr'),
    ('Der Außenminister traf sich gestern in Berlin mit seinem armenischen Amtskollegen.', 'de'),
    # Basque and Yoruba: langdetect has no profile for either.
    ('Eusko Jaurlaritzak ikastetxeentzako plan berria aurkeztu du gaur Gasteizen, eta datorren ikasturtean hasiko da.', 'eu'),
    ('Ìjọba àpapọ̀ ti kéde ètò tuntun fún àwọn ilé-ìwé ní gbogbo ìpínlẹ̀ lónìí.', 'yo'),
])
def test_lingua_detector(text, code):
    language = LINGUA.detect(text)
    assert language.code == code and 0.0 < language.confidence <= 1.0
    assert LINGUA.detect(text) == language  # deterministic


@pytest.mark.parametrize('text', ['', '12345 67 89', '!!! ???', 'OK', '—' * 50])
def test_lingua_keeps_the_und_rules(text):
    assert LINGUA.detect(text) == UNDETERMINED


def test_detectors_report_their_languages():
    assert {'en', 'fr', 'ru'} <= DETECTOR.supported_languages()
    assert not {'eu', 'yo'} & DETECTOR.supported_languages()
    assert len(LINGUA.supported_languages()) == 75


def test_detector_is_chosen_in_settings(tmp_path):
    from newswire.pipeline.settings import load_settings

    assert load_settings().language.detector == 'langdetect'
    chosen = tmp_path / 'settings.yaml'
    chosen.write_text('language:\n  detector: lingua\n')
    assert load_settings(str(chosen)).language.detector == 'lingua'
    chosen.write_text('language:\n  detector: cld9\n')
    with pytest.raises(ValueError, match='cld9'):
        load_settings(str(chosen))


def test_detect_language_transform_with_lingua():
    docs = [Document(id='a', source=SourceRef('jsonl', 'a'),
                     text='Eusko Jaurlaritzak ikastetxeentzako plan berria aurkeztu du gaur.')]
    with direct_pipeline() as p:
        good, _ = p | beam.Create(docs) | DetectLanguage(LanguageConfig(detector='lingua'))
        assert_that(good | beam.Map(lambda d: d.language.code), equal_to(['eu']))


def test_sample_needs_min_letters_within_its_bound():
    from newswire.transforms.language import _sample
    config = LanguageConfig(sample_chars=60, min_letters=20)
    nineteen, twenty = 'ab1 ' * 9 + 'c', 'ab1 ' * 10
    assert _sample(nineteen, config, None) is None
    assert _sample(twenty, config, None) == twenty
    assert _sample(twenty, config, 21) is None and _sample(nineteen, config, 19) == nineteen
    # Only letters inside the sample count.
    assert _sample('1' * 60 + 'word ' * 10, config, None) is None
    assert _sample('', config, 0) is None  # at least one letter, whatever is asked
