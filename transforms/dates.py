"""The year of a yearless dateline ("BAKU, Azerbaijan, November 14."), and where a date came from.

A record's `published_at_source` says how its `published_at` was found, strongest first:

- `source`: the input's own date (a JSONL record's `published`, a feed entry's date, the page's
  metadata);
- `page_header`: a date header the cleaner removed from the text ("date 2023-11-14");
- `dateline`: a dateline that gives its year ("БАКУ, 3 марта 2024 года");
- `dateline_year_from_arrival`: a yearless dateline, the year from when the record arrived (its
  Pub/Sub message's publish time, or the poll that found its feed entry): the latest such date not
  after the arrival;
- `dateline_year_from_story`: the year from a dated report of the same story (`dedup.story_id`):
  the such date nearest to that report's date (reports of one event come out within days of each
  other, before or after one another);
- `dateline_year_from_run_date`: the year from the day of the run: the latest such date not after
  it. The weakest: right for a run on current news, a guess for an archive.

`None` when `published_at` is null. The first three are set by the metadata stage
(transforms/metadata.py), which also keeps the record's arrival day (`Document.arrival_day`: its
element timestamp, which later stages' timers may move); the last three by `InferDatelineYears`,
after duplicates are flagged: the story is known only then, and dedup compares records by the
dates they state, so a guessed year never moves a record out of its story's horizon.

"Not after" allows `future_tolerance_days`: a dateline is in the wire's own time zone, up to 14
hours ahead of UTC, so "January 1" read at 22:00 UTC on December 31 is the next day, not last year's.
Worked example, tolerance 1 day: "December 30" with the anchor 2024-01-02 is 2023-12-30; "January 3"
is 2024-01-03 (within the tolerance); "January 5" is 2023-01-05; "February 29" with the anchor
2023-03-01 is 2020-02-29 (the latest February 29 not after it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Optional, Protocol

import apache_beam as beam

from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.records import Dateline, Document

STAGE = 'dates'

SOURCE = 'source'
PAGE_HEADER = 'page_header'
DATELINE = 'dateline'
FROM_ARRIVAL = 'dateline_year_from_arrival'
FROM_STORY = 'dateline_year_from_story'
FROM_RUN_DATE = 'dateline_year_from_run_date'
PUBLISHED_AT_SOURCES = (SOURCE, PAGE_HEADER, DATELINE, FROM_ARRIVAL, FROM_STORY, FROM_RUN_DATE)
# Dates a story lends its other reports: only those a record stated itself, so one guess is never
# the ground for another.
STATED = frozenset({SOURCE, PAGE_HEADER, DATELINE})

MONTHS = ('January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September',
          'October', 'November', 'December')
# February 29 recurs every 4 years, or 8 across a century not divisible by 400 (2096 -> 2104).
_LEAP_SPAN_YEARS = 8


@dataclass(frozen=True)
class DatesConfig:
    """`dates` in pipeline/settings.yaml."""

    run_date: str = ''  # ISO date the run is taken to happen on; '' = the day it starts (UTC)
    future_tolerance_days: int = 1

    def __post_init__(self):
        if self.run_date:
            try:
                dt.date.fromisoformat(self.run_date)
            except ValueError:
                raise ValueError(f'dates.run_date: expected an ISO date (2024-01-02) or empty for '
                                 f'the day of the run, got {self.run_date!r}') from None
        if self.future_tolerance_days < 0:
            raise ValueError(f'dates.future_tolerance_days: expected 0 or more days, got '
                             f'{self.future_tolerance_days}')


class Clock(Protocol):
    def today(self) -> dt.date: ...


@dataclass(frozen=True)
class FixedClock:
    """One day for the whole run: a batch run's records all read their datelines against it."""

    day: dt.date

    def today(self) -> dt.date:
        return self.day


class UtcClock:
    """Today in UTC when asked: a stream runs for days, and its run date moves with it."""

    def today(self) -> dt.date:
        return dt.datetime.now(dt.timezone.utc).date()


def run_clock(config: DatesConfig, streaming: bool) -> Clock:
    """The clock `InferDatelineYears` reads: `dates.run_date` when set; else a batch run's start
    day, fixed when the graph is built; else (a stream) the current UTC day."""
    if config.run_date:
        return FixedClock(dt.date.fromisoformat(config.run_date))
    return UtcClock() if streaming else FixedClock(UtcClock().today())


def _month_number(dateline: Optional[Dateline]) -> Optional[int]:
    if dateline is None or dateline.day is None or dateline.month not in MONTHS:
        return None
    return MONTHS.index(dateline.month) + 1


def needs_year(doc: Document) -> bool:
    """No date yet, but a dateline with month and day."""
    return doc.published_at is None and _month_number(doc.dateline) is not None


def latest_not_after(month: int, day: int, anchor: dt.date,
                     tolerance_days: int = 0) -> Optional[dt.date]:
    """The latest date with this month and day not after `anchor` + `tolerance_days`; None when
    no year has it (February 30)."""
    limit = anchor + dt.timedelta(days=tolerance_days)
    for year in range(limit.year, limit.year - _LEAP_SPAN_YEARS - 1, -1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate <= limit:
            return candidate
    return None


def nearest(month: int, day: int, anchors: Iterable[dt.date]) -> Optional[dt.date]:
    """The date with this month and day nearest to any of `anchors` (the earlier on a tie), looking
    a year either side of each; None when there is none (no anchors, or February 29 with no leap
    year among them)."""
    best = None
    for anchor in anchors:
        for year in (anchor.year - 1, anchor.year, anchor.year + 1):
            try:
                candidate = dt.date(year, month, day)
            except ValueError:
                continue
            key = (abs((candidate - anchor).days), candidate)
            if best is None or key < best[0]:
                best = (key, candidate)
    return best[1] if best else None


def infer_year(doc: Document, story_dates: Iterable[dt.date], run_date: dt.date,
               tolerance_days: int) -> Document:
    """`doc` with the date of its yearless dateline from its arrival day, else its story's stated
    dates, else the run date; `doc` itself when it has a date already or no dateline to date."""
    if not needs_year(doc):
        return doc
    month, day = _month_number(doc.dateline), doc.dateline.day
    found, source = None, None
    if doc.arrival_day:
        found = latest_not_after(month, day, dt.date.fromisoformat(doc.arrival_day), tolerance_days)
        source = FROM_ARRIVAL
    if found is None:
        found, source = nearest(month, day, story_dates), FROM_STORY
    if found is None:
        found, source = latest_not_after(month, day, run_date, tolerance_days), FROM_RUN_DATE
    if found is None:
        return doc
    return doc.replaced(published_at=found.isoformat(), published_at_source=source)


def stated_date(doc: Document) -> Optional[dt.date]:
    """The calendar date a record states itself (as written, in its own offset), or None."""
    if doc.published_at_source not in STATED or not doc.published_at:
        return None
    try:
        return dt.date.fromisoformat(doc.published_at[:10])
    except ValueError:
        return None


class InferYearFn(beam.DoFn):
    """(document, its story's stated dates) -> the document, dated when it needed a year."""

    def __init__(self, clock: Clock, tolerance_days: int):
        self._clock = clock
        self._tolerance_days = tolerance_days

    def process(self, item):
        doc, story_dates = item
        yield infer_year(doc, story_dates, self._clock.today(), self._tolerance_days)


def _story_key(doc: Document) -> str:
    return doc.dedup.story_id if doc.dedup else doc.id


def _keyed_stated_date(doc: Document):
    """A document -> (its story, the date it states), none if it states none."""
    day = stated_date(doc)
    if day is not None:
        yield _story_key(doc), day


def _distinct_in_order(story: str, dates) -> tuple[str, tuple]:
    """(story, the dates its documents state) -> (story, each date once, in order)."""
    return story, tuple(sorted(set(dates)))


def _with_story_dates(doc: Document, story_dates: dict):
    """A document -> (it, its story's stated dates), from the side input of every story's."""
    return doc, story_dates.get(_story_key(doc), ())


class InferDatelineYears(beam.PTransform):
    """Flagged documents -> `StageOutputs(documents, dead letters)`: a yearless dateline's record
    gets the year from its arrival, else its story (`by_story`, batch), else `clock`'s day.

    By story, every document gets its story's stated dates (keyed by `dedup.story_id`) from a side
    input: only the dates are grouped, not the documents. A stream cannot: a later report of the
    story may be the dated one, and the record has gone out by then; it dates records from their
    arrival and the run date only.
    """

    def __init__(self, config: DatesConfig, clock: Clock, by_story: bool,
                 timeout_seconds: Optional[float] = None):
        super().__init__()
        self._config = config
        self._clock = clock
        self._by_story = by_story
        self._timeout_seconds = timeout_seconds

    def expand(self, docs):
        if self._by_story:
            story_dates = (docs
                           | 'StatedDates' >> beam.FlatMap(_keyed_stated_date)
                           | 'PerStory' >> beam.GroupByKey()
                           | 'DistinctInOrder' >> beam.MapTuple(_distinct_in_order))
            paired = docs | 'WithStoryDates' >> beam.Map(
                _with_story_dates, story_dates=beam.pvalue.AsDict(story_dates))
        else:
            paired = docs | 'WithoutStory' >> beam.Map(lambda doc: (doc, ()))
        return paired | 'Infer' >> ApplyStage(
            InferYearFn(self._clock, self._config.future_tolerance_days), STAGE,
            timeout_seconds=self._timeout_seconds)
