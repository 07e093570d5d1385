"""Feeds on a real local HTTP server: real-world feeds, ill-formed and hostile feeds, polling state,
and the ReadFeeds source with real article pages."""

import base64
import codecs
import json
import time
import tracemalloc
from datetime import datetime
from urllib.parse import urljoin

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.feeds import (
    FALLBACK_FEED_SUMMARY, FeedConfig, FeedEntry, FeedRejected, FeedState, ReadFeeds,
    decode_feed, decode_html, html_fragment_text, parse_feed, parse_feed_list, poll_feed,
    refuse_entity_declarations, select_new_entries)
from newswire.transforms.fetch import FetchConfig, Fetcher
from tests.conftest import direct_pipeline
from tests.feed_server import ILLFORMED, REALWORLD, FeedServer, manifest
from tests.local_http import LocalHttpServer

LOCAL = FetchConfig(connect_timeout_seconds=1.0, read_timeout_seconds=1.0,
                    total_timeout_seconds=2.0, min_host_interval_seconds=0.0,
                    allow_hosts=('127.0.0.1',))
MAX_SEEN = FeedConfig().max_seen_entries_per_feed

needs_eval_data = pytest.mark.skipif(not REALWORLD.is_dir(), reason='../shared/eval is not here')

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>%s</channel></rss>"""


def rss_item(guid, link, title='t', description='<p>Summary one.</p><p>Two.</p>'):
    return (f'<item><guid isPermaLink="false">{guid}</guid><link>{link}</link><title>{title}</title>'
            f'<description><![CDATA[{description}]]></description>'
            f'<pubDate>Tue, 10 Jun 2003 04:00:00 GMT</pubDate></item>').encode()


@pytest.fixture(scope='module')
def server():
    with LocalHttpServer() as local:
        yield local


@pytest.fixture(scope='module')
def feed_server(server):
    return FeedServer(server)


# -- feed lists ----------------------------------------------------------------------------------

def test_a_feed_list_is_one_url_per_line_with_comments():
    text = '# wires\nhttps://a.example/rss\n\n  https://b.example/atom#frag  \n#x\nhttps://a.example/rss\n'
    assert parse_feed_list(text) == ['https://a.example/rss', 'https://b.example/atom#frag']


def test_a_feed_list_may_be_opml():
    opml = ('<?xml version="1.0"?><opml version="2.0"><body><outline text="news">'
            '<outline type="rss" xmlUrl="https://a.example/rss"/>'
            '<outline type="rss" xmlUrl=" https://b.example/feed "/></outline></body></opml>')
    assert parse_feed_list(opml) == ['https://a.example/rss', 'https://b.example/feed']


def test_an_opml_list_with_entities_is_refused():
    opml = '<?xml version="1.0"?><!DOCTYPE o [<!ENTITY a "aaaa">]><opml><body/></opml>'
    with pytest.raises(FeedRejected):
        parse_feed_list(opml)


# -- hostile XML ---------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<rss version="2.0"><channel><title>&lol4;</title></channel></rss>"""


def quadratic_blowup() -> bytes:
    """~110 KB: one 50 KB entity referenced 60,000 times would make a multi-GB string."""
    return (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + b'x' * 50_000 + b'">]>'
            b'<rss version="2.0"><channel><title>q</title><item><description>'
            + b'&a;' * 20_000 + b'</description></item></channel></rss>')


def xxe(target: str) -> bytes:
    return (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "{target}">]>'
            f'<rss version="2.0"><channel><title>&xxe;</title><item><title>&xxe;</title>'
            f'</item></channel></rss>').encode()


@pytest.mark.parametrize('name, document', [
    ('billion_laughs', BILLION_LAUGHS),
    ('quadratic_blowup', quadratic_blowup()),
    ('xxe_file', xxe('file:///etc/passwd')),
    ('parameter_entity', b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM '
                         b'"http://127.0.0.1:9/x.dtd"> %p;]><rss version="2.0"/>'),
    ('internal_subset', b'<?xml version="1.0"?><!DOCTYPE rss [<!ATTLIST rss a CDATA "x">]><rss/>'),
    ('utf16', '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE r [<!ENTITY a "b">]><rss/>'
              .encode('utf-16')),
])
def test_entity_declarations_are_refused_fast_before_parsing(name, document):
    started = time.monotonic()
    with pytest.raises(FeedRejected) as caught:
        parse_feed(document, 'http://127.0.0.1/feed')
    assert caught.value.reason == 'forbidden_dtd'
    assert time.monotonic() - started < 0.5


def test_hostile_feeds_served_over_http_are_dead_letters_and_canaries_stay_unhit(server):
    canary = server.route('/canary', 200, b'CANARY')
    server.route('/hostile/xxe-http', 200, xxe(canary))
    server.route('/hostile/xxe-file', 200, xxe('file:///etc/hostname'))
    server.route('/hostile/blowup', 200, quadratic_blowup())
    # An external DTD alone is allowed (RSS 0.91 feeds name one): feedparser never fetches it.
    server.route('/hostile/external-dtd', 200,
                 f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{canary}"><rss version="2.0">'
                 f'<channel><title>ok</title><item><title>one</title><link>{canary}</link></item>'
                 f'</channel></rss>'.encode())
    fetcher = Fetcher(LOCAL)
    for path in ('/hostile/xxe-http', '/hostile/xxe-file', '/hostile/blowup'):
        started = time.monotonic()
        with pytest.raises(FeedRejected) as caught:
            poll_feed(fetcher, server.url(path), FeedState(), MAX_SEEN)
        assert caught.value.reason == 'forbidden_dtd'
        assert time.monotonic() - started < 2.0
    poll = poll_feed(fetcher, server.url('/hostile/external-dtd'), FeedState(), MAX_SEEN)
    assert [e.title for e in poll.entries] == ['one']
    assert server.hits['/canary'] == 0


def test_refusal_allows_a_plain_external_doctype():
    refuse_entity_declarations(b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
                               b' "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss/>')


# -- hostile XML in other encodings --------------------------------------------------------------
# feedparser decodes EBCDIC, UTF-7 and UTF-16/32 (with or without a BOM) as the BOM, the first bytes,
# the HTTP charset or the XML declaration say; an entity declaration must be refused in all of them.

def _body(document: str) -> str:
    """The document without its XML declaration."""
    return document.split('?>', 1)[1] if document.startswith('<?xml') else document


def _declared(document: str, encoding: str) -> str:
    return f'<?xml version="1.0" encoding="{encoding}"?>' + _body(document)


def _utf7_shifted(text: str) -> bytes:
    """UTF-7 with every character in the base64 form, so no '<' byte is left in plain sight."""
    return b'+' + base64.b64encode(text.encode('utf-16-be')).rstrip(b'=') + b'-'


RSS_TYPE = 'application/rss+xml'
# id -> (document str -> bytes on the wire, Content-Type served)
ENCODINGS = {
    'cp037-declared': (lambda d: _declared(d, 'cp037').encode('cp037'), RSS_TYPE),
    'cp037-charset': (lambda d: _body(d).encode('cp037'), RSS_TYPE + '; charset=cp037'),
    'utf7-charset': (lambda d: _utf7_shifted(_body(d)), RSS_TYPE + '; charset=utf-7'),
    'utf7-declared': (lambda d: b'<?xml version="1.0" encoding="utf-7"?>' + _utf7_shifted(_body(d)),
                      RSS_TYPE),
    # text/xml means us-ascii; EBCDIC letters are not ASCII, so feedparser falls back on the
    # declaration.
    'cp037-declared-text-xml': (lambda d: _declared(d, 'cp037').encode('cp037'), 'text/xml'),
    'utf16le-bom': (lambda d: codecs.BOM_UTF16_LE + _declared(d, 'utf-16').encode('utf-16-le'),
                    RSS_TYPE),
    'utf16be-bom': (lambda d: codecs.BOM_UTF16_BE + _declared(d, 'utf-16').encode('utf-16-be'),
                    RSS_TYPE),
    'utf32le-bom': (lambda d: codecs.BOM_UTF32_LE + _declared(d, 'utf-32').encode('utf-32-le'),
                    RSS_TYPE),
    'utf32be-bom': (lambda d: codecs.BOM_UTF32_BE + _declared(d, 'utf-32').encode('utf-32-be'),
                    RSS_TYPE),
    'utf16le-no-bom': (lambda d: _declared(d, 'utf-16').encode('utf-16-le'), RSS_TYPE),
    'utf16be-no-bom': (lambda d: _declared(d, 'utf-16').encode('utf-16-be'), RSS_TYPE),
    'utf32le-no-bom': (lambda d: _declared(d, 'utf-32').encode('utf-32-le'), RSS_TYPE),
    'utf32be-no-bom': (lambda d: _declared(d, 'utf-32').encode('utf-32-be'), RSS_TYPE),
    'utf16be-charset-only': (lambda d: _body(d).encode('utf-16-be'),
                             RSS_TYPE + '; charset=utf-16be'),
}
HOSTILE = {'billion_laughs': BILLION_LAUGHS.decode(), 'quadratic_blowup': quadratic_blowup().decode()}


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
@pytest.mark.parametrize('attack', sorted(HOSTILE))
def test_entity_declarations_are_refused_in_every_encoding_feedparser_reads(server, encoding,
                                                                            attack):
    encode, content_type = ENCODINGS[encoding]
    wire = encode(HOSTILE[attack])
    assert b'<!ENTITY' not in wire  # the declaration is not in plain ASCII sight
    url = server.route(f'/encoded/{attack}/{encoding}', 200, wire, {'Content-Type': content_type})
    tracemalloc.start()
    try:
        started = time.monotonic()
        with pytest.raises(FeedRejected) as caught:
            poll_feed(Fetcher(LOCAL), url, FeedState(), MAX_SEEN)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason == 'forbidden_dtd', caught.value.detail
    # Expanded, the quadratic blowup is a 1 GB string; refused, it costs a few copies of itself.
    assert elapsed < 1.0 and peak < 16 * 1024 * 1024, (elapsed, peak)


LEGIT = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Wire of Zürich</title>'
         '<item><guid>g1</guid><link>http://127.0.0.1/a</link><title>Café council votes</title>'
         '<description>&lt;p&gt;The budget passed &amp; the vote was close.&lt;/p&gt;</description>'
         '</item><item><guid>g2</guid><link>http://127.0.0.1/b</link><title>Second item</title>'
         '</item></channel></rss>')


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_a_legitimate_feed_reads_the_same_in_every_encoding(encoding):
    encode, content_type = ENCODINGS[encoding]
    expected = parse_feed(LEGIT.encode('utf-8'), 'http://127.0.0.1/feed')
    assert [e.title for e in expected] == ['Café council votes', 'Second item']
    assert parse_feed(encode(LEGIT), 'http://127.0.0.1/feed', content_type) == expected


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_feedparser_parses_exactly_the_text_that_was_checked(encoding):
    from feedparser.encodings import convert_to_utf8

    encode, content_type = ENCODINGS[encoding]
    text, headers = decode_feed(encode(LEGIT), 'http://127.0.0.1/feed', content_type)
    assert 'Café council votes' in text.decode('utf-8')
    # What feedparser does first with the bytes it is given: decoding them again changes nothing,
    # so no encoding of its choosing can turn the checked text into another one.
    result = {}
    assert convert_to_utf8(headers, text, result) == text and result['encoding'] == 'utf-8'


@pytest.mark.parametrize('text', [
    b'<!DOCTYPE rss SYSTEM "http://x.example/a>b" [<!ATTLIST rss a CDATA "x">]><rss/>',
    b"<!doctype rss SYSTEM 'a' [ ]><rss/>",
    b'<!DOCTYPE rss "unterminated [<!ATTLIST rss a CDATA "x">]><rss/>',
])
def test_an_internal_subset_is_found_past_quoted_literals(text):
    with pytest.raises(FeedRejected) as caught:
        refuse_entity_declarations(text)
    assert caught.value.reason == 'forbidden_dtd'


@pytest.mark.parametrize('unit', [b'<!DOCTYPE', b'<!DOCTYPE "', b"<!DOCTYPE '", b'<!DOCTYPE "x\' '])
def test_the_declaration_check_is_linear_on_adversarial_repetition(unit):
    text = unit * (1_000_000 // len(unit))
    started = time.monotonic()
    refuse_entity_declarations(text)  # no subset, no entity: accepted
    assert time.monotonic() - started < 1.0


# -- real-world feeds ----------------------------------------------------------------------------

def _localized(feed_server, value):
    return feed_server.localize(value.strip()) if isinstance(value, str) else value


def _same_instant(got, expected):
    if not expected:
        return got is None
    parse = lambda v: datetime.fromisoformat(v.replace('Z', '+00:00'))  # noqa: E731
    # rss-parser keeps milliseconds the feeds' RFC 822 dates do not have: compare to the second.
    return got is not None and abs((parse(got) - parse(expected)).total_seconds()) < 1


@needs_eval_data
def test_every_entry_of_the_real_world_feeds_comes_through(feed_server):
    fetcher = Fetcher(LOCAL)
    agree, compared, entries_through, feeds_parsed = {}, 0, 0, 0
    for case in manifest():
        name = case['input'].rsplit('/', 1)[-1]
        url = feed_server.feed_url(name)
        if name == 'unrecognized.rss':
            with pytest.raises(FeedRejected) as caught:
                poll_feed(fetcher, url, FeedState(), MAX_SEEN)
            assert caught.value.reason == 'not_a_feed'
            continue
        poll = poll_feed(fetcher, url, FeedState(), MAX_SEEN)
        feeds_parsed += 1
        entries_through += len(poll.entries)
        core = case.get('core')
        if core is None:  # itunes-missing-image.rss: no golden, it must parse
            assert poll.entries, name
            continue
        assert len(poll.entries) == core['n_items'], name
        for got, expected in zip(poll.entries, core['items']):
            compared += 1
            checks = {
                'title': got.title == ((expected.get('title') or '').strip() or None),
                'link': got.link == _localized(feed_server, expected.get('link')),
                'date': _same_instant(got.published_at, expected.get('isoDate')),
            }
            if expected.get('guid'):
                guid = _localized(feed_server, expected['guid'])
                # feedparser resolves a permalink GUID ("t3_42tizy") against the feed's URL.
                checks['guid'] = got.guid in (guid, urljoin(url, guid))
            for field, ok in checks.items():
                agree.setdefault(field, []).append(ok)
    accuracy = {field: sum(oks) / len(oks) for field, oks in agree.items()}
    print(f'real-world feeds: {feeds_parsed} parsed, {entries_through} entries through, '
          f'{compared} compared, field agreement with rss-parser {accuracy}')
    assert feeds_parsed == 27 and compared == 409
    # Measured: title 397/409, link 398/409, date 409/409, guid 291/291. The differences are
    # rss-parser's, not entries lost: it leaves relative Atom links unresolved (gulp) and
    # mis-decodes the UOL feed's ISO-8859-1 titles; feedparser unescapes Craigslist's &amp;.
    assert all(value >= 0.95 for value in accuracy.values()), accuracy


@needs_eval_data
def test_ill_formed_feeds_parse_or_are_rejected_never_crash(server):
    fetcher = Fetcher(LOCAL)
    outcomes = {}
    for path in sorted(ILLFORMED.rglob('*.xml')):
        route = f'/illformed/{path.relative_to(ILLFORMED)}'
        server.route(route, 200, path.read_bytes(), {'Content-Type': 'text/xml'})
        try:
            outcomes[path.name] = len(poll_feed(fetcher, server.url(route), FeedState(),
                                                MAX_SEEN).entries)
        except FeedRejected as rejected:
            outcomes[path.name] = rejected.reason
    assert len(outcomes) == 19
    assert outcomes['rss_empty_document.xml'] == 'not_a_feed'
    assert outcomes['always_strip_doctype.xml'] == 0  # a channel without items, parsed
    assert outcomes['rss_item_link_corrupted_ampersands.xml'] == 1


# -- polling state -------------------------------------------------------------------------------

def _entry(key):
    return FeedEntry(feed_url='f', key=key, link=None, title=None, published_at=None,
                     summary_html=None)


def test_select_new_entries_remembers_a_bounded_window():
    new, seen = select_new_entries([_entry(k) for k in 'accd'], ('a', 'b'), max_seen=3)
    assert [e.key for e in new] == ['c', 'd'] and seen == ('b', 'c', 'd')
    new, seen = select_new_entries([_entry(k) for k in 'bcde'], seen, max_seen=3)
    assert [e.key for e in new] == ['e'] and seen == ('c', 'd', 'e')


def test_polling_yields_new_entries_only_and_nothing_on_304(server):
    feed = {'body': RSS % (rss_item('g1', 'http://127.0.0.1/1') + rss_item('g2', 'http://127.0.0.1/2')),
            'etag': '"v1"'}

    def conditional(handler):
        if handler.headers.get('If-None-Match') == feed['etag']:
            handler.send_answer(304, b'', {'ETag': feed['etag']})
        else:
            handler.send_answer(200, feed['body'], {'ETag': feed['etag'],
                                                    'Last-Modified': 'Tue, 10 Jun 2003 04:00:00 GMT'})

    url = server.route_fn('/polled', conditional)
    fetcher = Fetcher(LOCAL)
    first = poll_feed(fetcher, url, FeedState(), MAX_SEEN)
    assert [e.key for e in first.entries] == ['g1', 'g2']
    assert first.state.etag == '"v1"' and first.state.last_modified.startswith('Tue')
    second = poll_feed(fetcher, url, first.state, MAX_SEEN)
    assert second.not_modified and second.entries == () and second.state == first.state
    feed.update(body=RSS % (rss_item('g3', 'http://127.0.0.1/3') + rss_item('g2', 'http://127.0.0.1/2')),
                etag='"v2"')
    third = poll_feed(fetcher, url, second.state, MAX_SEEN)
    assert [e.key for e in third.entries] == ['g3'] and third.state.seen == ('g1', 'g2', 'g3')


# -- the per-feed entry cap ----------------------------------------------------------------------

def test_polling_past_the_entry_cap_returns_the_first_and_counts_the_rest_once(server):
    feed = {'guids': ['n1', 'n2', 'n3', 'n4', 'n5']}

    def answer(handler):
        items = b''.join(rss_item(g, f'http://127.0.0.1/{g}') for g in feed['guids'])
        handler.send_answer(200, RSS % items, {'Content-Type': RSS_TYPE})

    url = server.route_fn('/capped/poll', answer)
    fetcher = Fetcher(LOCAL)
    first = poll_feed(fetcher, url, FeedState(), MAX_SEEN, max_entries=2)
    assert [e.key for e in first.entries] == ['n1', 'n2']
    assert (first.skipped, first.first_skipped_key) == (3, 'n3')
    assert first.state.seen == ('n1', 'n2', 'n3', 'n4', 'n5')  # skipped ones are not offered again
    feed['guids'] = ['n6'] + feed['guids']
    second = poll_feed(fetcher, url, first.state, MAX_SEEN, max_entries=2)
    assert [e.key for e in second.entries] == ['n6'] and second.skipped == 0


@pytest.mark.slow
def test_a_feed_past_the_entry_cap_is_its_first_entries_and_one_counted_letter(server):
    from apache_beam.metrics.metric import MetricsFilter

    guids = [f'e{i}' for i in range(7)]
    server.route_fn('/capped-pages/', lambda h: h.send_answer(
        200, b'<html><body><p>A page about ' + h.path.encode() + b'.</p></body></html>',
        {'Content-Type': 'text/html'}))
    url = server.route('/capped/feed', 200, RSS % b''.join(
        rss_item(g, server.url(f'/capped-pages/{g}')) for g in guids), {'Content-Type': RSS_TYPE})
    pipeline = direct_pipeline()
    out = pipeline | ReadFeeds([url], LOCAL, FeedConfig(max_entries_per_feed=3))
    assert_that(out.good | 'Ids' >> beam.Map(lambda d: d.source.id),
                equal_to(['e0', 'e1', 'e2']), label='FirstEntries')
    assert_that(out.dead_letters | 'Letters' >> beam.Map(
        lambda d: (d.stage, d.reason, d.source.id, d.detail.split(' new entries')[0])),
        equal_to([('feed', 'too_many_entries', url, '4')]), label='OneLetter')
    result = pipeline.run()
    result.wait_until_finish()
    skipped = result.metrics().query(MetricsFilter().with_name('feed_entries_skipped'))['counters']
    assert sum(counter.committed for counter in skipped) == 4
    assert server.hits['/capped-pages/e3'] == 0 and server.hits['/capped-pages/e2'] == 1


def test_the_entry_cap_must_be_positive():
    with pytest.raises(ValueError, match='max_entries_per_feed must be at least 1, got 0'):
        FeedConfig(max_entries_per_feed=0)


# -- helpers -------------------------------------------------------------------------------------

def test_a_summary_becomes_paragraphs_of_text():
    assert html_fragment_text('<p>One <b>bold</b> line.</p><p>Two</p>') == 'One bold line.\nTwo'


def test_page_bytes_are_decoded_by_header_then_utf8_then_meta():
    assert decode_html('é'.encode('latin-1'), 'text/html; charset=iso-8859-1') == 'é'
    assert decode_html('é'.encode('utf-8'), 'text/html') == 'é'
    assert decode_html(b'<meta charset="windows-1251">\xc0', None).endswith('А')


# -- ReadFeeds -----------------------------------------------------------------------------------

@needs_eval_data
@pytest.mark.slow
def test_read_feeds_brings_every_real_entry_with_its_page(feed_server):
    server = feed_server.server
    server.route('/mixed/feed', 200, RSS % (
        rss_item('ok', server.url('/web/http/example.org/ok'))
        + rss_item('gone-with-summary', server.url('/mixed/gone'))
        + rss_item('gone-no-summary', server.url('/mixed/gone2'), description='')
        + rss_item('private', 'http://169.254.169.254/latest/')))
    names = [c['input'].rsplit('/', 1)[-1] for c in manifest()]
    urls = [feed_server.feed_url(n) for n in names] + [server.url('/mixed/feed'),
                                                        server.url('/mixed/no-such-feed')]
    expected_entries = sum((c.get('core') or {}).get('n_items') or 0 for c in manifest()) + 130

    with direct_pipeline() as pipeline:
        out = pipeline | ReadFeeds(urls, LOCAL, FeedConfig())
        kinds = out.good | 'Kind' >> beam.Map(
            lambda d: 'fallback' if d.extra.get('fallback') else ('page' if d.html else 'text'))
        assert_that(kinds | 'CountKinds' >> beam.combiners.Count.PerElement(),
                    # Every real entry has a page but two, dead letters below:
                    # incomplete-fields.atom's entry has neither link nor summary, and
                    # missing-fields.atom's only has a tag: URI for a link.
                    equal_to([('page', expected_entries - 2 + 1), ('fallback', 2)]), label='Kinds')
        assert_that(out.dead_letters | 'Reasons' >> beam.Map(lambda d: (d.stage, d.reason,
                                                                          d.source.id[:7])),
                    equal_to([('feed', 'not_a_feed', feed_server.feed_url('unrecognized.rss')[:7]),
                              ('feed', 'http_404', 'http://'),
                              ('fetch_page', 'http_404', 'gone-no'),
                              ('fetch_page', 'no_link', 'sha256:'),
                              ('fetch_page', 'unsupported_scheme', 'tag:git')]),
                    label='DeadLetters')
        fallbacks = out.good | 'Fallbacks' >> beam.Filter(lambda d: d.extra.get('fallback'))
        assert_that(fallbacks | beam.Map(lambda d: (d.source.id, d.extra['fallback'],
                                                    d.extra['page_failure'], d.text)),
                    equal_to([('gone-with-summary', FALLBACK_FEED_SUMMARY, 'http_404',
                               'Summary one.\nTwo.'),
                              ('private', FALLBACK_FEED_SUMMARY, 'refused_address',
                               'Summary one.\nTwo.')]),
                    label='FallbackDocuments')
        assert_that(out.good | 'AllFeed' >> beam.Map(lambda d: (d.source.kind, bool(d.id))),
                    lambda pairs: _all_equal(pairs, ('feed', True)), label='SourceKind')


def _all_equal(values, expected):
    bad = [v for v in values if v != expected]
    assert not bad, bad[:3]


def test_the_entry_dead_letter_keeps_the_entry(server):
    server.route('/one/feed', 200, RSS % rss_item('lonely', server.url('/one/missing'),
                                                  description=''))
    with direct_pipeline() as pipeline:
        out = pipeline | ReadFeeds([server.url('/one/feed')], LOCAL, FeedConfig())
        assert_that(out.good, equal_to([]), label='NoDocuments')
        assert_that(out.dead_letters | beam.Map(
            lambda d: (d.reason, json.loads(d.original)['key'], json.loads(d.original)['link'])),
            equal_to([('http_404', 'lonely', server.url('/one/missing'))]), label='Letter')


def test_each_feed_read_is_reported_in_one_line():
    import io

    from newswire.transforms.feeds import report_poll

    stream = io.StringIO()
    report_poll('https://wire.example/rss', 12, stream=stream)
    report_poll('https://wire.example/big', 500, 73, stream=stream)
    report_poll('https://wire.example/gone', failure='http_404', stream=stream)
    assert stream.getvalue().splitlines() == [
        'newswire: feed https://wire.example/rss: 12 new entries',
        'newswire: feed https://wire.example/big: 500 new entries, 73 over the per-feed cap',
        'newswire: feed https://wire.example/gone: no entries (http_404)',
    ]
