"""The year of a yearless dateline: each place it can come from, in order, and the calendar's edges."""

import dataclasses
import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from newswire.transforms import dates
from newswire.transforms.dates import (DatesConfig, FixedClock, InferDatelineYears, UtcClock,
                                       infer_year, latest_not_after, nearest, run_clock)
from newswire.transforms.metadata import ExtractMetadata, MetadataExtractor, load_metadata_rules
from newswire.transforms.records import Dateline, DedupInfo, Document, SourceRef
from tests.conftest import direct_pipeline

RULES = load_metadata_rules()
EXTRACTOR = MetadataExtractor(RULES)
D = dt.date


def _doc(doc_id, text, published_at=None, captured=(), story=None):
    return Document(id=doc_id, source=SourceRef(kind='text_file', id=f'{doc_id}.txt'), text=text,
                    published_at=published_at, captured=captured,
                    dedup=DedupInfo(content_hash=doc_id, story_id=story or doc_id))


# --- the calendar -------------------------------------------------------------------------------

def test_a_date_late_in_the_year_read_early_in_the_next_is_last_year():
    assert latest_not_after(12, 30, D(2024, 1, 2)) == D(2023, 12, 30)
    assert latest_not_after(12, 30, D(2024, 1, 2), tolerance_days=1) == D(2023, 12, 30)


def test_the_anchor_day_itself_is_this_year():
    assert latest_not_after(1, 2, D(2024, 1, 2)) == D(2024, 1, 2)


def test_a_future_dated_dateline_is_last_year_beyond_the_tolerance():
    assert latest_not_after(1, 5, D(2024, 1, 2), tolerance_days=1) == D(2023, 1, 5)
    # A day ahead is the wire's time zone, not last year.
    assert latest_not_after(1, 3, D(2024, 1, 2), tolerance_days=1) == D(2024, 1, 3)
    assert latest_not_after(1, 3, D(2024, 1, 2), tolerance_days=0) == D(2023, 1, 3)
    # New Year's Day read on New Year's Eve (UTC), a zone ahead.
    assert latest_not_after(1, 1, D(2023, 12, 31), tolerance_days=1) == D(2024, 1, 1)


def test_february_29_is_the_latest_leap_day_not_after_the_anchor():
    assert latest_not_after(2, 29, D(2024, 3, 1)) == D(2024, 2, 29)
    assert latest_not_after(2, 29, D(2023, 3, 1)) == D(2020, 2, 29)
    assert latest_not_after(2, 29, D(2024, 2, 28)) == D(2020, 2, 29)
    # 2100 is no leap year: the one before 2103 is 2096, eight years back from 2104.
    assert latest_not_after(2, 29, D(2104, 2, 28)) == D(2096, 2, 29)


def test_a_day_no_month_has_gives_no_date():
    assert latest_not_after(2, 30, D(2024, 3, 1)) is None
    assert nearest(4, 31, [D(2024, 3, 1)]) is None


def test_a_story_date_gives_the_nearest_such_date_either_side():
    assert nearest(11, 14, [D(2023, 11, 14)]) == D(2023, 11, 14)
    # A report dated just after New Year tells of December 31 of the year before ...
    assert nearest(12, 31, [D(2024, 1, 1)]) == D(2023, 12, 31)
    # ... and one dated December 31 of a dateline a day later.
    assert nearest(1, 1, [D(2023, 12, 31)]) == D(2024, 1, 1)
    assert nearest(2, 29, [D(2023, 12, 31)]) == D(2024, 2, 29)
    assert nearest(2, 29, [D(2022, 6, 1)]) is None
    assert nearest(11, 14, []) is None


# --- each source, strongest first -----------------------------------------------------------------

YEARLESS = 'TBILISI, Georgia, March 3. The ministry opened a new border crossing, Wire reports.'


def test_the_source_date_wins_and_is_named_source():
    out = EXTRACTOR.extract(_doc('a', YEARLESS, published_at='2022-03-04T08:00:00Z'))
    assert (out.published_at, out.published_at_source) == ('2022-03-04T08:00:00+00:00', 'source')


def test_a_removed_date_header_is_named_page_header():
    out = EXTRACTOR.extract(_doc('a', YEARLESS, captured=(('published', '2021-03-03'),)))
    assert (out.published_at, out.published_at_source) == ('2021-03-03', 'page_header')


def test_a_dateline_with_its_year_is_named_dateline():
    out = EXTRACTOR.extract(_doc('a', 'БАКУ, 3 марта 2024 года /АПА/. Саперы очистили поле.'))
    assert (out.published_at, out.published_at_source) == ('2024-03-03', 'dateline')


def test_no_date_at_all_leaves_both_null():
    out = EXTRACTOR.extract(_doc('a', 'The ministry opened a new border crossing on Monday.'))
    assert (out.published_at, out.published_at_source) == (None, None)


def test_a_yearless_dateline_takes_the_year_of_its_arrival_before_its_story():
    described = EXTRACTOR.extract(_doc('a', YEARLESS), arrival=D(2025, 3, 5))
    # Metadata keeps the arrival and leaves the date to after dedup.
    assert (described.published_at, described.arrival_day) == (None, '2025-03-05')
    out = infer_year(described, (D(2019, 3, 4),), run_date=D(2030, 1, 1), tolerance_days=1)
    assert (out.published_at, out.published_at_source) == ('2025-03-03', 'dateline_year_from_arrival')
    late = EXTRACTOR.extract(_doc('a', YEARLESS.replace('March 3', 'December 30')),
                             arrival=D(2025, 1, 2))
    assert infer_year(late, (), D(2030, 1, 1), 1).published_at == '2024-12-30'


def test_the_record_own_dates_beat_its_arrival():
    out = EXTRACTOR.extract(_doc('a', YEARLESS, captured=(('published', '2021-03-03'),)),
                            arrival=D(2025, 3, 5))
    assert (out.published_at, out.published_at_source) == ('2021-03-03', 'page_header')
    assert infer_year(out, (), D(2030, 1, 1), 1) is out


# A yearless dateline in each of the region's languages, its month word in that language.
REGIONAL_YEARLESS = [
    ('ru', 'БАКУ, 30 декабря. /Trend/ Министр встретился с делегацией.'),
    ('az', 'Bakı, 30 dekabr /Report/ Nazir nümayəndə heyəti ilə görüşüb.'),
    ('tr', 'Ankara, 30 Aralık (AA) Bakan heyeti kabul etti.'),
    ('hy', 'ԵՐԵՎԱՆ, դեկտեմբերի 30. /ԱՐՄԵՆՊՐԵՍ/ Նախարարը ընդունել է պատվիրակությանը։'),
    ('ka', 'თბილისი, 30 დეკემბერი. /Interpressnews/ მინისტრი დელეგაციას შეხვდა.'),
]


@pytest.mark.parametrize('language,text', REGIONAL_YEARLESS, ids=[x[0] for x in REGIONAL_YEARLESS])
def test_yearless_datelines_of_every_regional_language_get_a_year(language, text):
    described = EXTRACTOR.extract(_doc('a', text))
    assert described.dateline.month == 'December' and described.published_at is None
    dated = infer_year(described, (), run_date=D(2024, 1, 2), tolerance_days=1)
    assert (dated.published_at, dated.published_at_source) == (
        '2023-12-30', 'dateline_year_from_run_date')


def test_a_story_date_beats_the_run_date():
    described = EXTRACTOR.extract(_doc('a', YEARLESS))
    from_story = infer_year(described, (D(2019, 3, 4),), run_date=D(2024, 6, 1), tolerance_days=1)
    assert (from_story.published_at, from_story.published_at_source) == (
        '2019-03-03', 'dateline_year_from_story')
    alone = infer_year(described, (), run_date=D(2024, 6, 1), tolerance_days=1)
    assert (alone.published_at, alone.published_at_source) == (
        '2024-03-03', 'dateline_year_from_run_date')


def test_a_dated_record_is_never_redated():
    dated = EXTRACTOR.extract(_doc('a', YEARLESS, published_at='2022-03-04'))
    assert infer_year(dated, (D(2019, 3, 4),), D(2024, 6, 1), 1) is dated


def test_settings_refuse_a_run_date_that_is_not_a_date():
    with pytest.raises(ValueError, match=r"expected an ISO date .* got '14/11/2023'"):
        DatesConfig(run_date='14/11/2023')
    with pytest.raises(ValueError, match='expected 0 or more days'):
        DatesConfig(future_tolerance_days=-1)


def test_the_run_date_is_read_from_settings_quoted_or_not(tmp_path):
    from newswire.pipeline.job.settings import load_settings

    assert load_settings().dates == DatesConfig(run_date='', future_tolerance_days=1)
    for written in ("'2024-01-02'", '2024-01-02'):  # YAML reads the bare one as a date
        path = tmp_path / 'dates.yaml'
        path.write_text(f'dates:\n  run_date: {written}\n', encoding='utf-8')
        assert load_settings(str(path)).dates.run_date == '2024-01-02'
    path.write_text('dates:\n  run_date: next tuesday\n', encoding='utf-8')
    with pytest.raises(ValueError, match="got 'next tuesday'"):
        load_settings(str(path))


def test_the_run_clock_is_fixed_for_a_batch_run_and_moves_for_a_stream():
    assert run_clock(DatesConfig(run_date='2024-01-02'), streaming=True) == FixedClock(D(2024, 1, 2))
    assert isinstance(run_clock(DatesConfig(), streaming=False), FixedClock)
    assert isinstance(run_clock(DatesConfig(), streaming=True), UtcClock)


# --- in a pipeline -------------------------------------------------------------------------------

def _summary(doc):
    return doc.id, doc.published_at, doc.published_at_source


@pytest.mark.slow
def test_batch_dates_a_yearless_report_from_its_story_and_a_lone_one_from_the_run_date():
    described = [
        EXTRACTOR.extract(_doc('dated', 'The ministry opened a crossing.',
                               captured=(('published', '2019-03-04'),), story='s1')),
        EXTRACTOR.extract(_doc('yearless', YEARLESS, story='s1')),
        EXTRACTOR.extract(_doc('lone', YEARLESS.replace('March 3', 'December 30'), story='s2')),
        EXTRACTOR.extract(_doc('undated', 'No date in this one at all.', story='s2')),
    ]
    with direct_pipeline() as p:
        out = (p | beam.Create(described)
               | InferDatelineYears(DatesConfig(), FixedClock(D(2024, 1, 2)), by_story=True))
        assert_that(out.good | beam.Map(_summary), equal_to([
            ('dated', '2019-03-04', 'page_header'),
            ('yearless', '2019-03-03', 'dateline_year_from_story'),
            ('lone', '2023-12-30', 'dateline_year_from_run_date'),
            ('undated', None, None),
        ]), label='dated')
        assert_that(out.dead_letters, equal_to([]), label='no dead letters')


def test_a_guessed_date_is_not_lent_to_the_story():
    # Only dates a record states are lent: a run-date guess in the story does not count.
    guessed = dataclasses.replace(EXTRACTOR.extract(_doc('guess', YEARLESS, story='s')),
                                  published_at='2010-03-03',
                                  published_at_source='dateline_year_from_run_date')
    assert dates.stated_date(guessed) is None
    with direct_pipeline() as p:
        out = (p | beam.Create([guessed, EXTRACTOR.extract(_doc('other', YEARLESS, story='s'))])
               | InferDatelineYears(DatesConfig(), FixedClock(D(2024, 6, 1)), by_story=True))
        assert_that(out.good | beam.Map(_summary), equal_to([
            ('guess', '2010-03-03', 'dateline_year_from_run_date'),
            ('other', '2024-03-03', 'dateline_year_from_run_date'),
        ]))


def test_a_stream_dates_from_the_message_time_then_the_run_date():
    # Element timestamps are what a Pub/Sub source gives: the message's publish time.
    arrived = dt.datetime(2025, 1, 2, 9, 0, tzinfo=dt.timezone.utc).timestamp()
    with direct_pipeline() as p:
        docs = p | beam.Create([
            TimestampedValue(_doc('msg', YEARLESS.replace('March 3', 'December 30')), arrived),
        ])
        described = docs | ExtractMetadata(RULES)
        out = described.good | InferDatelineYears(DatesConfig(), FixedClock(D(2030, 6, 1)),
                                                  by_story=False)
        assert_that(out.good | beam.Map(_summary), equal_to([
            ('msg', '2024-12-30', 'dateline_year_from_arrival')]))


def test_a_batch_input_has_no_arrival_and_falls_to_the_run_date():
    with direct_pipeline() as p:
        described = p | beam.Create([_doc('file', YEARLESS)]) | ExtractMetadata(RULES)
        out = described.good | InferDatelineYears(DatesConfig(), FixedClock(D(2030, 6, 1)),
                                                  by_story=False)
        assert_that(out.good | beam.Map(_summary), equal_to([
            ('file', '2030-03-03', 'dateline_year_from_run_date')]))
