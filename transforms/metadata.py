"""Metadata from the text: outlet, dateline, published time and headline.

Facts come from three places, strongest first: what the source itself said (a JSONL record's fields,
a page's metadata), what cleaning captured from the chrome it removed (a "date 2023-11-14" header, a
"News.Az" signature), and what the text says (", Trend reports", "BAKU, Azerbaijan, November 14.",
"БАКУ, 14 ноября. /Trend/"). The rules for the last live in `rules/metadata.yaml`, with the month names
of the region's languages that datelines use. Each record says which gave its date
(`published_at_source`); a dateline without a year is dated after dedup, from the record's arrival,
its story or the run date (transforms/dates.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import re
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.utils.timestamp import MAX_TIMESTAMP, MIN_TIMESTAMP

from newswire.transforms import dates, yamlfile
from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.records import Dateline, Document

STAGE = 'metadata'

# The "(" is only looked for right before "UTC": an optional `\(?\s*` in front would let every space
# of a long run start a scan of the whole run (quadratic).
_OFFSET = re.compile(r'(?:\(\s*+)?(?:UTC|GMT)\s*+([+−–-])\s*+(\d{1,2}):?(\d{2})\s*+\)?', re.IGNORECASE)
_HAS_TIME = re.compile(r'\d{1,2}:\d{2}')
_DATE_ONLY = re.compile(r'^\s*(\d{4})-(\d{2})-(\d{2})\s*$')
_SENTENCE_END = ('.', '!', '?', ',', ';', ':')
# The longest published value read as a date ("Tuesday, 14 November 2023 10:00:00 (UTC+04:00)" is 47
# characters); a longer one is not a date, and dateutil's time grows faster than its length.
MAX_DATE_CHARS = 100
MONTHS = ('January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September',
          'October', 'November', 'December')
GROUPS = {'attributions': {'outlet'}, 'datelines': {'place', 'month', 'day', 'year', 'outlet'}}


@dataclass(frozen=True)
class PatternRule:
    id: str
    pattern: str
    where: str = 'any'


@dataclass(frozen=True)
class MetadataRules:
    attributions: tuple[PatternRule, ...]
    datelines: tuple[PatternRule, ...]
    title_max_chars: int
    lead_max_chars: int = 2000
    examples: tuple[tuple[str, str, dict], ...] = ()  # (section, text, expected fields)
    months: tuple[tuple[str, str], ...] = ()  # (a month name in another language, English name)
    outlet_names: tuple[tuple[str, str], ...] = ()  # (a spelling datelines use, the outlet's name)


class DatelineMatch(NamedTuple):
    dateline: Optional[Dateline]
    outlet: Optional[str] = None  # the outlet the dateline names ("/Trend/")
    published: Optional[str] = None  # ISO date, when the dateline gives the year


def _fold(word: str) -> str:
    """Case-free key of a name: Turkish dotless and dotted i ("KASIM", "Kasım") fold alike."""
    return word.casefold().replace('\u0307', '').replace('ı', 'i')


def default_rules_path():
    return resources.files('newswire.transforms') / 'rules' / 'metadata.yaml'


def load_metadata_rules(path=None) -> MetadataRules:
    """Parse and validate a metadata rules file (default: the built-in one).

    Raises ValueError naming the file, the rule and its pattern when a pattern does not compile.
    """
    path = path or default_rules_path()
    with open(path, encoding='utf-8') as handle:
        data = yamlfile.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a mapping with "attributions" and "datelines" lists')
    examples = []
    sections = {}
    for section in ('attributions', 'datelines'):
        rules = []
        for item in data.get(section) or ():
            rule = PatternRule(item['id'], item['pattern'], item.get('where', 'any'))
            try:
                compiled = re.compile(rule.pattern)
            except re.error as error:
                raise ValueError(f'{path}: {section} rule {rule.id}: pattern {rule.pattern!r} does not '
                                 f'compile: {error}') from error
            unknown = set(compiled.groupindex) - GROUPS[section]
            if unknown:
                raise ValueError(f'{path}: {section} rule {rule.id}: named groups must be among '
                                 f'{sorted(GROUPS[section])}, got {sorted(unknown)}')
            rules.append(rule)
            for example in item.get('examples') or ():
                expected = {k: v for k, v in example.items() if k != 'text'}
                examples.append((section, example['text'], expected))
        sections[section] = tuple(rules)
    months = []
    for english, forms in (data.get('months') or {}).items():
        if english not in MONTHS:
            raise ValueError(f'{path}: months: expected an English month name, got {english!r}')
        months += [(_fold(str(form)), english) for form in forms]
    outlet_names = [(_fold(str(k)), str(v)) for k, v in (data.get('outlets') or {}).items()]
    return MetadataRules(sections['attributions'], sections['datelines'],
                         int((data.get('title') or {}).get('max_chars', 200)),
                         int((data.get('lead') or {}).get('max_chars', 2000)), tuple(examples),
                         tuple(months), tuple(outlet_names))


def parse_published(value: str) -> Optional[tuple[str, int]]:
    """A published date/time in any common wire form -> (ISO 8601 string, precision) or None.

    Precision: 1 date only, 2 date and time without zone, 3 date and time with its UTC offset (kept as
    given: "18 September 2023 13:36 (UTC+04:00)" -> "2023-09-18T13:36:00+04:00").
    """
    from dateutil import parser as date_parser

    text = value.strip()
    if not text or len(text) > MAX_DATE_CHARS:
        return None
    date_only = _DATE_ONLY.match(text)
    if date_only:
        try:
            return dt.date(*map(int, date_only.groups())).isoformat(), 1
        except ValueError:
            return None
    offset = _OFFSET.search(text)
    parsed = None
    if offset is None:
        try:
            parsed = dt.datetime.fromisoformat(text.replace('Z', '+00:00'))
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                parsed = None
    if parsed is None:
        # "(UTC+04:00)" is read here, not by dateutil, which takes POSIX "UTC+4" as four hours west.
        try:
            parsed = date_parser.parse(_OFFSET.sub(' ', text) if offset else text, fuzzy=False)
        except (ValueError, OverflowError):
            return None
        if offset:
            sign = -1 if offset.group(1) in '−–-' else 1
            delta = dt.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
            parsed = parsed.replace(tzinfo=dt.timezone(sign * delta))
    if not _HAS_TIME.search(text) and parsed.hour == parsed.minute == parsed.second == 0:
        return parsed.date().isoformat(), 1
    return parsed.isoformat(), 3 if parsed.tzinfo is not None else 2


def split_title(text: str, max_chars: int) -> tuple[Optional[str], str]:
    """A headline first line -> (title, rest of the text); otherwise (None, text)."""
    head, sep, rest = text.partition('\n\n')
    head = head.strip()
    if (not sep or not rest.strip() or '\n' in head or len(head) > max_chars
            or head.endswith(_SENTENCE_END)):
        return None, text
    return head, rest.strip()


def _date(year: Optional[str], month: Optional[str], day: Optional[int]) -> Optional[str]:
    """ISO date of a dateline that gives year, English month name and day; None otherwise."""
    if not (year and day and month in MONTHS):
        return None
    try:
        return dt.date(int(year), MONTHS.index(month) + 1, day).isoformat()
    except ValueError:  # "31 февраля"
        return None


class MetadataExtractor:
    """Compiled metadata rules; build once, call per document."""

    def __init__(self, rules: MetadataRules):
        self._rules = rules
        self._attributions = [(r, re.compile(r.pattern, re.MULTILINE)) for r in rules.attributions]
        self._datelines = [(r, re.compile(r.pattern)) for r in rules.datelines]
        self._months = dict(rules.months)
        self._outlet_names = dict(rules.outlet_names)

    def outlet_from_text(self, text: str) -> Optional[str]:
        # The lead is where wires attribute; capped so a page-long first paragraph costs no more.
        lead = text[:self._rules.lead_max_chars].split('\n\n', 1)[0]
        for rule, regex in self._attributions:
            match = regex.search(lead if rule.where == 'lead' else text)
            if match:
                return match.group('outlet')
        return None

    def dateline(self, text: str) -> DatelineMatch:
        """The dateline a text starts with, the outlet it names and the date when it gives the year.

        Months in other languages come out as the English name ("БАКУ, 14 ноября 2023 года. /Trend/"
        -> place БАКУ, month November, day 14, outlet Trend, published 2023-11-14), so consumers of
        `dateline.month` keep one vocabulary; outlet spellings in other scripts ("/АПА/") come out as
        the outlet's own name (APA).
        """
        for _, regex in self._datelines:
            match = regex.match(text)
            if match:
                fields = match.groupdict()
                month = fields.get('month')
                month = self._months.get(_fold(month), month) if month else None
                day = int(fields['day']) if fields.get('day') else None
                outlet = fields.get('outlet')
                if outlet:
                    outlet = self._outlet_names.get(_fold(outlet.strip()), outlet.strip())
                return DatelineMatch(Dateline(place=fields['place'].strip(), month=month, day=day),
                                     outlet, _date(fields.get('year'), month, day))
        return DatelineMatch(None)

    def extract(self, doc: Document, arrival: Optional[dt.date] = None) -> Document:
        """`doc` with title, outlet, dateline, `published_at` and how that was found.

        `arrival` is the day the record arrived (its message's publish time), when known; it is kept
        as `arrival_day` for `dates.InferDatelineYears`.
        """
        title, text = doc.title, doc.text
        if title is None:
            title, text = split_title(doc.text, self._rules.title_max_chars)
        captured = dict()
        for name, value in doc.captured:
            captured.setdefault(name, []).append(value)
        dateline, dateline_outlet, dateline_date = self.dateline(text)
        outlet = (doc.source.outlet or next(iter(captured.get('outlet', ())), None)
                  or self.outlet_from_text(text) or dateline_outlet)
        # The source's own date wins when it parses; otherwise the most precise one cleaning captured.
        source_date = parse_published(doc.published_at) if doc.published_at else None
        captured_dates = [(*p, dates.PAGE_HEADER)
                          for p in map(parse_published, captured.get('published', ())) if p]
        if dateline_date:  # a dateline's date is the weakest: the page's own header says more
            captured_dates.append((dateline_date, 1, dates.DATELINE))
        extra = doc.extra
        if doc.published_at and source_date is None:
            extra = {**extra, 'published_raw': doc.published_at}
        best = ((*source_date, dates.SOURCE) if source_date
                else max(captured_dates, key=lambda p: p[1], default=None))
        # A yearless dateline is dated after dedup (dates.py), which compares records by the dates
        # they state: a guessed year must not move a record out of its story's horizon.
        return doc.replaced(
            title=title, text=text, published_at=best[0] if best else None, dateline=dateline, extra=extra,
            captured=(), source=dataclasses.replace(doc.source, outlet=outlet),
            published_at_source=best[2] if best else None,
            arrival_day=arrival.isoformat() if arrival else doc.arrival_day)


def _with_arrival(doc: Document, at=beam.DoFn.TimestampParam):
    """(document, the UTC day of its element timestamp, or None when it has none: a batch input's
    timestamps are at or near -infinity, outside the calendar)."""
    if at <= MIN_TIMESTAMP or at >= MAX_TIMESTAMP:
        return doc, None
    try:
        return doc, at.to_utc_datetime().date()
    except (OverflowError, ValueError, OSError):
        return doc, None


class ExtractMetadataFn(beam.DoFn):
    """A document, or (document, arrival day) -> the document with its metadata."""

    def __init__(self, rules: MetadataRules):
        self._rules = rules
        self._extractor: Optional[MetadataExtractor] = None

    def setup(self):
        self._extractor = MetadataExtractor(self._rules)

    def process(self, item):
        doc, arrival = item if isinstance(item, tuple) else (item, None)
        yield self._extractor.extract(doc, arrival)


class ExtractMetadata(beam.PTransform):
    """Cleaned documents -> `StageOutputs(documents with title, outlet, dateline, published_at and
    published_at_source, [])`.

    Each document keeps its element timestamp's day as `arrival_day`: in a stream, when its message
    was published (or its feed polled), the first place a yearless dateline's year is looked for; a
    batch input has none.
    """

    def __init__(self, rules: MetadataRules, timeout_seconds: Optional[float] = None):
        super().__init__()
        self._rules = rules
        self._timeout_seconds = timeout_seconds

    def expand(self, docs):
        return (docs
                | 'WithArrival' >> beam.Map(_with_arrival)
                | 'Extract' >> ApplyStage(ExtractMetadataFn(self._rules), STAGE,
                                          timeout_seconds=self._timeout_seconds))
