"""Main-text extraction from HTML with trafilatura, the one place newswire calls it.

Documents that arrive as text pass through unchanged. For HTML, trafilatura gives the main text and
the page's metadata; what the source already knew (a JSONL record's title, a feed's date) wins over
what the page says.
"""

from __future__ import annotations

import dataclasses
import re
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from newswire.transforms.dead_letters import DEAD_LETTER, ApplyStage, dead_letter
from newswire.transforms.records import Document

STAGE = 'extract'


class ExtractedPage(NamedTuple):
    text: str
    title: Optional[str]
    published: Optional[str]
    site_name: Optional[str]


# Separators between a headline and the site or section name in an HTML <title>.
_TITLE_PARTS = re.compile(r'\s+[|–—-]\s+|\s*::\s*')


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


def extract_page(html: str, url: Optional[str] = None) -> Optional[ExtractedPage]:
    """Main text and metadata of an HTML page, or None when trafilatura finds no main text."""
    import trafilatura  # imported here: workers that only see text never pay for it

    page = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True)
    if page is None or not (page.text or '').strip():
        return None
    return ExtractedPage(without_headline(page.text, page.title), page.title or None,
                         page.date or None, page.sitename or None)


class ExtractTextFn(beam.DoFn):

    def __init__(self):
        self._extracted = Metrics.counter('newswire', 'extract_pages')

    def process(self, doc: Document):
        if doc.html is None:
            yield doc
            return
        page = extract_page(doc.html, doc.source.url)
        if page is None:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(
                STAGE, 'no_extractable_text', 'trafilatura found no main text in the HTML',
                doc.source, doc.html))
            return
        self._extracted.inc()
        yield dataclasses.replace(
            doc,
            text=page.text,
            html=None,
            title=doc.title or page.title,
            published_at=doc.published_at or page.published,
            source=dataclasses.replace(doc.source, outlet=doc.source.outlet or page.site_name),
        )


class ExtractMainText(beam.PTransform):
    """Documents (text or HTML) -> `StageOutputs(documents with text, dead letters)`."""

    def expand(self, docs):
        return docs | 'Extract' >> ApplyStage(ExtractTextFn(), STAGE)
