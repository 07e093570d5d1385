"""The fetcher against a real HTTP server on 127.0.0.1: limits, redirects, SSRF guard, robots."""

import gzip
import threading
import time
import tracemalloc

import pytest

from newswire.transforms.fetch import (
    Clock, FetchConfig, Fetcher, FetchError, is_public_address, parse_retry_after)
from tests.local_http import LocalHttpServer, silent_server

ALLOW_LOOPBACK = ('127.0.0.1',)


class FakeClock(Clock):
    """Time that only moves when something sleeps."""

    def __init__(self):
        self.t = 1000.0
        self.sleeps = []

    def now(self):
        return self.t

    def sleep(self, seconds):
        if seconds > 0:
            self.sleeps.append(seconds)
            self.t += seconds


def make_fetcher(clock=None, **overrides):
    values = dict(connect_timeout_seconds=1.0, read_timeout_seconds=1.0,
                  total_timeout_seconds=2.0, max_body_bytes=1_000_000, max_redirects=3,
                  min_host_interval_seconds=0.0, allow_hosts=ALLOW_LOOPBACK,
                  refused_hostnames=('metadata.google.internal',))
    values.update(overrides)
    return Fetcher(FetchConfig(**values), clock=clock or FakeClock())


@pytest.fixture
def server():
    with LocalHttpServer() as local:
        yield local


def reason_of(fetcher, url, **kwargs):
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url, **kwargs)
    return caught.value.reason


def test_a_page_is_fetched_with_the_project_user_agent(server):
    url = server.route('/a', 200, b'<html>hello</html>', {'Content-Type': 'text/html'})
    result = make_fetcher().fetch(url)
    assert (result.status, result.body, result.url) == (200, b'<html>hello</html>', url)
    assert result.headers['content-type'] == 'text/html'
    path, headers = server.requests[-1]
    assert path == '/a' and headers['User-Agent'].startswith('newswire/')
    assert headers['Host'] == f'127.0.0.1:{server.port}'


def test_gzip_content_encoding_is_decompressed(server):
    body = b'<p>compressed</p>' * 100
    url = server.route('/z', 200, gzip.compress(body), {'Content-Encoding': 'gzip'})
    assert make_fetcher().fetch(url).body == body


def test_a_redirect_chain_is_followed_to_its_end(server):
    server.route('/r1', 301, b'', {'Location': '/r2'})
    server.route('/r2', 302, b'', {'Location': server.url('/r3')})
    server.route('/r3', 307, b'', {'Location': 'final'})
    server.route('/final', 200, b'done')
    result = make_fetcher().fetch(server.url('/r1'))
    assert (result.body, result.url) == (b'done', server.url('/final'))


def test_redirect_loops_and_long_chains_stop_at_the_limit(server):
    server.route('/loop', 302, b'', {'Location': '/loop'})
    for i in range(5):
        server.route(f'/c{i}', 301, b'', {'Location': f'/c{i + 1}'})
    server.route('/c5', 200, b'too far')
    fetcher = make_fetcher(max_redirects=3)
    assert reason_of(fetcher, server.url('/loop')) == 'too_many_redirects'
    assert server.hits['/loop'] == 4
    assert reason_of(fetcher, server.url('/c0')) == 'too_many_redirects'
    assert server.hits['/c5'] == 0


@pytest.mark.parametrize('location, reason', [
    ('file:///etc/passwd', 'unsupported_scheme'),
    ('ftp://127.0.0.1/x', 'unsupported_scheme'),
    ('javascript:alert(1)', 'unsupported_scheme'),
    ('http://169.254.169.254/latest/meta-data/', 'refused_address'),
    ('http://10.0.0.1/admin', 'refused_address'),
    ('http://metadata.google.internal/computeMetadata/v1/', 'refused_address'),
])
def test_every_redirect_hop_is_checked_again(server, location, reason):
    url = server.route('/hop', 302, b'', {'Location': location})
    assert reason_of(make_fetcher(), url) == reason


def test_304_on_a_conditional_get(server):
    def conditional(handler):
        if handler.headers.get('If-None-Match') == '"v1"':
            handler.send_answer(304, b'', {'ETag': '"v1"', 'Content-Length': '0'})
        else:
            handler.send_answer(200, b'fresh', {'ETag': '"v1"'})

    url = server.route_fn('/feed', conditional)
    fetcher = make_fetcher()
    first = fetcher.fetch(url)
    assert (first.status, first.body, first.headers['etag']) == (200, b'fresh', '"v1"')
    second = fetcher.fetch(url, etag='"v1"', last_modified='Sat, 01 Jan 2000 00:00:00 GMT')
    assert second.not_modified and second.body == b''
    assert server.requests[-1][1]['If-Modified-Since'] == 'Sat, 01 Jan 2000 00:00:00 GMT'


@pytest.mark.parametrize('status', [404, 410, 500, 502])
def test_error_statuses_are_typed(server, status):
    url = server.route('/e', status, b'nope')
    assert reason_of(make_fetcher(), url) == f'http_{status}'


def test_a_server_that_never_answers_times_out_within_the_bound():
    with silent_server() as base:
        started = time.monotonic()
        assert reason_of(make_fetcher(), base + '/x', check_robots=False) == 'timeout'
        assert time.monotonic() - started < 3.0


def test_a_slowloris_body_is_cut_at_the_total_deadline(server):
    def trickle(handler):
        handler.send_response(200)
        handler.send_header('Content-Length', '100000')
        handler.end_headers()
        while not server.stopping.is_set():
            try:
                handler.wfile.write(b'x')
                handler.wfile.flush()
            except OSError:
                return
            server.stopping.wait(0.1)  # one byte every 0.1 s: never a 1 s read timeout

    url = server.route_fn('/slow', trickle)
    started = time.monotonic()
    assert reason_of(make_fetcher(total_timeout_seconds=1.5), url) == 'timeout'
    assert time.monotonic() - started < 3.0


def test_slow_headers_are_cut_at_the_total_deadline(server):
    def trickle_headers(handler):
        handler.wfile.write(b'HTTP/1.1 200 OK\r\n')
        for i in range(1000):
            if server.stopping.wait(0.1):
                return
            try:
                handler.wfile.write(f'X-Slow-{i}: y\r\n'.encode())
                handler.wfile.flush()
            except OSError:
                return

    url = server.route_fn('/slow-headers', trickle_headers)
    started = time.monotonic()
    assert reason_of(make_fetcher(total_timeout_seconds=1.5), url) == 'timeout'
    assert time.monotonic() - started < 3.0


def test_an_oversize_body_is_refused(server):
    url = server.route('/big', 200, b'x' * 2_000_001)
    assert reason_of(make_fetcher(max_body_bytes=2_000_000), url) == 'too_large'


def test_an_endless_chunked_body_stops_at_the_cap(server):
    def endless(handler):
        handler.send_response(200)
        handler.send_header('Transfer-Encoding', 'chunked')
        handler.end_headers()
        chunk = b'y' * 65536
        while not server.stopping.is_set():
            try:
                handler.wfile.write(b'%x\r\n%s\r\n' % (len(chunk), chunk))
            except OSError:
                return

    url = server.route_fn('/endless', endless)
    started = time.monotonic()
    assert reason_of(make_fetcher(max_body_bytes=3_000_000), url) == 'too_large'
    assert time.monotonic() - started < 3.0


def test_a_gzip_bomb_is_stopped_at_the_decompressed_cap_without_inflating_it(server):
    # 64 gzip members of 16 MiB of zeros each (a valid gzip stream): 1 GiB from about 1 MB.
    bomb = gzip.compress(b'\0' * (16 << 20), compresslevel=9) * 64
    assert len(bomb) < 2_000_000
    url = server.route('/bomb', 200, bomb, {'Content-Encoding': 'gzip'})
    tracemalloc.start()
    try:
        started = time.monotonic()
        assert reason_of(make_fetcher(max_body_bytes=5_000_000), url) == 'too_large'
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0
    assert peak < 64 * 1024 * 1024


def test_garbage_instead_of_http_is_a_typed_failure(server):
    def garbage(handler):
        handler.wfile.write(b'\x00\xffTHIS IS NOT HTTP\r\n\r\n')

    url = server.route_fn('/garbage', garbage)
    assert reason_of(make_fetcher(), url) in ('bad_response', 'connection_failed')


@pytest.mark.parametrize('form', [
    '127.0.0.1', '2130706433', '0x7f.1', '0x7f000001', '017700000001', '127.1', '[::ffff:127.0.0.1]',
    '[::1]', 'localhost', '0.0.0.0', '[::]',
])
def test_loopback_in_any_form_is_refused_unless_allowed(server, form):
    url = server.route('/private', 200, b'secret')
    fetcher = make_fetcher(allow_hosts=())
    assert reason_of(fetcher, url.replace('127.0.0.1', form)) == 'refused_address'
    assert server.hits['/private'] == 0


@pytest.mark.parametrize('url', [
    'http://169.254.169.254/latest/meta-data/', 'http://[fe80::1]/', 'http://10.0.0.1/',
    'http://192.168.1.1/', 'http://172.16.0.1/', 'http://100.64.0.1/', 'http://224.0.0.1/',
    'http://[fd00:ec2::254]/', 'http://[64:ff9b::a9fe:a9fe]/', 'http://metadata.google.internal/',
])
def test_internal_and_metadata_addresses_are_refused_before_connecting(url):
    assert reason_of(make_fetcher(allow_hosts=()), url) == 'refused_address'


def test_a_public_name_resolving_to_an_internal_address_is_refused():
    fetcher = Fetcher(FetchConfig(), clock=FakeClock(),
                      resolver=lambda host, port: ['93.184.215.14', '169.254.169.254'])
    assert reason_of(fetcher, 'http://news.example/feed') == 'refused_address'


def test_an_allowed_host_is_reached_in_its_odd_forms_too(server):
    url = server.route('/ok', 200, b'fine')
    assert make_fetcher().fetch(url.replace('127.0.0.1', '2130706433')).body == b'fine'


@pytest.mark.parametrize('url, reason', [
    ('file:///etc/passwd', 'unsupported_scheme'), ('ftp://example.com/', 'unsupported_scheme'),
    ('javascript:alert(1)', 'unsupported_scheme'), ('http://', 'invalid_url'),
    ('http://[::1', 'invalid_url'), ('http://127.0.0.1:99999/', 'invalid_url'),
])
def test_urls_that_are_not_http_are_refused(url, reason):
    assert reason_of(make_fetcher(), url) == reason


def test_robots_txt_is_respected_and_fetched_once_per_host(server):
    server.route('/robots.txt', 200, b'User-agent: newswire\nDisallow: /private\n')
    server.route('/private/page', 200, b'hidden')
    server.route('/public/page', 200, b'shown')
    fetcher = make_fetcher()
    assert reason_of(fetcher, server.url('/private/page')) == 'robots_disallowed'
    assert fetcher.fetch(server.url('/public/page')).body == b'shown'
    assert server.hits['/private/page'] == 0 and server.hits['/robots.txt'] == 1


def test_robots_txt_answering_5xx_means_disallow_all(server):
    server.route('/robots.txt', 503, b'down')
    server.route('/page', 200, b'x')
    assert reason_of(make_fetcher(max_retries=0), server.url('/page')) == 'robots_disallowed'
    assert server.hits['/page'] == 0


def test_requests_to_one_host_are_spaced_by_the_politeness_interval(server):
    server.route('/p', 200, b'x')
    clock = FakeClock()
    fetcher = make_fetcher(clock=clock, min_host_interval_seconds=2.5)
    for _ in range(3):
        fetcher.fetch(server.url('/p'))
    # robots.txt, then three pages: three waits of the full interval (the fake clock never moves
    # by itself), and no real time spent waiting.
    assert clock.sleeps == [2.5, 2.5, 2.5]
    fetcher.fetch(server.url('/p', host='localhost'), check_robots=False)  # another host name
    assert clock.sleeps == [2.5, 2.5, 2.5]


def test_retry_after_is_honoured_once_within_its_bound(server):
    answers = iter([(503, {'Retry-After': '7'}), (200, {})])
    lock = threading.Lock()

    def busy_then_ok(handler):
        with lock:
            status, headers = next(answers)
        handler.send_answer(status, b'body' if status == 200 else b'', headers)

    url = server.route_fn('/busy', busy_then_ok)
    clock = FakeClock()
    assert make_fetcher(clock=clock, total_timeout_seconds=10).fetch(url).body == b'body'
    assert clock.sleeps == [7.0]


def test_retry_after_beyond_the_bound_fails_without_waiting(server):
    url = server.route('/rate', 429, b'', {'Retry-After': '3600'})
    clock = FakeClock()
    assert reason_of(make_fetcher(clock=clock, max_retry_after_seconds=30), url) == 'http_429'
    assert clock.sleeps == [] and server.hits['/rate'] == 1


# -- one deadline per URL ------------------------------------------------------------------------

class SkippingClock(Clock):
    """Real time, except that sleeping is skipped (and still counted as time passed)."""

    def __init__(self):
        self.skipped = 0.0
        self.sleeps = []

    def now(self):
        return time.monotonic() + self.skipped

    def sleep(self, seconds):
        if seconds > 0:
            self.sleeps.append(seconds)
            self.skipped += seconds


def pausing(server, seconds, status, body=b'', headers=None):
    """A handler that answers after `seconds` (a slow server, not test synchronisation)."""
    def answer(handler):
        if not server.stopping.wait(seconds):
            handler.send_answer(status, body, headers)
    return answer


def test_slow_redirect_hops_share_one_deadline(server):
    # Six requests of 0.3 s each: 1.8 s, each well inside a 1 s budget of its own.
    for i in range(5):
        server.route_fn(f'/hop{i}', pausing(server, 0.3, 302, headers={'Location': f'/hop{i + 1}'}))
    server.route_fn('/hop5', pausing(server, 0.3, 200, b'arrived'))
    fetcher = make_fetcher(clock=SkippingClock(), total_timeout_seconds=1.0, max_redirects=5)
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(server.url('/hop0'))
    assert caught.value.reason == 'timeout' and 'deadline for this URL' in caught.value.detail
    assert time.monotonic() - started < 1.5
    assert server.hits['/hop0'] == 1 and server.hits['/hop5'] == 0


def test_a_slow_robots_txt_spends_the_pages_deadline(server):
    server.route_fn('/robots.txt', pausing(server, 0.6, 404, b'none'))
    url = server.route_fn('/after-robots', pausing(server, 0.6, 200, b'page'))
    fetcher = make_fetcher(clock=SkippingClock(), total_timeout_seconds=1.0)
    assert reason_of(fetcher, url) == 'timeout'
    assert server.hits['/robots.txt'] == 1 and server.hits['/after-robots'] == 1


def test_a_retry_after_past_the_urls_deadline_fails_without_waiting(server):
    url = server.route('/later', 503, b'', {'Retry-After': '12'})
    clock = FakeClock()
    fetcher = make_fetcher(clock=clock, total_timeout_seconds=10, max_retry_after_seconds=30)
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    assert caught.value.reason == 'http_503' and "past this URL's deadline" in caught.value.detail
    assert clock.sleeps == [] and server.hits['/later'] == 1


def test_retry_after_waits_for_robots_txt_and_the_page_share_the_deadline(server):
    def busy_once(path):
        answers = iter([(503, {'Retry-After': '6'})])

        def answer(handler):
            status, headers = next(answers, (404 if path == 'robots' else 200, {}))
            handler.send_answer(status, b'ok' if status == 200 else b'', headers)
        return answer

    server.route_fn('/robots.txt', busy_once('robots'))
    url = server.route_fn('/busy-page', busy_once('page'))
    clock = FakeClock()
    fetcher = make_fetcher(clock=clock, total_timeout_seconds=10, max_retry_after_seconds=30)
    # robots.txt: 503, wait 6 s, 404 (no rules). The page: 503 with Retry-After 6, 4 s left.
    assert reason_of(fetcher, url) == 'http_503'
    assert clock.sleeps == [6.0] and server.hits['/robots.txt'] == 2
    assert server.hits['/busy-page'] == 1


def test_politeness_waits_do_not_spend_the_deadline(server):
    url = server.route('/polite', 200, b'x')
    clock = FakeClock()
    fetcher = make_fetcher(clock=clock, total_timeout_seconds=2, min_host_interval_seconds=5)
    # robots.txt, then the page 5 s later (on the fake clock): more than the URL's 2 s, queued.
    assert fetcher.fetch(url).body == b'x'
    assert clock.sleeps == [5.0]


# -- the read timeout ----------------------------------------------------------------------------

def test_the_configured_read_timeout_is_in_force_not_the_connect_timeout(server):
    def slow_head_and_body(handler):
        if server.stopping.wait(0.6):  # before the status line
            return
        handler.send_response(200)
        handler.send_header('Content-Length', '10')
        handler.end_headers()
        handler.wfile.write(b'first')
        handler.wfile.flush()
        if not server.stopping.wait(0.6):  # between two parts of the body
            handler.wfile.write(b'-last')

    url = server.route_fn('/pauses', slow_head_and_body)
    fetcher = make_fetcher(connect_timeout_seconds=0.2, read_timeout_seconds=1.0,
                           total_timeout_seconds=3.0)
    assert fetcher.fetch(url, check_robots=False).body == b'first-last'


def test_a_pause_longer_than_the_read_timeout_times_out(server):
    url = server.route_fn('/pause', pausing(server, 0.6, 200, b'late'))
    # The connect timeout (1 s) and the deadline (3 s) would both wait for the answer: only the
    # configured read timeout (0.3 s) ends it.
    fetcher = make_fetcher(connect_timeout_seconds=1.0, read_timeout_seconds=0.3,
                           total_timeout_seconds=3.0)
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url, check_robots=False)
    assert caught.value.reason == 'timeout' and caught.value.detail.startswith('read')


def test_parse_retry_after_reads_seconds_and_dates():
    assert parse_retry_after('120', 0) == 120.0
    assert parse_retry_after('Thu, 01 Jan 1970 00:01:40 GMT', 40.0) == 60.0
    assert parse_retry_after('soon', 0) is None and parse_retry_after(None, 0) is None


def test_public_addresses_are_the_only_public_ones():
    assert is_public_address('93.184.215.14') and is_public_address('2606:4700::1111')
    for address in ('127.0.0.1', '10.0.0.1', '169.254.169.254', '::1', '::ffff:127.0.0.1',
                    '::ffff:10.0.0.1', '2002:7f00:1::', 'fe80::1%eth0', '0.0.0.0', '255.255.255.255',
                    '239.1.1.1', 'ff02::1'):
        assert not is_public_address(address), address
