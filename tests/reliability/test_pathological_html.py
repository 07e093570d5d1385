"""Pathological HTML: every page finishes or is stopped within the time limit and a memory bound, and
the good pages around it still come through (issue 8, item 7)."""

import json
import subprocess
import sys
import time

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.extract import (ExtractConfig, ExtractMainText, ExtractTextFn,
                                         PageTooComplex, extract_page)
from newswire.transforms.read_files import ReadDocumentFiles
from newswire.transforms.records import Document, SourceRef
from tests.conftest import direct_pipeline

CONFIG = ExtractConfig()  # the shipped defaults (settings.yaml says the same; checked below)
CAP = 5_000_000

ARTICLE = ('<html><head><title>Talks resume in Baku</title></head><body><article>'
           '<h1>Talks resume in Baku</h1>'
           + ''.join(f'<p>Delegations from both sides met on day {i} of the talks in the capital and '
                     f'agreed on a schedule for the next round of negotiations.</p>'
                     for i in range(8))
           + '</article></body></html>')


def many_paragraphs(count=60_000):
    return '<html><body>' + ''.join(f'<p>Paragraph {i} of a long text.</p>'
                                    for i in range(count)) + '</body></html>'


def nested_divs(depth=20_000):
    return '<html><body>' + '<div>' * depth + 'deep' + '</div>' * depth + '</body></html>'


def single_text_node(size=15_000_000):
    return '<html><body><p>' + 'word ' * (size // 5) + '</p></body></html>'


def _html_doc(name, html):
    return Document(id=name, source=SourceRef('html_file', name), text='', html=html)


def test_the_shipped_settings_are_the_config_defaults():
    from newswire.pipeline.job.settings import load_settings
    assert load_settings().extract == ExtractConfig()


def test_sixty_thousand_paragraphs_are_refused_fast_as_too_complex():
    started = time.monotonic()
    with pytest.raises(PageTooComplex):
        extract_page(many_paragraphs(), max_html_elements=CONFIG.max_html_elements)
    assert time.monotonic() - started < 5  # trafilatura alone: 72 s on this page


def test_a_real_article_is_far_below_the_element_cap():
    page = extract_page(ARTICLE, max_html_elements=CONFIG.max_html_elements)
    assert page.title == 'Talks resume in Baku' and 'next round' in page.text


@pytest.mark.slow
def test_each_pathological_page_is_a_dead_letter_and_the_articles_around_it_come_through():
    docs = [
        _html_doc('article-1', ARTICLE),
        _html_doc('many-p', many_paragraphs()),
        _html_doc('nested-div', nested_divs()),
        _html_doc('text-node-15mb', single_text_node()),
        _html_doc('article-2', ARTICLE.replace('Baku', 'Tbilisi')),
    ]
    with direct_pipeline() as p:
        good, dead = p | beam.Create(docs) | ExtractMainText(CONFIG, CAP)
        assert_that(good | beam.Map(lambda d: d.source.id), equal_to(['article-1', 'article-2']),
                    label='good')
        assert_that(dead | beam.Map(lambda d: (d.source.id, d.stage, d.reason, d.original_bytes)),
                    equal_to([('many-p', 'extract', 'too_complex', len(docs[1].html)),
                              ('nested-div', 'extract', 'no_extractable_text',
                               len(docs[2].html)),
                              ('text-node-15mb', 'extract', 'too_large', len(docs[3].html))]),
                    label='dead')


@pytest.mark.slow
def test_a_page_over_the_time_limit_is_a_timeout_dead_letter_and_the_rest_goes_on():
    # 10,000 paragraphs: under the element cap, ~3 s of trafilatura; the limit here is 0.5 s.
    slow = _html_doc('slow', many_paragraphs(10_000))
    config = ExtractConfig(max_html_elements=CONFIG.max_html_elements, timeout_seconds=0.5)
    with direct_pipeline() as p:
        good, dead = (p | beam.Create([_html_doc('article', ARTICLE), slow])
                      | ExtractMainText(config, CAP))
        assert_that(good | beam.Map(lambda d: d.source.id), equal_to(['article']), label='good')
        assert_that(dead | beam.Map(lambda d: (d.source.id, d.stage, d.reason, d.detail)),
                    equal_to([('slow', 'extract', 'timeout', 'not done within 0.5 s')]),
                    label='dead')


@pytest.mark.slow  # slow elements on purpose
def test_apply_stage_without_a_timeout_lets_slow_elements_finish():
    with direct_pipeline() as p:
        good, dead = (p | beam.Create([_html_doc('slow', many_paragraphs(3_000))])
                      | ApplyStage(ExtractTextFn(CONFIG, CAP), 'extract'))
        assert_that(good | beam.Map(lambda d: d.source.id), equal_to(['slow']), label='good')
        assert_that(dead, equal_to([]), label='dead')


_PEAK_MEMORY = '''
import json, sys
from tests.reliability.peak_memory import peak_kib
from newswire.transforms.extract import ExtractConfig, ExtractTextFn
from newswire.transforms.records import Document, SourceRef
from tests.reliability.test_pathological_html import {maker} as make
html = make()
before = peak_kib()
outputs = list(ExtractTextFn(ExtractConfig(), 5_000_000).process(
    Document(id='x', source=SourceRef('html_file', 'x'), text='', html=html)))
after = peak_kib()
print(json.dumps({{'growth_kib': after - before, 'outputs': len(outputs)}}))
'''


@pytest.mark.slow
@pytest.mark.parametrize('maker', ['many_paragraphs', 'nested_divs', 'single_text_node'])
def test_extracting_a_pathological_page_stays_within_a_memory_bound(maker):
    # In a fresh interpreter, so the peak is this page's alone: growth of the peak resident set
    # beyond what building the input string took.
    from tests.conftest import REPO
    result = subprocess.run([sys.executable, '-c', _PEAK_MEMORY.format(maker=maker)], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=True)
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured['outputs'] == 1
    assert measured['growth_kib'] < 256 * 1024, measured


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.slow
def test_empty_binary_utf16_and_oversize_html_files(tmp_path):
    page = ARTICLE.replace('<head>', '<head><meta charset="utf-16">')
    _write(tmp_path / 'empty.html', b'  \n')
    _write(tmp_path / 'binary.html', b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR' * 100)
    _write(tmp_path / 'utf16-bom.html', page.encode('utf-16'))  # with a BOM: a page
    _write(tmp_path / 'utf16-no-bom.html', page.encode('utf-16-le'))  # NUL bytes: binary
    _write(tmp_path / 'text-node-15mb.html', single_text_node().encode())
    with direct_pipeline() as p:
        read = p | ReadDocumentFiles([str(tmp_path)], CAP)
        extracted = read.good | ExtractMainText(CONFIG, CAP)
        assert_that(extracted.good | beam.Map(lambda d: (d.source.id, 'next round' in d.text)),
                    equal_to([('utf16-bom.html', True)]), label='good')
        dead = (read.dead_letters, extracted.dead_letters) | beam.Flatten()
        assert_that(dead | beam.Map(lambda d: (d.source.id, d.stage, d.reason)),
                    equal_to([('empty.html', 'read', 'empty'),
                              ('binary.html', 'read', 'binary'),
                              ('utf16-no-bom.html', 'read', 'binary'),
                              ('text-node-15mb.html', 'read', 'too_large')]), label='dead')


@pytest.mark.parametrize('charset, text', [
    ('windows-1251', 'Переговоры возобновились в Баку, делегации согласовали график.'),
    ('iso-8859-1', 'Les négociations ont repris à Bakou, les délégations ont convenu.'),
    ('shift_jis', 'バクーで協議が再開され、代表団は次回の日程に合意した。'),
])
def test_html_files_in_a_declared_charset_are_extracted_in_it(tmp_path, charset, text):
    html = (f'<html><head><meta charset="{charset}"><title>T</title></head><body><article>'
            + ''.join(f'<p>{text} {i}</p>' for i in range(6)) + '</article></body></html>')
    _write(tmp_path / 'page.html', html.encode(charset))
    with direct_pipeline() as p:
        read = p | ReadDocumentFiles([str(tmp_path / 'page.html')], CAP)
        extracted = read.good | ExtractMainText(CONFIG, CAP)
        assert_that(extracted.good | beam.Map(lambda d: d.text.splitlines()[0]),
                    equal_to([f'{text} 0']))
