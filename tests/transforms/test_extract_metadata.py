"""`page_metadata` gives the fields a record carries as trafilatura's full metadata extraction does,
and `extract_page` the page that `bare_extraction(with_metadata=True)` gives."""

import gzip

import pytest
import trafilatura
from trafilatura.metadata import extract_metadata
from trafilatura.settings import Extractor

from newswire.transforms.extract import ExtractedPage, extract_page, page_metadata, parse_page, \
    without_headline
from newswire.transforms.read_files import decode_html
from tests.conftest import SHARED_EVAL

FIELDS = ('title', 'url', 'date', 'sitename')

BODY = ''.join(f'<p>Paragraph {i}: the harbour authority reopened the northern quay after the storm '
               f'and ferries resumed their morning crossings, a spokeswoman said.</p>'
               for i in range(6))


def page(head: str = '', body_top: str = '', body: str = BODY) -> str:
    return f'<html><head>{head}</head><body>{body_top}<article>{body}</article></body></html>'


# Each page exercises a different source of title, url, date or site name, and the author,
# category, tag and licence markup that page_metadata leaves out must not change what it keeps.
PAGES = {
    'opengraph': page('<meta property="og:title" content="Quay reopens after storm">'
                      '<meta property="og:site_name" content="Harbour Gazette">'
                      '<meta property="og:url" content="https://gazette.example.org/quay">'
                      '<meta property="article:published_time" content="2024-03-02T08:00:00Z">'
                      '<meta name="author" content="Ana Ortiz">'),
    'json_ld': page('<script type="application/ld+json">{"@context": "https://schema.org", '
                    '"@type": "NewsArticle", "headline": "Ferries resume crossings", '
                    '"datePublished": "2023-11-20", "author": {"@type": "Person", "name": '
                    '"Lena Park"}, "publisher": {"@type": "Organization", "name": "Coast Daily"}}'
                    '</script>'),
    'broken_json_ld': page('<script type="application/ld+json">{"@type": "NewsArticle", '
                           '"headline": "Storm damage assessed", "author": {"name": "Ravi Menon"}, '
                           '"publisher": {"name": "Port Weekly"},, }</script>'),
    'title_element_with_site': page('<title>Storm closes the quay - portnews.example.com</title>'),
    'title_element_with_section': page('<title>Weather | Storm closes the quay</title>'),
    'twitter_handle_site': page('<meta name="twitter:site" content="@harbourwatch">'
                                '<title>Quay update</title>'),
    'lowercase_publisher': page('<meta name="publisher" content="the harbour gazette">'),
    'single_h1_and_date_in_text': page(body_top='<h1>Northern quay open again</h1>'
                                                '<p class="date">Published 14 May 2022</p>'),
    'relative_canonical': page('<link rel="canonical" href="/news/quay-reopens">'
                               '<meta property="og:image" content="https://img.example.net/q.jpg">'),
    'protocol_relative_canonical': page('<link rel="canonical" href="//news.example.com/q">'),
    'entities_and_spaces': page('<meta name="title" content="Quay  &amp;  ferries &#8211; back">'
                                '<meta name="dc.publisher" content="  Gazette &amp; Co  ">'),
    'author_categories_tags_licence': page(
        '<meta name="keywords" content="storm, ferries"><meta property="article:section" '
        'content="Local">',
        body_top='<div class="author">By Tomas Weber</div><a rel="tag" href="/tag/storm/">storm</a>'
                 '<a href="/category/weather/">Weather</a>'
                 '<footer><a href="https://creativecommons.org/licenses/by-sa/4.0/">licence</a>'
                 '</footer>'),
    'very_long_title': page(f'<meta name="title" content="{"Quay " * 2500}">'),
    'nothing': page(),
}


def _full_metadata(tree, url):
    # As bare_extraction calls it, with its Extractor's date parameters.
    options = Extractor(url=url, with_metadata=True)
    return extract_metadata(tree, options.url, options.date_params, options.fast,
                            options.author_blacklist)


def _page_with_full_metadata(html, url, fast=True):
    found = trafilatura.bare_extraction(parse_page(html), url=url, with_metadata=True,
                                        include_comments=False, include_tables=True, fast=fast)
    if found is None or not (found.text or '').strip():
        return None
    return ExtractedPage(without_headline(found.text, found.title), found.title or None,
                         found.date or None, found.sitename or None)


@pytest.mark.parametrize('fast', [True, False])
@pytest.mark.parametrize('url', [None, 'https://wire.example.com/2024/quay-story'])
@pytest.mark.parametrize('name', sorted(PAGES))
def test_fields_equal_trafilaturas_full_metadata(name, url, fast):
    html = PAGES[name]
    full, kept = _full_metadata(parse_page(html), url), page_metadata(parse_page(html), url)
    assert {f: getattr(kept, f) for f in FIELDS} == {f: getattr(full, f) for f in FIELDS}
    assert extract_page(html, url, fast=fast) == _page_with_full_metadata(html, url, fast)


def test_the_pages_give_the_fields_they_were_written_for():
    # The comparison above means something only if the pages do carry these fields.
    found = {name: page_metadata(parse_page(html)) for name, html in PAGES.items()}
    assert found['opengraph'].sitename == 'Harbour Gazette'
    assert found['opengraph'].date == '2024-03-02'
    assert found['json_ld'].title == 'Ferries resume crossings'
    assert found['json_ld'].sitename == 'Coast Daily'
    assert found['title_element_with_site'].sitename == 'portnews.example.com'
    assert found['twitter_handle_site'].sitename == 'Harbourwatch'
    assert found['lowercase_publisher'].sitename == 'The Harbour Gazette'
    assert found['single_h1_and_date_in_text'].title == 'Northern quay open again'
    assert found['relative_canonical'].url == 'https://img.example.net/news/quay-reopens'
    assert len(found['very_long_title'].title) == 10000
    assert found['nothing'].title is None and found['nothing'].date is None


def test_page_metadata_leaves_the_tree_as_it_was():
    from lxml import etree

    tree = parse_page(PAGES['author_categories_tags_licence'])
    before = etree.tostring(tree)
    page_metadata(tree)
    assert etree.tostring(tree) == before


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_EVAL.is_dir(), reason='shared/eval is not beside the repo')
def test_zyte_pages_give_what_the_full_metadata_gives():
    pages = sorted((SHARED_EVAL / 'article-extraction-zyte-benchmark' / 'html').glob('*.html.gz'))
    assert pages
    modes_differ = 0
    for path in pages:
        html = decode_html(gzip.decompress(path.read_bytes()), None)
        full, kept = _full_metadata(parse_page(html), None), page_metadata(parse_page(html))
        assert {f: getattr(kept, f) for f in FIELDS} == {f: getattr(full, f) for f in FIELDS}, \
            path.name
        pages_by_mode = {fast: extract_page(html, fast=fast) for fast in (True, False)}
        for fast, page in pages_by_mode.items():
            assert page == _page_with_full_metadata(html, None, fast), (path.name, fast)
        modes_differ += pages_by_mode[True] != pages_by_mode[False]
    # Each mode reaches trafilatura: on some pages its comparison with readability and jusText
    # changes the text.
    assert modes_differ
