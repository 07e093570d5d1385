"""Which source a run reads: `select_source` / `select_stream_source` for each kind of input the
options name, the feed list's errors, and merged sources giving one pair of outputs."""

import dataclasses

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from newswire.pipeline.job.options import NewswireOptions
from newswire.pipeline.job.settings import load_settings
from newswire.pipeline.job.sources import (MergeSources, SourceError, feed_urls, select_source,
                                           select_stream_source)
from newswire.transforms.dead_letters import StageOutputs, dead_letter
from newswire.transforms.feeds import PollFeeds, ReadFeeds
from newswire.transforms.pubsub import ReadPubSubDocuments
from newswire.transforms.read_files import ReadDocumentFiles
from newswire.transforms.records import Document, SourceRef
from tests.conftest import SEEDS, direct_pipeline
from tests.local_http import LocalHttpServer

SETTINGS = load_settings()
SUBSCRIPTION = 'projects/wire-desk/subscriptions/raw'


def job(*argv: str) -> NewswireOptions:
    return PipelineOptions(list(argv)).view_as(NewswireOptions)


@pytest.fixture
def feed_list(tmp_path):
    path = tmp_path / 'feeds.txt'
    path.write_text('# two wires\nhttps://wire.example/rss\n\nhttps://desk.example/atom.xml\n',
                    encoding='utf-8')
    return path


def _labels(source) -> list[str]:
    """The labels of the transforms `source` applies, built into a pipeline that never runs."""
    pipeline = beam.Pipeline(runner='DirectRunner')
    pipeline | 'Read' >> source
    labels = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            labels.append(node.full_label)

    pipeline.visit(Visitor())
    return labels


# --- feed_urls ------------------------------------------------------------------------------------

def test_feed_urls_reads_a_list_with_comments_and_a_byte_order_mark(tmp_path, feed_list):
    assert feed_urls(str(feed_list)) == ['https://wire.example/rss', 'https://desk.example/atom.xml']
    with_bom = tmp_path / 'bom.txt'
    with_bom.write_bytes('\ufeffhttps://wire.example/rss\n'.encode('utf-8'))
    assert feed_urls(str(with_bom)) == ['https://wire.example/rss']


def test_feed_urls_reads_opml(tmp_path):
    opml = tmp_path / 'wires.opml'
    opml.write_text('<?xml version="1.0"?><opml version="2.0"><body>'
                    '<outline text="Wire" xmlUrl="https://wire.example/rss"/>'
                    '<outline text="a folder"><outline xmlUrl="https://desk.example/atom.xml"/>'
                    '</outline></body></opml>', encoding='utf-8')
    assert feed_urls(str(opml)) == ['https://wire.example/rss', 'https://desk.example/atom.xml']


@pytest.mark.parametrize('content,problem', [
    (b'# only a comment\n\n', 'no feed URL in the file'),
    (b'\xff\xfe not UTF-8', "codec can't decode"),
    (b'<opml><body><outline xmlUrl="https://wire.example/rss"></body>', 'not well-formed XML'),
    (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY wire "x">]><opml/>', 'forbidden_dtd'),
])
def test_an_unusable_feed_list_is_a_source_error_naming_the_file(tmp_path, content, problem):
    path = tmp_path / 'feeds.txt'
    path.write_bytes(content)
    with pytest.raises(SourceError) as raised:
        feed_urls(str(path))
    assert str(raised.value).startswith(f'--feeds {path}: ') and problem in str(raised.value)


def test_a_missing_feed_list_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match=f'--feeds {tmp_path / "gone.txt"}: .*No such file'):
        feed_urls(str(tmp_path / 'gone.txt'))


# --- select_source (batch) ------------------------------------------------------------------------

def test_input_alone_reads_files():
    source = select_source(job('--input', str(SEEDS)), SETTINGS)
    assert isinstance(source, ReadDocumentFiles)
    assert not any('Feeds' in label for label in _labels(source))


def test_no_input_reads_the_default_seeds_directory():
    source = select_source(job(), SETTINGS)
    assert isinstance(source, ReadDocumentFiles) and source._inputs == ['seeds/']


def test_feeds_alone_read_feeds_with_the_allowed_hosts(feed_list):
    source = select_source(job('--feeds', str(feed_list), '--allow-host', '127.0.0.1',
                               '--allow-host', 'wire.internal'), SETTINGS)
    assert isinstance(source, ReadFeeds)
    assert source._feed_urls == ['https://wire.example/rss', 'https://desk.example/atom.xml']
    # The settings' fetch limits, with the hosts the command line allowed.
    assert source._fetch_config == dataclasses.replace(
        SETTINGS.fetch, allow_hosts=('127.0.0.1', 'wire.internal'))


def test_input_and_feeds_are_merged_under_stable_labels(feed_list):
    source = select_source(job('--input', str(SEEDS), '--feeds', str(feed_list)), SETTINGS)
    assert isinstance(source, MergeSources)
    labels = _labels(source)
    assert {'Read/Files', 'Read/Feeds'} <= set(labels)


def test_an_unusable_feed_list_fails_before_any_graph(tmp_path):
    empty = tmp_path / 'feeds.txt'
    empty.write_text('\n', encoding='utf-8')
    with pytest.raises(SourceError, match='no feed URL'):
        select_source(job('--input', str(SEEDS), '--feeds', str(empty)), SETTINGS)


# --- select_stream_source -------------------------------------------------------------------------

def test_a_subscription_alone_reads_pubsub():
    source = select_stream_source(job('--input-subscription', SUBSCRIPTION), SETTINGS)
    assert isinstance(source, ReadPubSubDocuments) and source._subscription == SUBSCRIPTION


def test_feeds_alone_are_polled(feed_list):
    assert isinstance(select_stream_source(job('--feeds', str(feed_list)), SETTINGS), PollFeeds)


def test_a_subscription_and_feeds_are_merged(feed_list):
    source = select_stream_source(
        job('--input-subscription', SUBSCRIPTION, '--feeds', str(feed_list)), SETTINGS)
    assert isinstance(source, MergeSources)
    assert {'Read/PubSub', 'Read/Feeds'} <= set(_labels(source))


# --- MergeSources in a pipeline -------------------------------------------------------------------

class _Given(beam.PTransform):
    def __init__(self, docs, letters=()):
        super().__init__()
        self._docs, self._letters = list(docs), list(letters)

    def expand(self, pbegin):
        return StageOutputs(pbegin | 'Docs' >> beam.Create(self._docs),
                            pbegin | 'Letters' >> beam.Create(self._letters))


def _doc(kind, name):
    return Document(id=name, source=SourceRef(kind, name), text=f'The {name} report.')


@pytest.mark.slow
def test_merged_sources_give_every_document_and_every_dead_letter_once():
    files = _Given([_doc('text_file', 'harbour'), _doc('text_file', 'bridge')],
                   [dead_letter('read', 'unsupported_file', 'a .pdf', SourceRef('text_file', 'x'))])
    feeds = _Given([_doc('feed', 'flood')],
                   [dead_letter('fetch', 'http_status', '404', SourceRef('feed', 'gone'))])
    with direct_pipeline() as p:
        merged = p | MergeSources({'Files': files, 'Feeds': feeds})
        assert_that(merged.good | beam.Map(lambda d: (d.source.kind, d.id)),
                    equal_to([('text_file', 'harbour'), ('text_file', 'bridge'),
                              ('feed', 'flood')]), label='documents')
        assert_that(merged.dead_letters | beam.Map(lambda d: (d.stage, d.reason)),
                    equal_to([('read', 'unsupported_file'), ('fetch', 'http_status')]),
                    label='dead letters')


@pytest.mark.slow  # files and a feed fetched from a local server, in one pipeline
def test_select_source_reads_files_and_feeds_in_one_run(tmp_path):
    (tmp_path / 'wires').mkdir()
    (tmp_path / 'wires' / 'harbour.txt').write_text(
        'The harbour authority reopened the northern pier on Tuesday after two months of repairs.',
        encoding='utf-8')
    (tmp_path / 'wires' / 'scan.pdf').write_bytes(b'%PDF-1.4')
    with LocalHttpServer() as server:
        page = server.route('/wire/flood.html', 200, (
            b'<html><head><title>River level falls</title></head><body><article><p>'
            b'The river fell below the warning mark on Sunday, and the town reopened the bridge '
            b'that engineers had closed during the spring flood.</p></article></body></html>'),
            {'Content-Type': 'text/html; charset=utf-8'})
        server.route('/rss', 200, (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
            f'<item><title>River level falls</title><link>{page}</link></item>'
            '</channel></rss>').encode('utf-8'), {'Content-Type': 'application/rss+xml'})
        feeds = tmp_path / 'feeds.txt'
        feeds.write_text(server.url('/rss') + '\n' + server.url('/gone') + '\n', encoding='utf-8')
        settings = dataclasses.replace(SETTINGS, fetch=dataclasses.replace(
            SETTINGS.fetch, min_host_interval_seconds=0.0))
        source = select_source(job('--input', str(tmp_path / 'wires'), '--feeds', str(feeds),
                                   '--allow-host', '127.0.0.1'), settings)
        with direct_pipeline() as p:
            read = p | source
            assert_that(read.good | beam.Map(lambda d: d.source.kind),
                        equal_to(['text_file', 'feed']), label='one document from each')
            # The .pdf is of no kind newswire reads; the second feed answers 404.
            assert_that(read.dead_letters | beam.Map(lambda d: d.source.kind),
                        equal_to(['unknown', 'feed']), label='one dead letter from each')
