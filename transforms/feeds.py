"""RSS/Atom feeds in, one document per new entry out, its article page fetched for extraction.

    feed URLs ─► fetch feed ─► refuse DTD entities ─► feedparser(bytes) ─► entries (new GUIDs/links)
                   │ (transforms/fetch.py)                                     │
                   └─ dead letter: http_404, timeout, forbidden_dtd, not_a_feed, ...
                                                                               ▼
                       Document(kind='feed', html=page)  ◄─ fetch the entry's page
                       or Document(text=feed summary, extra.fallback='feed_summary') when the page
                       cannot be fetched, or a dead letter with the fetch reason when there is none.

The page HTML goes on to `ExtractMainText` (trafilatura) with everything else. feedparser only ever
sees bytes from our fetcher: given a str it would fetch a URL itself (no timeout) or read a local
file. Feeds that declare entities (or any internal DTD subset) are refused before parsing:
feedparser's loose fallback parser expands them (a 110 KB "quadratic blowup" feed became a 1 GB
string in 40 s). The check reads the text feedparser will parse, whatever its encoding (EBCDIC,
UTF-7, UTF-16/32 with or without a BOM, ...): see `decode_feed`. A DOCTYPE that only names an
external DTD (RSS 0.91's Netscape DTD) is allowed: feedparser strips it and nothing fetches it.
A feed gives at most `max_entries_per_feed` new entries per poll; the rest are not fetched and are
reported as one dead letter (`too_many_entries`, the number skipped in its detail).

Per-feed state for polling (`FeedState`: ETag, Last-Modified and the last N entry keys seen) is kept
by plain functions (`poll_feed`, `select_new_entries`), so the batch pass and streaming polling share
them: a batch pass (`ReadFeeds`) is one poll from an empty state; a stream (`PollFeeds`) keeps each
feed's state in Beam keyed state and polls again on every tick of a `PeriodicImpulse`. Both send new
entries through the same page step (`FetchEntryPages`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.utils import shared

from newswire.transforms.dead_letters import (DEAD_LETTER, ApplyStage, DeadLetter, StageOutputs,
                                              dead_letter)
from newswire.transforms.fetch import Clock, FetchConfig, Fetcher, FetchError
from newswire.transforms.records import Document, SourceRef, record_id

FEED_STAGE = 'feed'
PAGE_STAGE = 'fetch_page'
FEED_ACCEPT = ('application/rss+xml, application/atom+xml, application/rdf+xml, '
               'application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5')
PAGE_ACCEPT = 'text/html, application/xhtml+xml;q=0.9, */*;q=0.5'
FALLBACK_FEED_SUMMARY = 'feed_summary'

_ENTITY_DECLARATION = re.compile(rb'<!ENTITY', re.IGNORECASE)
# `<!DOCTYPE` and what follows it up to its end (`>`) or its internal subset (`[`), read twice: as a
# parser reads it, quoted literals skipped whole (a system literal may hold '>' or '['), and
# ignoring quotes (what a parser would see if it took an unterminated quote for plain text).
# Possessive quantifiers never backtrack and each search resumes where the last match ended, so a
# check is linear in the document's length ('<!DOCTYPE' repeated a million times included).
_DOCTYPE_AS_PARSED = re.compile(rb'''<!DOCTYPE(?:[^>\["']++|"[^"]*+"|'[^']*+')*+''', re.IGNORECASE)
_DOCTYPE_IGNORING_QUOTES = re.compile(rb'<!DOCTYPE[^>\[]*+', re.IGNORECASE)
# The headers feedparser is given with the text `decode_feed` checked: UTF-8 named by the HTTP
# charset (which wins for application/xml), by the XML declaration and by the absence of any BOM.
_CHECKED_TEXT_TYPE = 'application/xml; charset=utf-8'
_META_CHARSET = re.compile(rb'<meta[^>]+charset=["\']?([A-Za-z0-9_.:-]+)', re.IGNORECASE)


@dataclass(frozen=True)
class FeedConfig:
    """Feed polling settings; defaults in pipeline/job/settings.yaml under `feeds:`."""

    max_seen_entries_per_feed: int = 10_000
    poll_interval_seconds: float = 300.0
    # New entries fetched per poll of one feed; the rest are one `too_many_entries` dead letter.
    max_entries_per_feed: int = 500

    def __post_init__(self):
        if self.max_entries_per_feed < 1:
            raise ValueError(f'feeds.max_entries_per_feed must be at least 1, got '
                             f'{self.max_entries_per_feed!r}')


class FeedRejected(Exception):
    """A fetched feed that is not parsed: `reason` is the dead-letter reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f'{reason}: {detail}')
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed, as much as the feed says about it."""

    feed_url: str
    key: str                      # GUID, else link, else a hash of title and summary
    link: Optional[str]
    title: Optional[str]
    published_at: Optional[str]   # ISO 8601 UTC, from the entry's published (or updated) date
    summary_html: Optional[str]   # content:encoded / atom content, else the summary
    feed_title: Optional[str] = None
    guid: Optional[str] = None

    def to_json_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FeedState:
    """What one feed's poller remembers between polls (bounded: `seen` keeps the newest keys)."""

    etag: Optional[str] = None
    last_modified: Optional[str] = None
    seen: tuple[str, ...] = ()


@dataclass(frozen=True)
class PollResult:
    entries: tuple[FeedEntry, ...]
    state: FeedState
    not_modified: bool = False
    skipped: int = 0                        # new entries past `max_entries_per_feed`, not fetched
    first_skipped_key: Optional[str] = None


# -- the feed list -------------------------------------------------------------------------------

def parse_feed_list(text: str) -> list[str]:
    """Feed URLs from a feed-list file: OPML (`<outline xmlUrl=...>`), or one URL per line with `#`
    comments and blank lines ignored. URLs are returned as written (a bad one becomes a dead letter
    when fetched) and each only once, in file order."""
    stripped = text.lstrip('\ufeff \t\r\n')
    if stripped.startswith('<'):
        raw = stripped.encode('utf-8')
        refuse_entity_declarations(raw)
        try:
            # The text is already decoded: the parser reads it as UTF-8 whatever its XML
            # declaration says, so the bytes parsed are the bytes checked.
            parser = ElementTree.XMLParser(encoding='utf-8')
            root = ElementTree.fromstring(raw, parser=parser)
        except ElementTree.ParseError as error:
            raise ValueError(f'the feed list looks like OPML but is not well-formed XML: {error}')
        urls = [outline.get('xmlUrl').strip() for outline in root.iter('outline')
                if (outline.get('xmlUrl') or '').strip()]
    else:
        urls = []
        for line in text.splitlines():
            line = line.strip()
            # Only whole-line comments: a URL may carry a #fragment.
            if line and not line.startswith('#'):
                urls.append(line)
    return list(dict.fromkeys(urls))


# -- one feed document ---------------------------------------------------------------------------

def refuse_entity_declarations(text: bytes) -> None:
    """Raises FeedRejected('forbidden_dtd') when `text` declares entities or has an internal DTD
    subset.

    `text` is an ASCII-compatible view of the document (UTF-8 from `decode_feed`): markup is ASCII,
    so `<!ENTITY` in the text is `<!ENTITY` in these bytes. Linear in the length of `text`.
    """
    if _ENTITY_DECLARATION.search(text):
        raise FeedRejected('forbidden_dtd', 'the document declares XML entities (<!ENTITY)')
    for doctype in (_DOCTYPE_AS_PARSED, _DOCTYPE_IGNORING_QUOTES):
        match = doctype.search(text)
        while match:
            if text[match.end():match.end() + 1] == b'[':
                raise FeedRejected('forbidden_dtd', 'the document has an internal DTD subset')
            match = doctype.search(text, max(match.end(), match.start() + 1))


def decode_feed(raw: bytes, feed_url: str, content_type: Optional[str] = None
                ) -> tuple[bytes, dict]:
    """Feed bytes -> (the same feed as UTF-8, the headers to parse it with), or FeedRejected.

    Raises FeedRejected('forbidden_dtd') when the text declares entities or an internal DTD subset.

    Why this is airtight: feedparser picks an encoding from the BOM, the first bytes (EBCDIC,
    UTF-16/32 without a BOM), the HTTP charset, the XML declaration (utf-7 included), then falls back
    to utf-8, windows-1252 and iso-8859-2, and decodes the document into UTF-8 before either of its
    parsers sees it. Guessing that choice would be one more parser to keep in step with it; instead
    feedparser's own `convert_to_utf8` does the decoding here, once, the check reads its output, and
    feedparser is then given exactly that UTF-8, with every signal it decides by (no BOM, an
    `encoding='utf-8'` declaration, a `charset=utf-8` application/xml Content-Type) naming UTF-8.
    Decoding valid UTF-8 as UTF-8 changes nothing, so the text parsed is the text checked. The raw
    bytes are checked too, so a declaration visible in an ASCII reading is refused whichever
    encoding is picked.
    """
    from feedparser.encodings import convert_to_utf8

    refuse_entity_declarations(raw)
    headers = {'content-location': feed_url}
    if content_type:
        headers['content-type'] = content_type
    result = {}
    text = convert_to_utf8(headers, raw, result)
    if not result.get('encoding'):
        # feedparser's last fallback (iso-8859-2) decodes any byte, so this does not happen today;
        # if it did, feedparser would parse the bytes undecoded, which were never checked as text.
        raise FeedRejected('unsupported_encoding',
                           f'expected a feed in an encoding Python can decode, got '
                           f'{result.get("bozo_exception")}')
    refuse_entity_declarations(text)
    return text, {'content-location': feed_url, 'content-type': _CHECKED_TEXT_TYPE}


def _iso_utc(parsed_time) -> Optional[str]:
    if not parsed_time:
        return None
    try:
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', parsed_time)
    except (TypeError, ValueError):
        return None


def _entry_content(entry) -> Optional[str]:
    for content in entry.get('content') or ():
        value = (content.get('value') or '').strip()
        if value:
            return value
    summary = (entry.get('summary') or '').strip()
    return summary or None


def entry_key(guid: Optional[str], link: Optional[str], title: Optional[str],
              summary: Optional[str]) -> str:
    """An entry's identity across polls: its GUID, else its link, else its title and summary."""
    if guid:
        return guid
    if link:
        return link
    digest = hashlib.sha256(f'{title or ""}\x1f{summary or ""}'.encode('utf-8')).hexdigest()
    return f'sha256:{digest[:32]}'


def parse_feed(raw: bytes, feed_url: str, content_type: Optional[str] = None) -> list[FeedEntry]:
    """Feed bytes -> its entries; FeedRejected (forbidden_dtd, not_a_feed) when it is not usable.

    A feed feedparser had to parse loosely (bozo) is accepted when it recognised a feed format;
    a document with no recognisable feed in it is rejected.
    """
    import feedparser  # imported here: only feed workers pay for it

    text, headers = decode_feed(raw, feed_url, content_type)
    parsed = feedparser.parse(text, response_headers=headers)  # bytes: never a URL or a path
    if not parsed.get('version') and not parsed.entries:
        problem = parsed.get('bozo_exception')
        raise FeedRejected('not_a_feed', 'no RSS, Atom or RDF feed found' +
                           (f' ({type(problem).__name__}: {problem})' if problem else ''))
    feed_title = (parsed.feed.get('title') or '').strip() or None
    entries = []
    for entry in parsed.entries:
        guid = (entry.get('id') or '').strip() or None
        link = (entry.get('link') or '').strip() or None
        title = (entry.get('title') or '').strip() or None
        summary = _entry_content(entry)
        entries.append(FeedEntry(
            feed_url=feed_url, key=entry_key(guid, link, title, summary), link=link, title=title,
            published_at=_iso_utc(entry.get('published_parsed') or entry.get('updated_parsed')),
            summary_html=summary, feed_title=feed_title, guid=guid))
    return entries


def select_new_entries(entries, seen: tuple[str, ...],
                       max_seen: int) -> tuple[list[FeedEntry], tuple[str, ...]]:
    """The entries whose key is not in `seen` (nor repeated earlier in `entries`), and the new `seen`
    (oldest forgotten first once it holds `max_seen` keys).

    Example: seen=('a', 'b'), entries a, c, c, d with max_seen=3 -> new [c, d], seen ('b', 'c', 'd').
    """
    known = set(seen)
    order = list(seen)
    new = []
    for entry in entries:
        if entry.key in known:
            continue
        known.add(entry.key)
        order.append(entry.key)
        new.append(entry)
    return new, tuple(order[-max_seen:]) if max_seen > 0 else ()


def poll_feed(fetcher: Fetcher, feed_url: str, state: FeedState, max_seen: int,
              max_entries: Optional[int] = None) -> PollResult:
    """Fetches `feed_url` conditionally (ETag / Last-Modified from `state`) and returns its new
    entries and the next state. A 304 yields nothing and keeps the state.

    At most `max_entries` new entries are returned, the first in the feed's order (feeds list the
    newest first); the rest are counted in `skipped` and remembered as seen like the others, so a
    skipped entry is reported once, not again on every poll.

    Raises FetchError or FeedRejected.
    """
    result = fetcher.fetch(feed_url, etag=state.etag, last_modified=state.last_modified,
                           accept=FEED_ACCEPT)
    if result.not_modified:
        return PollResult((), state, not_modified=True)
    entries = parse_feed(result.body, result.url, result.headers.get('content-type'))
    new, seen = select_new_entries(entries, state.seen, max_seen)
    next_state = FeedState(etag=result.headers.get('etag'),
                           last_modified=result.headers.get('last-modified'), seen=seen)
    if max_entries is not None and len(new) > max_entries:
        return PollResult(tuple(new[:max_entries]), next_state, skipped=len(new) - max_entries,
                          first_skipped_key=new[max_entries].key)
    return PollResult(tuple(new), next_state)


# -- one entry's page ----------------------------------------------------------------------------

def _charset(content_type: Optional[str]) -> Optional[str]:
    match = re.search(r'charset=["\']?([A-Za-z0-9_.:-]+)', content_type or '', re.IGNORECASE)
    return match.group(1) if match else None


def decode_html(body: bytes, content_type: Optional[str]) -> str:
    """Page bytes -> str: the header's charset, else UTF-8, else a <meta> charset, else cp1252."""
    candidates = [_charset(content_type), 'utf-8']
    meta = _META_CHARSET.search(body[:4096])
    if meta:
        candidates.append(meta.group(1).decode('ascii', 'ignore'))
    for encoding in candidates:
        if not encoding:
            continue
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode('cp1252', 'replace')


_BLOCK_TAGS = frozenset({'p', 'div', 'br', 'li', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote',
                         'tr', 'section', 'article', 'pre', 'ul', 'ol', 'table'})


def html_fragment_text(fragment: str) -> str:
    """A feed's HTML summary as plain text, one paragraph per block element."""
    import lxml.html

    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent='div')
    except (ValueError, lxml.etree.ParserError):
        return fragment.strip()
    for element in root.iter():
        if element.tag in _BLOCK_TAGS:
            element.tail = '\n' + (element.tail or '')
    lines = (' '.join(line.split()) for line in root.text_content().splitlines())
    return '\n'.join(line for line in lines if line)


def entry_source(entry: FeedEntry) -> SourceRef:
    return SourceRef(kind='feed', id=entry.key, url=entry.link)


def document_from_page(entry: FeedEntry, page_url: str, html: str) -> Document:
    """The entry with its page's HTML, for ExtractMainText; what the feed says wins over the page."""
    source = entry_source(entry)
    return Document(
        # One id per entry, across polls and page edits: a re-published entry keeps its id.
        id=record_id(source, entry.key), source=source, text='', html=html, title=entry.title,
        published_at=entry.published_at,
        extra={'feed_url': entry.feed_url, 'page_url': page_url})


def document_from_summary(entry: FeedEntry, failure: FetchError) -> Optional[Document]:
    """The entry's own content/summary as the text when its page could not be fetched, or None."""
    text = html_fragment_text(entry.summary_html) if entry.summary_html else ''
    if not text.strip():
        return None
    source = dataclasses.replace(entry_source(entry), outlet=entry.feed_title)
    return Document(
        id=record_id(source, entry.key), source=source, text=text, title=entry.title,
        published_at=entry.published_at,
        extra={'feed_url': entry.feed_url, 'fallback': FALLBACK_FEED_SUMMARY,
               'page_failure': failure.reason, 'page_failure_detail': failure.detail[:500]})


def _is_html(content_type: Optional[str], body: bytes) -> bool:
    media = (content_type or '').split(';', 1)[0].strip().lower()
    if media in ('text/html', 'application/xhtml+xml'):
        return True
    if media:
        return False
    return b'<html' in body[:4096].lower() or b'<!doctype html' in body[:4096].lower()


# -- the Beam stages -----------------------------------------------------------------------------

def _shared_fetcher(handle: shared.Shared, config: FetchConfig, clock: Optional[Clock]) -> Fetcher:
    """One Fetcher per worker process, so the politeness interval and robots.txt cache are shared by
    every thread fetching from the same host."""

    def build():
        return Fetcher(config, clock=clock)

    return handle.acquire(build, tag=repr((config, type(clock).__name__)))


def feed_dead_letter(feed_url: str, error) -> DeadLetter:
    """A feed poll that gave no entries (FetchError or FeedRejected) -> its dead letter."""
    source = SourceRef(kind='feed', id=feed_url, url=feed_url)
    return dead_letter(FEED_STAGE, error.reason, error.detail[:2000], source, feed_url)


def report_poll(feed_url: str, entries: int = 0, skipped: int = 0,
                failure: Optional[str] = None, stream=None) -> None:
    """One line per feed read, on stderr: a feed's pages are fetched one a second per host, so a run
    can be quiet for a minute while working; this says which feeds were read and what came of
    each."""
    if failure:
        text = f'newswire: feed {feed_url}: no entries ({failure})'
    else:
        text = f'newswire: feed {feed_url}: {entries} new entries'
        if skipped:
            text += f', {skipped} over the per-feed cap'
    print(text, file=stream or sys.stderr, flush=True)


def skipped_entries_letter(feed_url: str, poll: PollResult, max_entries: int) -> DeadLetter:
    """The entries of one poll past `max_entries_per_feed` -> one dead letter saying how many.

    One letter per feed and poll, not one per entry: a 100,000-entry feed would otherwise be
    99,500 letters. The run's accounting counts the letter as one record read; the number of
    entries it stands for is in its detail (and in the `feed_entries_skipped` counter).
    """
    source = SourceRef(kind='feed', id=feed_url, url=feed_url)
    return dead_letter(
        FEED_STAGE, 'too_many_entries',
        f'{poll.skipped} new entries past the first {max_entries} (feeds.max_entries_per_feed) '
        f'were not fetched; the first skipped is {poll.first_skipped_key!r}'[:2000],
        source, feed_url)


class FetchFeedFn(beam.DoFn):
    """Feed URL -> its entries (`FeedEntry`), or one dead letter saying why the feed gave none."""

    def __init__(self, fetch_config: FetchConfig, feed_config: FeedConfig,
                 clock: Optional[Clock] = None):
        self._fetch_config = fetch_config
        self._feed_config = feed_config
        self._clock = clock
        self._shared = shared.Shared()
        self._feeds = Metrics.counter('newswire', 'feeds_fetched')
        self._entries = Metrics.counter('newswire', 'feed_entries')
        self._skipped = Metrics.counter('newswire', 'feed_entries_skipped')

    def setup(self):
        self._fetcher = _shared_fetcher(self._shared, self._fetch_config, self._clock)

    def process(self, feed_url: str):
        config = self._feed_config
        try:
            poll = poll_feed(self._fetcher, feed_url, FeedState(), config.max_seen_entries_per_feed,
                             config.max_entries_per_feed)
        except (FetchError, FeedRejected) as error:
            report_poll(feed_url, failure=error.reason)
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, feed_dead_letter(feed_url, error))
            return
        self._feeds.inc()
        report_poll(feed_url, len(poll.entries), poll.skipped)
        self._entries.inc(len(poll.entries))
        if poll.skipped:
            self._skipped.inc(poll.skipped)
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, skipped_entries_letter(
                feed_url, poll, config.max_entries_per_feed))
        yield from poll.entries


class PollFeedFn(beam.DoFn):
    """(feed URL, tick) -> the entries new since that feed's last poll, or a dead letter per failed
    poll. Keyed by feed URL: each feed's `FeedState` lives in keyed state between ticks.

    Worked example (max_seen 3): tick 1, the feed has a, b -> a, b; state (ETag v1, seen a b).
    Tick 2, the server answers 304 to If-None-Match v1 -> nothing; state unchanged. Tick 3, http 500
    -> one dead letter (stage `feed`, `http_500`); state unchanged, so tick 4 (c, b, ETag v2) -> c
    only; seen a b c. A fourth new key would forget `a`: state is bounded by `max_seen`. With
    `max_entries_per_feed` 1, tick 4 bringing d, e, c -> d, and one `too_many_entries` letter for e,
    which is remembered as seen all the same.
    """

    FEED_STATE = ReadModifyWriteStateSpec('feed_state', PickleCoder())

    def __init__(self, fetch_config: FetchConfig, feed_config: FeedConfig,
                 clock: Optional[Clock] = None):
        self._fetch_config = fetch_config
        self._feed_config = feed_config
        self._clock = clock
        self._shared = shared.Shared()
        self._polls = Metrics.counter('newswire', 'feed_polls')
        self._not_modified = Metrics.counter('newswire', 'feed_polls_not_modified')
        self._failed = Metrics.counter('newswire', 'feed_polls_failed')
        self._entries = Metrics.counter('newswire', 'feed_entries')
        self._skipped = Metrics.counter('newswire', 'feed_entries_skipped')

    def setup(self):
        self._fetcher = _shared_fetcher(self._shared, self._fetch_config, self._clock)

    def process(self, element, feed_state=beam.DoFn.StateParam(FEED_STATE)):
        feed_url, _ = element
        self._polls.inc()
        state = feed_state.read() or FeedState()
        config = self._feed_config
        try:
            poll = poll_feed(self._fetcher, feed_url, state, config.max_seen_entries_per_feed,
                             config.max_entries_per_feed)
        except (FetchError, FeedRejected) as error:
            # The state stays: a feed that recovers yields only what is new since its last success.
            self._failed.inc()
            report_poll(feed_url, failure=error.reason)
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, feed_dead_letter(feed_url, error))
            return
        except Exception as error:  # noqa: BLE001 (see below)
            # ApplyStage's exception handling does not carry keyed state, and an exception escaping
            # a stateful DoFn in a stream is retried forever: caught here, per poll, like ApplyStage.
            logging.getLogger(__name__).warning('polling %s failed: %r', feed_url, error)
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(
                FEED_STAGE, 'unexpected_error', f'{type(error).__name__}: {error}'[:2000],
                SourceRef(kind='feed', id=feed_url, url=feed_url), feed_url))
            return
        if poll.not_modified:
            self._not_modified.inc()
            return
        feed_state.write(poll.state)
        if poll.entries or poll.skipped:
            report_poll(feed_url, len(poll.entries), poll.skipped)
        self._entries.inc(len(poll.entries))
        if poll.skipped:
            self._skipped.inc(poll.skipped)
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, skipped_entries_letter(
                feed_url, poll, config.max_entries_per_feed))
        yield from poll.entries


class FetchEntryPageFn(beam.DoFn):
    """`FeedEntry` -> a Document with its page's HTML, or with the feed's summary as text when the
    page cannot be fetched, or a dead letter with the fetch reason when the feed has no summary."""

    def __init__(self, fetch_config: FetchConfig, clock: Optional[Clock] = None):
        self._fetch_config = fetch_config
        self._clock = clock
        self._shared = shared.Shared()
        self._pages = Metrics.counter('newswire', 'feed_pages_fetched')
        self._fallbacks = Metrics.counter('newswire', 'feed_summary_fallbacks')

    def setup(self):
        self._fetcher = _shared_fetcher(self._shared, self._fetch_config, self._clock)

    def process(self, entry: FeedEntry):
        try:
            if not entry.link:
                raise FetchError('the entry has no link', '', reason='no_link')
            page = self._fetcher.fetch(entry.link, accept=PAGE_ACCEPT)
            content_type = page.headers.get('content-type')
            if not _is_html(content_type, page.body):
                raise FetchError(f'the page is {content_type or "not HTML"}', page.url,
                                 reason='not_html')
        except FetchError as failure:
            fallback = document_from_summary(entry, failure)
            if fallback is None:
                yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(
                    PAGE_STAGE, failure.reason, failure.detail[:2000], entry_source(entry),
                    json.dumps(entry.to_json_dict(), ensure_ascii=False)))
                return
            self._fallbacks.inc()
            yield fallback
            return
        self._pages.inc()
        yield document_from_page(entry, page.url, decode_html(page.body, content_type))


class FetchEntryPages(beam.PTransform):
    """`FeedEntry`s -> `StageOutputs(documents, dead letters)`: each entry's page (or its feed
    summary), the step every feed source shares."""

    def __init__(self, fetch_config: FetchConfig, clock: Optional[Clock] = None):
        super().__init__()
        self._fetch_config = fetch_config
        self._clock = clock

    def expand(self, entries):
        return (
            entries
            # Entries of one feed spread over workers; the shared per-host pacer keeps them polite.
            | 'SpreadEntries' >> beam.Reshuffle()
            | 'FetchPage' >> ApplyStage(FetchEntryPageFn(self._fetch_config, self._clock),
                                        PAGE_STAGE))


class ReadFeeds(beam.PTransform):
    """Feed URLs -> `StageOutputs(documents, dead letters)`: one pass over every feed (batch).

    Each document is one entry: its article page's HTML (for ExtractMainText) or, when the page
    cannot be fetched, the feed's own summary (`extra.fallback == 'feed_summary'`). A feed that
    cannot be fetched or parsed is one dead letter (stage `feed`); an entry with neither page nor
    summary is one dead letter (stage `fetch_page`).
    """

    def __init__(self, feed_urls: list[str], fetch_config: FetchConfig, feed_config: FeedConfig,
                 clock: Optional[Clock] = None):
        super().__init__()
        self._feed_urls = list(dict.fromkeys(feed_urls))
        self._fetch_config = fetch_config
        self._feed_config = feed_config
        self._clock = clock

    def expand(self, pbegin):
        feeds = (
            pbegin
            | 'FeedUrls' >> beam.Create(self._feed_urls)
            | 'FetchFeeds' >> ApplyStage(
                FetchFeedFn(self._fetch_config, self._feed_config, self._clock), FEED_STAGE))
        pages = feeds.good | 'FetchPages' >> FetchEntryPages(self._fetch_config, self._clock)
        dead_letters = ((feeds.dead_letters, pages.dead_letters)
                        | 'FeedDeadLetters' >> beam.Flatten())
        return StageOutputs(pages.good, dead_letters)


def _ticks_from_now(_, interval_seconds: float):
    from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

    return Timestamp.now(), MAX_TIMESTAMP, interval_seconds


class TickEvery(beam.PTransform):
    """PBegin -> a timestamp every `interval_seconds`, from when the job starts (not when the graph
    was built: a template is built long before it runs), forever. Unbounded.

    PeriodicImpulse(rebase=REBASE_START) with labelled steps (its own Map is named after a lambda,
    which would change with Beam's source and break `--update`).
    """

    def __init__(self, interval_seconds: float):
        super().__init__()
        self._interval_seconds = interval_seconds

    def expand(self, pbegin):
        from apache_beam.transforms.periodicsequence import PeriodicSequence

        return (pbegin
                | 'JobStart' >> beam.Impulse()
                | 'FromNow' >> beam.Map(_ticks_from_now, self._interval_seconds)
                | 'Tick' >> PeriodicSequence())


class PollFeeds(beam.PTransform):
    """Feed URLs -> `StageOutputs(documents, dead letters)`, unbounded: every feed is polled on each
    tick, every `poll_interval_seconds` (streaming): `PollFeedsOnTicks` on `ticks`.

    `ticks` is any source of timestamped elements; by default `TickEvery(poll_interval_seconds)`
    (tests pass a `TestStream`). Beam 2.77's Python DirectRunner cannot run the default; a local run
    takes its ticks from `pipeline.local.local_stream.Ticks` instead (docs/feeds.md).
    """

    def __init__(self, feed_urls: list[str], fetch_config: FetchConfig, feed_config: FeedConfig,
                 clock: Optional[Clock] = None, ticks: Optional[beam.PTransform] = None):
        super().__init__()
        self._poll = PollFeedsOnTicks(feed_urls, fetch_config, feed_config, clock)
        self._ticks = ticks or TickEvery(feed_config.poll_interval_seconds)

    def expand(self, pbegin):
        return pbegin | 'Ticks' >> self._ticks | 'Poll' >> self._poll


class PollFeedsOnTicks(beam.PTransform):
    """Ticks (timestamped elements of any value) -> `StageOutputs(documents, dead letters)`: every
    feed is polled on each tick.

    Only entries new since a feed's last poll come out (GUID, else link, remembered per feed, at most
    `max_seen_entries_per_feed`), fetched conditionally (a 304 yields nothing), then through the same
    page step as `ReadFeeds`. A failed poll is one dead letter (stage `feed`) and changes nothing:
    the next tick tries again. Documents carry their tick's time as their timestamp, so event-time
    steps downstream (dedup's settle timer) decide a poll's records once the ticks' watermark moves
    past it.
    """

    def __init__(self, feed_urls: list[str], fetch_config: FetchConfig, feed_config: FeedConfig,
                 clock: Optional[Clock] = None):
        super().__init__()
        self._feed_urls = list(dict.fromkeys(feed_urls))
        self._fetch_config = fetch_config
        self._feed_config = feed_config
        self._clock = clock

    def expand(self, ticks):
        polled = (
            ticks
            | 'EveryFeed' >> beam.FlatMap(
                lambda tick, urls: [(url, tick) for url in urls], self._feed_urls)
            .with_output_types(Tuple[str, Any])
            | 'PollEachFeed' >> beam.ParDo(
                PollFeedFn(self._fetch_config, self._feed_config, self._clock))
            .with_output_types(FeedEntry, **{DEAD_LETTER: DeadLetter})
            .with_outputs(DEAD_LETTER, main='entries'))
        pages = polled.entries | 'FetchPages' >> FetchEntryPages(self._fetch_config, self._clock)
        dead_letters = ((polled[DEAD_LETTER], pages.dead_letters)
                        | 'FeedDeadLetters' >> beam.Flatten())
        return StageOutputs(pages.good, dead_letters)
