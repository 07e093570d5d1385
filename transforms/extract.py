"""Main-text extraction from HTML with trafilatura, the one place newswire calls it.

Documents that arrive as text pass through unchanged. For HTML, trafilatura gives the main text and
the page's metadata; what the source already knew (a JSONL record's title, a feed's date) wins over
what the page says.

trafilatura has no time limit of its own and its time grows faster than the page (60,000 `<p>`: 72 s).
So a page is parsed once here, with trafilatura's own loader, and refused when it is over the byte cap
(`too_large`) or has more elements than `extract.max_html_elements` (`too_complex`); the parsed tree
goes on to trafilatura, and `extract.timeout_seconds` stops any page that is still too slow (`timeout`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from lxml import etree

from newswire.transforms.dead_letters import DEAD_LETTER, ApplyStage, StageOutputs, dead_letter
from newswire.transforms.records import Document

STAGE = 'extract'


@dataclass(frozen=True)
class ExtractConfig:
    # Real news pages have a few thousand elements (the Zyte benchmark's largest: 1,703); trafilatura
    # needs ~9 s for 20,000 and 72 s for 60,000.
    max_html_elements: int = 20000
    # Per page, for whatever passes the element cap but is still slow (0 means no limit).
    timeout_seconds: float = 20.0
    # trafilatura's `fast`: no comparison of its own extraction with readability's and jusText's.
    # settings.yaml says why it is on.
    fast: bool = True


class PageTooComplex(ValueError):
    """An HTML page with more elements than the configured cap."""


class ExtractedPage(NamedTuple):
    text: str
    title: Optional[str]
    published: Optional[str]
    site_name: Optional[str]


# Separators between a headline and the site or section name in an HTML <title>.
# A separator starts right after a non-space: the leftmost match is the same, and a run of spaces is
# not rescanned from each of its spaces (quadratic on a hostile <title>).
_TITLE_PARTS = re.compile(r'(?<!\s)\s+[|–—-]\s+|(?<!\s)\s*::\s*')


def _folded(text: str) -> str:
    return ' '.join(re.findall(r'\w+', text.casefold()))


def without_headline(text: str, title: Optional[str]) -> str:
    """The text without a first line that repeats the page's headline (it travels as `title`).

    The <title> often carries the site or section too ("Opinion | Is Football Violence a Crime?"), so
    the first line also goes when it equals one part of it. Nothing goes when that would empty the text.
    """
    if not title:
        return text
    lines = text.split('\n')
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return text
    headline = _folded(lines[first])
    candidates = {_folded(title)} | {_folded(part) for part in _TITLE_PARTS.split(title)}
    rest = '\n'.join(lines[first + 1:]).strip()
    if headline and headline in candidates and rest:
        return rest
    return text


# The nodes `tree.iter()` gives (elements, comments, processing instructions), counted by libxml2:
# iterating makes a Python object per element, which costs twice as much as the count.
_COUNT_NODES = etree.XPath('count(descendant-or-self::*) + count(descendant::comment())'
                           ' + count(descendant::processing-instruction())')


def parse_page(html: str, max_html_elements: Optional[int] = None):
    """HTML -> an lxml tree, parsed as trafilatura parses it (or None when it is not HTML).

    Raises `PageTooComplex` when the tree has more than `max_html_elements` elements.
    """
    from trafilatura.utils import load_html  # imported here: workers that only see text never pay

    tree = load_html(html)
    if tree is not None and max_html_elements is not None:
        if int(_COUNT_NODES(tree)) > max_html_elements:
            raise PageTooComplex(f'over {max_html_elements} HTML elements')
    return tree


def page_metadata(tree, url: Optional[str] = None):
    """trafilatura's `extract_metadata(tree, url)` for the fields a record carries: title, url,
    date and site name (a trafilatura `Document`; its other fields are left out or partial).

    `extract_metadata` also looks for the author (on a deep copy of the whole tree), categories, tags
    and licence, which take most of its time; no field kept here reads them. The steps kept are its own, in
    its order, with the arguments `bare_extraction` gives it, so these fields come out as in
    trafilatura's full metadata (tests/transforms/test_extract_metadata.py compares them on real
    pages, and pyproject.toml pins the trafilatura release this follows).
    """
    from trafilatura import metadata as meta
    from trafilatura.settings import DEFAULT_CONFIG, set_date_params

    # bare_extraction passes its Extractor's date parameters, built from the default configuration.
    date_config = set_date_params(DEFAULT_CONFIG.getboolean('DEFAULT', 'EXTENSIVE_DATE_SEARCH'))
    found = meta.examine_meta(tree)
    if found.author and ' ' not in found.author:
        found.author = None  # as trafilatura does: the JSON-LD step below starts from this author
    try:
        found = meta.extract_meta_json(tree, found)
    except Exception as error:  # trafilatura's own guard around its JSON-LD parser  # noqa: BLE001
        meta.LOGGER.warning('error in JSON metadata extraction: %s', error)
    if not found.title:
        found.title = meta.extract_title(tree)
    if not found.url:
        found.url = meta.extract_url(tree, url)
    date_config['url'] = found.url
    found.date = meta.find_date(tree, **date_config)
    if not found.sitename:
        found.sitename = meta.extract_sitename(tree)
    if found.sitename:
        found.sitename = found.sitename.lstrip('@')  # a Twitter handle
        if found.sitename and '.' not in found.sitename and not found.sitename[0].isupper():
            found.sitename = found.sitename.title()
    elif found.url:
        match = meta.META_URL.match(found.url)
        if match:
            found.sitename = match[1]
    found.clean_and_trim()
    return found


def extract_page(html, url: Optional[str] = None, max_html_elements: Optional[int] = None,
                 fast: bool = ExtractConfig.fast) -> Optional[ExtractedPage]:
    """Main text and metadata of an HTML page (a string or a tree from `parse_page`), or None when
    trafilatura finds no main text. Raises `PageTooComplex` over `max_html_elements`; `fast` is
    trafilatura's (`ExtractConfig.fast`)."""
    import trafilatura

    tree = parse_page(html, max_html_elements) if isinstance(html, (str, bytes)) else html
    if tree is None:
        return None
    page = trafilatura.bare_extraction(  # on a copy of the tree: `tree` is left as it was
        tree, url=url, with_metadata=False, include_comments=False, include_tables=True, fast=fast)
    if page is None or not (page.text or '').strip():
        return None
    try:
        found = page_metadata(tree, url)
    except (TypeError, ValueError):  # bare_extraction's metadata step gives up on a page with these
        return None
    return ExtractedPage(without_headline(page.text, found.title), found.title or None,
                         found.date or None, found.sitename or None)


class ExtractTextFn(beam.DoFn):

    def __init__(self, config: ExtractConfig = ExtractConfig(),
                 max_document_bytes: Optional[int] = None):
        self._config = config
        self._max_document_bytes = max_document_bytes
        self._extracted = Metrics.counter('newswire', 'extract_pages')

    def process(self, doc: Document):
        if doc.html is None:
            yield doc
            return
        size = len(doc.html.encode('utf-8', 'surrogatepass'))
        if self._max_document_bytes is not None and size > self._max_document_bytes:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(
                STAGE, 'too_large',
                f'{size} bytes of HTML, over the {self._max_document_bytes}-byte cap',
                doc.source, doc.html))
            return
        try:
            page = extract_page(doc.html, doc.source.url, self._config.max_html_elements,
                                self._config.fast)
        except PageTooComplex as error:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(
                STAGE, 'too_complex', str(error), doc.source, doc.html))
            return
        if page is None:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(
                STAGE, 'no_extractable_text', 'trafilatura found no main text in the HTML',
                doc.source, doc.html))
            return
        self._extracted.inc()
        yield doc.replaced(
            text=page.text,
            html=None,
            title=doc.title or page.title,
            published_at=doc.published_at or page.published,
            source=dataclasses.replace(doc.source, outlet=doc.source.outlet or page.site_name),
        )


def _is_html(doc: Document, partitions: int) -> int:
    return int(doc.html is not None)


class ExtractMainText(beam.PTransform):
    """Documents (text or HTML) -> `StageOutputs(documents with text, dead letters)`.

    HTML over `max_document_bytes` or `config.max_html_elements`, or slower than
    `config.timeout_seconds`, is a dead letter (too_large, too_complex, timeout). Text documents go
    past the extraction unchanged, as `ExtractTextFn` would pass them, without its time limit: that
    runs each document in a worker thread, a thread hand-off per document for nothing to stop.
    """

    def __init__(self, config: ExtractConfig = ExtractConfig(),
                 max_document_bytes: Optional[int] = None):
        super().__init__()
        self._config = config
        self._max_document_bytes = max_document_bytes

    def expand(self, docs):
        text, html = docs | 'SplitTextFromHtml' >> beam.Partition(_is_html, 2)
        # blocking: lxml's parser releases the GIL, and only Beam's thread gives up on a parse.
        extracted = html | 'Extract' >> ApplyStage(
            ExtractTextFn(self._config, self._max_document_bytes), STAGE,
            timeout_seconds=self._config.timeout_seconds or None, blocking=True)
        good = (text, extracted.good) | 'TextAndExtracted' >> beam.Flatten()
        return StageOutputs(good, extracted.dead_letters)
