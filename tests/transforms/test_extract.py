"""ExtractMainText routes text documents past the timed extraction and HTML through it; the element
cap counts what the parsed tree holds; `extract.fast` reaches trafilatura."""

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.extract import (ExtractConfig, ExtractMainText, ExtractTextFn,
                                         PageTooComplex, extract_page, parse_page)
from newswire.transforms.records import Document, SourceRef
from tests.conftest import direct_pipeline

PAGE = ('<html><head><title>Talks resume in Baku</title></head><body><article>'
        '<h1>Talks resume in Baku</h1>'
        + ''.join(f'<p>Delegations from both sides met on day {i} of the talks in the capital and '
                  f'agreed on a schedule for the next round of negotiations.</p>' for i in range(8))
        + '</article></body></html>')


def test_text_passes_unchanged_and_html_is_extracted_as_by_the_fn():
    docs = [Document(id='text', source=SourceRef('text_file', 'a.txt'), text='Plain wire text.'),
            Document(id='page', source=SourceRef('html_file', 'b.html'), text='', html=PAGE),
            Document(id='empty', source=SourceRef('html_file', 'c.html'), text='',
                     html='<html><body></body></html>')]
    fn = ExtractTextFn()
    expected = [out for doc in docs for out in fn.process(doc) if isinstance(out, Document)]
    assert expected[0] is docs[0] and 'Delegations' in expected[1].text
    with direct_pipeline() as p:
        good, dead = p | beam.Create(docs) | ExtractMainText(ExtractConfig(timeout_seconds=20.0))
        assert_that(good, equal_to(expected), label='good')
        assert_that(dead | beam.Map(lambda letter: (letter.source.id, letter.reason)),
                    equal_to([('c.html', 'no_extractable_text')]), label='dead')


@pytest.mark.parametrize('html', [
    PAGE,
    '<!-- before --><html><body><!-- a note --><p>One<?php echo 1; ?></p><p>Two</p></body></html>',
    '<html><body>' + '<div><span>deep</span>' * 300 + '</div>' * 300 + '</body></html>',
    '<p>A fragment with no html element</p><p>and a second paragraph</p>',
])
def test_the_element_cap_counts_what_iterating_the_tree_gives(html):
    nodes = sum(1 for _ in parse_page(html).iter())
    assert parse_page(html, max_html_elements=nodes) is not None
    with pytest.raises(PageTooComplex, match=f'over {nodes - 1} HTML elements'):
        parse_page(html, max_html_elements=nodes - 1)


# The story in <span>s after a one-line <article>: trafilatura's comparison with readability (fast
# off) joins the spans without a line break.
SPANS_PAGE = ('<html><body><article><p>Short lead only.</p></article><div class="story">'
              + ''.join(f'<span>Delegations from both sides met in the capital on day {i} and agreed '
                        f'on a schedule for the next round of negotiations.</span>' for i in range(12))
              + '</div></body></html>')


@pytest.mark.parametrize('fast', [True, False])
def test_the_fn_extracts_in_the_configured_mode(fast):
    doc = Document(id='page', source=SourceRef('html_file', 'b.html'), text='', html=SPANS_PAGE)
    [out] = ExtractTextFn(ExtractConfig(fast=fast)).process(doc)
    assert out.text == extract_page(SPANS_PAGE, fast=fast).text
    assert out.text != extract_page(SPANS_PAGE, fast=not fast).text
