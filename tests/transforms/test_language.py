import subprocess
import sys

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.language import (BATCH_SIZE, DetectLanguage, DetectLanguageFn,
                                          LangdetectDetector, LanguageConfig,
                                          RegionalDetector, RememberingDetector, make_detector,
                                          script_census,
                                          word_evidence, LATIN, CYRILLIC, ARMENIAN, GEORGIAN,
                                          ARABIC, UNSPACED)
from newswire.transforms import memo
from newswire.transforms.records import UNDETERMINED, Document, Language, SourceRef
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


@pytest.fixture(scope='session')
def lingua():
    """The `lingua` detector, built on first use: its 75 high-accuracy models take ~1.3 GB and
    ~12 s of CPU, which is why the tests that use it are slow."""
    return make_detector(LanguageConfig(detector='lingua'))


@pytest.mark.slow
@pytest.mark.parametrize('text,code', [
    ('Le ministre des Affaires étrangères a rencontré hier son homologue arménien à Paris.', 'fr'),
    ('Der Außenminister traf sich gestern in Berlin mit seinem armenischen Amtskollegen.', 'de'),
    # Basque and Yoruba: langdetect has no profile for either.
    ('Eusko Jaurlaritzak ikastetxeentzako plan berria aurkeztu du gaur Gasteizen, eta datorren ikasturtean hasiko da.', 'eu'),
    ('Ìjọba àpapọ̀ ti kéde ètò tuntun fún àwọn ilé-ìwé ní gbogbo ìpínlẹ̀ lónìí.', 'yo'),
])
def test_lingua_detector(lingua, text, code):
    language = lingua.detect(text)
    assert language.code == code and 0.0 < language.confidence <= 1.0
    assert lingua.detect(text) == language  # deterministic


@pytest.mark.slow
@pytest.mark.parametrize('text', ['', '12345 67 89', '!!! ???', 'OK', '—' * 50])
def test_lingua_keeps_the_und_rules(lingua, text):
    assert lingua.detect(text) == UNDETERMINED


def test_detectors_report_their_languages():
    assert {'en', 'fr', 'ru'} <= DETECTOR.supported_languages()
    assert not {'eu', 'yo'} & DETECTOR.supported_languages()


@pytest.mark.slow
def test_lingua_reports_its_languages(lingua):
    assert len(lingua.supported_languages()) == 75


def test_detector_is_chosen_in_settings(tmp_path):
    from newswire.pipeline.job.settings import load_settings

    assert load_settings().language.detector == 'regional'
    chosen = tmp_path / 'settings.yaml'
    chosen.write_text('language:\n  detector: lingua\n')
    assert load_settings(str(chosen)).language.detector == 'lingua'
    chosen.write_text('language:\n  detector: cld9\n')
    with pytest.raises(ValueError, match='cld9'):
        load_settings(str(chosen))


@pytest.mark.slow  # builds the lingua detector in its DoFn's setup
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


# --- the regional detector (the default) ---------------------------------------------------------

REGIONAL = make_detector(LanguageConfig())

# A few sentences per language on wire topics (mine clearance, missing persons, peace talks),
# written for these tests.
REGION_TEXTS = {
    'az': 'Azərbaycan Minatəmizləmə Agentliyi bu həftə Ağdam rayonunda daha yüz iyirmi piyada əleyhinə '
          'mina zərərsizləşdirdiyini bildirib. Mütəxəssislər deyir ki, dəqiq mina xəritələri olmadan '
          'təmizləmə işləri illərlə uzana bilər.',
    'hy': 'Հայաստանի արտաքին գործերի նախարարը հայտարարել է, որ խաղաղության պայմանագրի շուրջ '
          'բանակցությունները շարունակվում են։ Անհետ կորածների ճակատագրի պարզումը մնում է գլխավոր '
          'մարդասիրական խնդիրը։',
    'ka': 'საქართველოს საგარეო საქმეთა სამინისტრომ განაცხადა, რომ სამშვიდობო მოლაპარაკებები '
          'თბილისში გაგრძელდება. უგზო-უკვლოდ დაკარგულთა ძებნა კვლავ მთავარ ჰუმანიტარულ საკითხად რჩება.',
    'ru': 'Министерство обороны сообщило, что сапёры очистили от мин ещё двести гектаров '
          'сельскохозяйственных земель. Переговоры о мирном договоре продолжатся в Брюсселе на '
          'следующей неделе.',
    'uk': 'Рятувальники повідомили, що за тиждень знешкодили понад сто вибухонебезпечних предметів у '
          'прикордонній області. Пошук зниклих безвісти триває, родини чекають на звістки.',
    'be': 'Міністэрства замежных спраў паведаміла, што мірныя перамовы працягнуцца ў наступным '
          'месяцы. Сапёры знешкодзілі больш за сто мін каля вёскі на поўдні краіны.',
    'kk': 'Қазақстан Сыртқы істер министрлігі бейбітшілік келіссөздері Алматыда жалғасатынын '
          'хабарлады. Із-түзсіз жоғалған адамдарды іздеу жұмыстары әлі аяқталған жоқ.',
    'tr': "Dışişleri Bakanlığı, barış görüşmelerinin önümüzdeki hafta İstanbul'da devam edeceğini "
          'açıkladı. Mayın temizleme ekipleri sınır bölgesinde çalışmalarını sürdürüyor.',
    'fa': 'وزارت امور خارجه اعلام کرد که گفتگوهای صلح هفته آینده در تهران ادامه خواهد یافت. '
          'گروه‌های مین‌زدایی همچنان در مناطق مرزی مشغول کار هستند و خانواده‌های مفقودان منتظر خبر هستند.',
    'ar': 'أعلنت وزارة الخارجية أن محادثات السلام ستستأنف الأسبوع المقبل في العاصمة. ولا تزال فرق '
          'إزالة الألغام تعمل في المناطق الحدودية، فيما تنتظر عائلات المفقودين أي خبر.',
    'en': 'Deminers cleared another two hundred hectares of farmland near the border this week, the '
          'agency said. Talks on a peace treaty will resume in Brussels next month, and families of '
          'the missing still wait for news.',
}


@pytest.mark.parametrize('code', sorted(REGION_TEXTS))
def test_regional_detects_the_regions_languages(code):
    language = REGIONAL.detect(REGION_TEXTS[code])
    assert language.code == code
    assert 0.9 <= language.confidence <= 1.0  # a few full sentences back a confident answer


@pytest.mark.parametrize('code', ['ru', 'uk', 'be', 'kk', 'tr'])
def test_regional_on_articles_long_enough_for_the_alphabet_gate(code):
    """Three times the sentences: past the length where letters alone can spare the second opinion."""
    article = ' '.join([REGION_TEXTS[code]] * 3)
    assert script_census(article).counts[script_census(article).dominant] >= 300
    assert REGIONAL.detect(article).code == code


@pytest.mark.parametrize('code', ['az', 'hy', 'ka', 'be', 'kk'])
def test_regional_fixes_what_langdetect_gets_wrong(code):
    assert DETECTOR.detect(REGION_TEXTS[code]).code != code  # langdetect has none of these
    assert REGIONAL.detect(REGION_TEXTS[code]).code == code


@pytest.mark.parametrize('code', ['ru', 'uk', 'tr', 'fa', 'ar', 'en'])
def test_regional_keeps_langdetects_answer_where_it_is_right(code):
    assert REGIONAL.detect(REGION_TEXTS[code]).code == DETECTOR.detect(REGION_TEXTS[code]).code == code


@pytest.mark.parametrize('text,code', [
    # Azerbaijani without a single schwa: lingua decides between az and tr (q and x are not Turkish).
    ('Komissiya Qazax rayonunda axtarış aparır, qalıqlar tapılıb.', 'az'),
    ('Komisyon sınır bölgesinde arama yapıyor, kalıntılar bulundu.', 'tr'),
    # Schwa in one letter of a hundred is Azerbaijani whatever langdetect says.
    ('Sülh müqaviləsi üzrə danışıqlar davam edir.', 'az'),
    ('Barış anlaşması üzerine görüşmeler devam ediyor.', 'tr'),
])
def test_regional_tells_azerbaijani_from_turkish(text, code):
    assert REGIONAL.detect(text).code == code


@pytest.mark.parametrize('text,code', [
    ('Сапёры продолжают разминирование полей возле границы.', 'ru'),
    ('Сапери продовжують розмінування полів біля кордону.', 'uk'),
    ('Сапёры працягваюць размініраванне палёў каля мяжы.', 'be'),
    ('Родственники пропавших без вести ждут ответа от комиссии.', 'ru'),
    ('Родичі зниклих безвісти чекають на відповідь комісії.', 'uk'),
    ('Сваякі зніклых без вестак чакаюць адказу ад камісіі.', 'be'),
])
def test_regional_tells_russian_ukrainian_and_belarusian_apart(text, code):
    assert REGIONAL.detect(text).code == code


@pytest.mark.parametrize('text,code', [
    ('مذاکرات صلح در هفته آینده از سر گرفته می‌شود.', 'fa'),
    ('ستستأنف مفاوضات السلام في الأسبوع المقبل.', 'ar'),
    ('خانواده‌های افراد مفقود هنوز منتظر پاسخ هستند.', 'fa'),
    ('لا تزال عائلات المفقودين تنتظر الرد.', 'ar'),
])
def test_regional_tells_persian_from_arabic(text, code):
    assert REGIONAL.detect(text).code == code


def test_regional_leaves_other_languages_to_langdetect():
    for text, code in [
            ('Le ministre des Affaires étrangères a rencontré hier son homologue arménien à Paris.', 'fr'),
            ('Der Außenminister traf sich gestern in Berlin mit seinem armenischen Amtskollegen.', 'de'),
            ('東京で和平交渉が再開され、地雷除去の専門家も出席した。', 'ja')]:
        assert REGIONAL.detect(text).code == DETECTOR.detect(text).code == code


def test_regional_answers_the_seeds_as_langdetect_does():
    for path in sorted(SEEDS.glob('*.txt')):
        text = path.read_text(encoding='utf-8')
        assert REGIONAL.detect(text) == DETECTOR.detect(text)


def test_script_evidence_confidence_is_the_scripts_share():
    quoted = REGION_TEXTS['hy'] + ' (Reuters)'
    language = REGIONAL.detect(quoted)
    census = script_census(quoted)
    assert language.code == 'hy' and language.confidence == round(census.share(ARMENIAN), 4) < 1.0


@pytest.mark.parametrize('text', ['Baku ' * 40, 'Baku Baku Baku Baku Baku', 'BAKU baku Baku! ' * 10,
                                  'Ереван ' * 20, '雷' * 30])
def test_one_repeated_word_is_undetermined(text):
    assert REGIONAL.detect(text) == UNDETERMINED


def test_a_byline_gets_a_low_confidence():
    language = REGIONAL.detect('By Aynur Karimova and Vusal Mammadov, Report.az')
    # Two uncapitalised words ("and", "az") of the ten that back full confidence.
    assert language.confidence <= 0.2


def test_a_headline_gets_a_language_with_a_confidence_below_one():
    headline = 'Azerbaijan and Armenia agree to resume border talks'
    language = REGIONAL.detect(headline)
    assert language.code != 'und' and 0.0 < language.confidence <= 0.6  # six content words of ten
    assert REGIONAL.detect(headline + ' ' + REGION_TEXTS['en']).confidence == 1.0


@pytest.mark.parametrize('text', [
    'Президент Ильхам Алиев met Nikol Pashinyan in Brussels; Փաշինյան said the talks went well',
    'Hayastani artaqin gortseri nakharar Ararat Mirzoyan haytararel e vor banakcutyunnery sharunakvum en',
    'Azerbaycan Respublikasi Xarici Isler Nazirliyi bildirib ki, sulh danisiqlari davam edir',
    'ԵՐԵՎԱՆ Tbilisi თბილისი Баку Bakı 14 noyabr 2023',
    'lone \ud800 surrogate and emoji \U0001F600 among plain words of English text',
    '\u0301\u0302 combining marks alone and then some more ordinary words of text',
    'ə' * 40,
    'ǅ Dž ǈ Lj ǋ Nj titlecase digraphs in a sentence with some ordinary words',
])
def test_bad_input_gets_a_language_or_und_and_never_raises(text):
    language = REGIONAL.detect(text)
    assert isinstance(language.code, str) and len(language.code) in (2, 3)
    assert 0.0 <= language.confidence <= 1.0
    assert language.code != 'und' or language.confidence == 0.0


def test_transliterated_azerbaijani_is_still_azerbaijani():
    assert REGIONAL.detect('Azerbaycan Respublikasi Xarici Isler Nazirliyi bildirib ki, sulh '
                           'danisiqlari davam edir').code == 'az'


@pytest.mark.parametrize('text', ['', '12345 67 89', '!!! ???', 'OK', '—' * 50])
def test_regional_keeps_the_und_rules(text):
    assert REGIONAL.detect(text) == UNDETERMINED


def test_texts_detected_together_get_what_each_gets_alone():
    """The stage detects a bundle's texts together (`detect_many`): every path of the regional
    decision, side by side with the others, answers as it does alone."""
    texts = [*REGION_TEXTS.values(), *(path.read_text(encoding='utf-8') for path in SEEDS.glob('*.txt')),
             '', 'OK', '12345 67 89', 'Baku ' * 40, 'Ереван ' * 20,
             'By Aynur Karimova and Vusal Mammadov, Report.az',
             'Komissiya Qazax rayonunda axtarış aparır, qalıqlar tapılıb.',
             'Komisyon sınır bölgesinde arama yapıyor, kalıntılar bulundu.',
             'Sülh müqaviləsi üzrə danışıqlar davam edir.',
             'Сапёры працягваюць размініраванне палёў каля мяжы.',
             ' '.join([REGION_TEXTS['kk']] * 3), ' '.join([REGION_TEXTS['tr']] * 3),
             'lone \ud800 surrogate and emoji \U0001F600 among plain words of English text',
             '東京で和平交渉が再開され、地雷除去の専門家も出席した。']
    for detector in (REGIONAL, DETECTOR, make_detector(LanguageConfig(detector='langdetect'))):
        alone = [detector.detect(text) for text in texts]
        assert detector.detect_many(texts) == alone
        assert detector.detect_many(texts[::-1]) == alone[::-1]
        assert detector.detect_many([]) == []
        if detector is REGIONAL:
            assert len({language.code for language in alone}) >= 13  # every path taken


def test_script_census_counts_letters_per_script():
    census = script_census('Baku Бакы Բաքու ბაქო باكو 東京 123 !!')
    assert [int(census.counts[s]) for s in (LATIN, CYRILLIC, ARMENIAN, GEORGIAN, ARABIC, UNSPACED)] \
        == [4, 4, 5, 4, 4, 2]  # Բաքու: ու is two letters
    assert census.letters == 23
    # Emoji and other symbols beyond the Basic Multilingual Plane are not letters; Han extensions are.
    assert script_census('\U0001F600\U0001F4A5 \U00020000').counts[UNSPACED] == 1
    assert script_census('\U0001F600\U0001F4A5 \U00020000').letters == 1


def test_word_evidence_counts_distinct_uncapitalised_words():
    assert word_evidence('the talks, the TALKS and Talks', False, 10) == (3, 3, False)
    assert word_evidence('Nikol Pashinyan and Ilham Aliyev', False, 10) == (5, 1, False)
    assert word_evidence('Baku baku BAKU', False, 10) == (1, 0, True)  # as first written
    assert word_evidence('Baku', False, 10) == (1, 0, False)
    # Counting stops once there is enough: the eleventh word is never read.
    assert word_evidence(' '.join(f'w{chr(97 + i)}' for i in range(20)), False, 10).distinct == 10
    assert word_evidence('東京東京', True, 10) == (2, 2, False)


def test_regional_reports_its_languages():
    assert {'hy', 'ka', 'az', 'be', 'kk', 'sr', 'mn', 'en', 'ru', 'uk', 'tr', 'fa', 'ar'} \
        <= REGIONAL.supported_languages()
    assert isinstance(REGIONAL, RegionalDetector)


def test_regional_settings_are_checked():
    with pytest.raises(ValueError, match='override_ratio'):
        LanguageConfig(override_ratio=0.5)
    with pytest.raises(ValueError, match='second_opinion_chars'):
        LanguageConfig(second_opinion_chars=0)


def test_detect_language_transform_by_default_knows_the_region():
    docs = [Document(id=code, source=SourceRef('jsonl', code), text=REGION_TEXTS[code])
            for code in ('az', 'hy', 'ka', 'kk')]
    docs.append(Document(id='baku', source=SourceRef('jsonl', 'baku'), text='Baku ' * 30))
    with direct_pipeline() as p:
        good, dead = p | beam.Create(docs) | DetectLanguage(LanguageConfig())
        assert_that(good | beam.Map(lambda d: (d.id, d.language.code)),
                    equal_to([('az', 'az'), ('hy', 'hy'), ('ka', 'ka'), ('kk', 'kk'), ('baku', 'und')]),
                    label='codes')
        assert_that(dead, equal_to([]), label='no dead letters')


@pytest.mark.slow
def test_importing_the_module_builds_no_detector():
    """Detectors are built in setup(): importing language.py loads no profile and no lingua model."""
    code = ('import sys; import newswire.transforms.language as language; '
            'from newswire.transforms import langdetect_fast; '
            'assert language.script_table.cache_info().currsize == 0; '
            'assert langdetect_fast.load_profiles.cache_info().currsize == 0; '
            "assert 'lingua' not in sys.modules; print('ok')")
    completed = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert completed.stdout.strip() == 'ok', completed.stderr


class _BreaksOn:
    """A detector that fails on one text, alone or in a batch."""

    def __init__(self, detector, text):
        self._detector, self._text = detector, text

    def detect(self, text, min_letters=None):
        if text == self._text:
            raise ValueError('cannot read this one')
        return self._detector.detect(text, min_letters)

    def detect_many(self, texts):
        if self._text in texts:
            raise ValueError('cannot read this batch')
        return self._detector.detect_many(texts)


def test_a_text_that_breaks_its_batch_is_the_only_dead_letter():
    fn = DetectLanguageFn(LanguageConfig())
    fn.setup()
    fn._detector = _BreaksOn(fn._detector, 'breaks')
    docs = [Document(id=code, source=SourceRef('jsonl', code), text=text)
            for code, text in [*REGION_TEXTS.items(), ('bad', 'breaks')]]
    outputs = list(fn.detect(docs))
    dead = [output.value for output in outputs if isinstance(output, beam.pvalue.TaggedOutput)]
    assert [(d.source.id, d.stage, d.reason, d.detail) for d in dead] == [
        ('bad', 'language', 'unexpected_error', 'ValueError: cannot read this one')]
    assert [(doc.id, doc.language.code) for doc in outputs if isinstance(doc, Document)] \
        == [(code, code) for code in REGION_TEXTS]


def test_detect_language_transform_over_several_batches():
    """More documents than a batch holds, in many languages: each gets what it gets alone."""
    texts = [*REGION_TEXTS.values(), 'OK', 'Baku ' * 30] * (2 * BATCH_SIZE // len(REGION_TEXTS) + 1)
    docs = [Document(id=str(i), source=SourceRef('jsonl', str(i)), text=text)
            for i, text in enumerate(texts)]
    assert len(docs) > 2 * BATCH_SIZE
    with direct_pipeline() as p:
        good, dead = p | beam.Create(docs) | DetectLanguage(LanguageConfig())
        assert_that(good | beam.Map(lambda d: (d.id, d.language)),
                    equal_to([(doc.id, REGIONAL.detect(doc.text)) for doc in docs]), label='languages')
        assert_that(dead, equal_to([]), label='no dead letters')


def test_detected_documents_keep_their_timestamps_in_a_stream():
    """Batching must not restamp records: a stream's dedup and windows read their timestamps."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
    from apache_beam.testing.test_stream import TestStream as EventStream
    from apache_beam.transforms.window import TimestampedValue
    from apache_beam.utils.timestamp import Timestamp

    docs = [Document(id=code, source=SourceRef('jsonl', code), text=text)
            for code, text in REGION_TEXTS.items()]
    stream = (EventStream().advance_watermark_to(0)
              .add_elements([TimestampedValue(doc, 100 + i) for i, doc in enumerate(docs[:6])])
              .advance_watermark_to(200)
              .add_elements([TimestampedValue(doc, 300 + i) for i, doc in enumerate(docs[6:])])
              .advance_watermark_to_infinity())
    options = PipelineOptions(runner='DirectRunner')
    options.view_as(StandardOptions).streaming = True
    with BeamTestPipeline(options=options) as p:
        good, dead = p | stream | DetectLanguage(LanguageConfig(), timeout_seconds=30.0)
        assert_that(good | beam.Map(lambda d, ts=beam.DoFn.TimestampParam: (d.id, d.language.code, ts)),
                    equal_to([(doc.id, doc.id, Timestamp(100 + i if i < 6 else 300 + i - 6))
                              for i, doc in enumerate(docs)]), label='stamps')
        assert_that(dead, equal_to([]), label='no dead letters')


class _CountingDetector:
    """A detector that answers by the sample's length and counts the samples it is asked."""

    def __init__(self):
        self.asked = []

    def supported_languages(self):
        return frozenset({'en'})

    def detect(self, text, min_letters=None):
        return self.detect_many([text])[0]

    def detect_many(self, texts):
        self.asked += texts
        return [Language('en', len(text) / 10000) for text in texts]


def test_a_remembering_detector_asks_each_sample_once_and_answers_alike():
    config = LanguageConfig(sample_chars=30)
    inner = _CountingDetector()
    detector = RememberingDetector(inner, config, size=4)
    long_text = 'x' * (memo.MAX_TEXT_CHARS + 1)
    texts = ['a copy', 'another', 'a copy', 'a copy but longer than thirty characters', long_text]
    assert detector.detect_many(texts) == inner.detect_many([t[:30] for t in texts])
    inner.asked.clear()
    # 'a copy' is asked once in a batch holding it twice; the long texts share a sample.
    assert detector.detect_many(['a copy but longer than thirty characters, again', 'a copy',
                                 'new']) == [
        Language('en', 0.003), Language('en', 0.0006), Language('en', 0.0003)]
    assert inner.asked == ['new']
    assert detector.detect('new') == Language('en', 0.0003) and inner.asked == ['new']
    detector.detect_many(['1', '2', '3'])  # the memo holds four samples: 'a copy' goes
    inner.asked.clear()
    detector.detect_many(['a copy', '3'])
    assert inner.asked == ['a copy']


def test_remembered_languages_are_the_detectors_own():
    config = LanguageConfig()
    texts = [path.read_text(encoding='utf-8') for path in sorted(SEEDS.glob('*.txt'))]
    texts += ['Министр иностранных дел встретился вчера со своим армянским коллегой в Москве.',
              'Der Außenminister traf sich gestern in Berlin mit seinem armenischen Amtskollegen.']
    detector = RememberingDetector(RegionalDetector(config), config)
    first = detector.detect_many(texts + texts[:3])
    assert first == detector.detect_many(texts[::-1])[::-1] + first[:3]
    assert first == [RegionalDetector(config).detect(text) for text in texts + texts[:3]]
