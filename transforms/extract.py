"""Main-text extraction from HTML with trafilatura, the one place newswire calls it.

Documents that arrive as text pass through unchanged. For HTML, trafilatura gives the main text and
the page's metadata; what the source already knew (a JSONL record's title, a feed's date) wins over
what the page says.
"""

from __future__ import annotations

import dataclasses
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


def extract_page(html: str, url: Optional[str] = None) -> Optional[ExtractedPage]:
    """Main text and metadata of an HTML page, or None when trafilatura finds no main text."""
    import trafilatura  # imported here: workers that only see text never pay for it

    page = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True)
    if page is None or not (page.text or '').strip():
        return None
    return ExtractedPage(page.text, page.title or None, page.date or None, page.sitename or None)


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
