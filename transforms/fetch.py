"""The one HTTP fetcher of newswire: feeds, article pages and robots.txt all come through here.

It wraps urllib3 (already a hard dependency of trafilatura) at its lowest level, one connection per
request, because the checks that make fetching the open web safe have to sit between name resolution
and the connection, and between every redirect hop:

- http and https only; a redirect limit, and every hop checked again like the first URL;
- an SSRF guard on the address actually connected to: the host is resolved here, every address it
  resolves to must be public (not loopback, private, link-local such as 169.254.169.254, shared,
  reserved, unspecified or multicast, also when wrapped in an IPv4-mapped IPv6 address), and the
  connection is made to that checked address (the Host header and TLS name stay the URL's), so DNS
  cannot answer differently between the check and the connect. Odd forms (`2130706433`, `0x7f.1`,
  `127.1`, `[::ffff:127.0.0.1]`) are normalised by the resolver itself before the check. Hosts the
  operator names (`--allow-host`) are exempt, by name or by address;
- connect and read timeouts per socket operation, and one total deadline per URL covering every
  redirect hop, retry, robots.txt fetch and Retry-After wait (time queued for a host's politeness
  slot is not charged: it measures the other URLs of that host, not this one), enforced on the
  socket by a watchdog that shuts it down (a server trickling one byte a second never trips a read
  timeout);
- a byte cap counted on the decompressed body (a gzip bomb stops at the cap, never in memory);
- robots.txt (cached per scheme/host/port), a politeness interval per host, `Retry-After` honoured
  on 429 and 503 up to a bound, and a User-Agent that names the project.

Failures are typed, each with the dead-letter reason it becomes::

    FetchError(reason, detail, url)
     ├── InvalidUrl             invalid_url
     ├── UnsupportedScheme      unsupported_scheme     (file:, ftp:, javascript:, ...)
     ├── RefusedAddress         refused_address        (SSRF guard)
     ├── DnsFailure             dns_failure
     ├── ConnectionFailed       connection_failed
     ├── TlsFailure             tls_error
     ├── FetchTimeout           timeout                (connect, read or the URL's deadline)
     ├── TooLarge               too_large              (decompressed body over the cap)
     ├── TooManyRedirects       too_many_redirects
     ├── RobotsDisallowed       robots_disallowed
     ├── BadResponse            bad_response           (malformed HTTP, undecodable encoding)
     └── HttpStatusError        http_<status>          (http_404, http_500, http_429, ...)

Time is injected (`Clock`): tests pass a clock whose `sleep` only advances its `now`, so politeness
and Retry-After are exercised without real waiting. A URL's deadline is kept on that clock; the
watchdog turns what is left of it into real seconds for the request in flight.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.robotparser
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

ALLOWED_SCHEMES = ('http', 'https')
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
READ_CHUNK_BYTES = 64 * 1024
# Hosts whose robots.txt and politeness state are kept; the oldest are forgotten beyond this.
MAX_TRACKED_HOSTS = 10_000


class FetchError(Exception):
    """A fetch that did not give a usable body; `reason` is the dead-letter reason."""

    reason = 'fetch_failed'

    def __init__(self, detail: str, url: str = '', reason: Optional[str] = None):
        super().__init__(detail)
        self.detail = detail
        self.url = url
        if reason is not None:
            self.reason = reason

    def __str__(self):
        return f'{self.reason}: {self.detail} ({self.url})' if self.url else \
            f'{self.reason}: {self.detail}'


class InvalidUrl(FetchError):
    reason = 'invalid_url'


class UnsupportedScheme(FetchError):
    reason = 'unsupported_scheme'


class RefusedAddress(FetchError):
    reason = 'refused_address'


class DnsFailure(FetchError):
    reason = 'dns_failure'


class ConnectionFailed(FetchError):
    reason = 'connection_failed'


class TlsFailure(FetchError):
    reason = 'tls_error'


class FetchTimeout(FetchError):
    reason = 'timeout'


class TooLarge(FetchError):
    reason = 'too_large'


class TooManyRedirects(FetchError):
    reason = 'too_many_redirects'


class RobotsDisallowed(FetchError):
    reason = 'robots_disallowed'


class BadResponse(FetchError):
    reason = 'bad_response'


class HttpStatusError(FetchError):
    """A final status that is neither 2xx nor 304 (after redirects and Retry-After)."""

    def __init__(self, status: int, url: str = '', detail: str = ''):
        super().__init__(detail or f'the server answered HTTP {status}', url, f'http_{status}')
        self.status = status


@dataclass(frozen=True)
class FetchConfig:
    """Limits of the fetcher; defaults in pipeline/job/settings.yaml under `fetch:`."""

    user_agent: str = 'newswire/0.1 (news-wire monitoring pipeline)'
    robots_user_agent: str = 'newswire'
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 10.0
    total_timeout_seconds: float = 30.0
    max_body_bytes: int = 10_000_000
    max_redirects: int = 5
    min_host_interval_seconds: float = 1.0
    max_retry_after_seconds: float = 30.0
    max_retries: int = 1
    robots_cache_seconds: float = 3600.0
    robots_max_bytes: int = 512_000
    refused_hostnames: tuple[str, ...] = ()
    # Hosts (names or addresses) exempt from the SSRF guard: `--allow-host`, never a default.
    allow_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class FetchResult:
    """A 2xx body (decompressed) or a 304; `url` is the final URL after redirects."""

    url: str
    status: int
    body: bytes = b''
    headers: dict = field(default_factory=dict)  # lower-case names

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class Clock:
    """Monotonic time and sleeping; tests pass one whose `sleep` only advances `now`."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


Resolver = Callable[[str, int], list]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (getaddrinfo, which also normalises 2130706433, 0x7f.1)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def _embedded_ipv4(ip: ipaddress._BaseAddress):
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in ipaddress.ip_network('64:ff9b::/96'):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; False for anything internal or special."""
    ip = ipaddress.ip_address(address.split('%', 1)[0])
    embedded = _embedded_ipv4(ip)
    if embedded is not None and not is_public_address(str(embedded)):
        return False
    return ip.is_global and not ip.is_multicast


def _normalise_host(host: str) -> str:
    host = host.strip().strip('[]').lower().rstrip('.')
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str          # as named in the URL (Host header, TLS name)
    port: int
    path: str          # path + query, as sent
    address: str       # the checked address connected to


def _authority(target: _Target) -> str:
    """host[:port] as the Host header and robots.txt URL name it (the port only when not default)."""
    host = target.host if ':' not in target.host else f'[{target.host}]'
    if target.port != (443 if target.scheme == 'https' else 80):
        host += f':{target.port}'
    return host


class HostPacer:
    """At least `interval_seconds` between two requests to the same host (the clock's time)."""

    def __init__(self, interval_seconds: float, clock: Clock):
        self._interval = interval_seconds
        self._clock = clock
        self._last: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, host: str) -> float:
        """Waits for `host`'s next slot; returns the seconds waited."""
        # The slot is reserved under the lock and slept for outside it, so threads waiting for one
        # host never hold up requests to another.
        with self._lock:
            now = self._clock.now()
            last = self._last.get(host)
            slot = now if last is None else max(now, last + self._interval)
            self._last[host] = slot
            self._last.move_to_end(host)
            while len(self._last) > MAX_TRACKED_HOSTS:
                self._last.popitem(last=False)
        self._clock.sleep(slot - now)
        return max(slot - now, 0.0)


class _Deadline:
    """One URL's time budget on the fetcher's clock, from the first request to the last byte.

    Example (30 s): robots.txt takes 2 s, the page answers 503 with Retry-After 20 after 1 s, the
    wait uses 20 s: 7 s are left for the retry and its redirects. A Retry-After of 28 s instead
    would have failed at once (27 s were left). Politeness waits push the deadline back by what
    they waited.
    """

    def __init__(self, clock: Clock, seconds: float):
        self._clock = clock
        self.seconds = seconds
        self._at = clock.now() + seconds

    def remaining(self) -> float:
        return self._at - self._clock.now()

    def extend(self, seconds: float) -> None:
        self._at += max(seconds, 0.0)

    def exceeded(self, url: str) -> 'FetchTimeout':
        return FetchTimeout(f'over the {self.seconds:g} s deadline for this URL (redirects, '
                            f'retries, robots.txt and Retry-After waits included)', url)


def parse_retry_after(value: Optional[str], now_epoch: float) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now_epoch)


class Fetcher:
    """GET with every safety check of this module; one instance per worker (built in `setup()`).

    Thread-safe for the politeness and robots caches; each request uses its own connection.
    """

    def __init__(self, config: FetchConfig, clock: Optional[Clock] = None,
                 resolver: Resolver = system_resolver, wall_clock: Callable[[], float] = time.time):
        self._config = config
        self._clock = clock or Clock()
        self._resolver = resolver
        self._wall_clock = wall_clock
        self._pacer = HostPacer(config.min_host_interval_seconds, self._clock)
        self._allowed = frozenset(_normalise_host(h) for h in config.allow_hosts)
        self._refused_names = frozenset(_normalise_host(h) for h in config.refused_hostnames)
        self._robots: OrderedDict[tuple, tuple[float, urllib.robotparser.RobotFileParser]] = \
            OrderedDict()
        self._robots_lock = threading.Lock()
        self._ssl_context = ssl.create_default_context()

    @property
    def config(self) -> FetchConfig:
        return self._config

    def fetch(self, url: str, *, etag: Optional[str] = None, last_modified: Optional[str] = None,
              accept: str = '*/*', max_body_bytes: Optional[int] = None,
              check_robots: bool = True) -> FetchResult:
        """GET `url`, following redirects; a 2xx body or a 304 (when etag/last_modified match).

        Raises a `FetchError` subclass for everything else; `FetchTimeout` once the URL has used
        `total_timeout_seconds`, whatever it was spent on (redirects, retries, robots.txt).
        """
        deadline = _Deadline(self._clock, self._config.total_timeout_seconds)
        return self._fetch(url, deadline, etag=etag, last_modified=last_modified, accept=accept,
                           max_body_bytes=max_body_bytes, check_robots=check_robots)

    def _fetch(self, url: str, deadline: _Deadline, *, etag: Optional[str] = None,
               last_modified: Optional[str] = None, accept: str = '*/*',
               max_body_bytes: Optional[int] = None, check_robots: bool = True) -> FetchResult:
        headers = {'User-Agent': self._config.user_agent, 'Accept': accept,
                   'Accept-Encoding': 'gzip, deflate'}
        if etag:
            headers['If-None-Match'] = etag
        if last_modified:
            headers['If-Modified-Since'] = last_modified
        cap = self._config.max_body_bytes if max_body_bytes is None else max_body_bytes
        current = url
        for _hop in range(self._config.max_redirects + 1):
            if deadline.remaining() <= 0:
                raise deadline.exceeded(current)
            target = self.check_url(current)
            if check_robots:
                self._check_robots(target, deadline)
            status, response_headers, body = self._request_with_retries(target, headers, cap,
                                                                        deadline)
            if status in REDIRECT_STATUSES:
                location = response_headers.get('location')
                if not location:
                    raise HttpStatusError(status, current, f'HTTP {status} without a Location')
                current = urljoin(current, location.strip())
                continue
            if status == 304:
                return FetchResult(current, 304, b'', response_headers)
            if not 200 <= status < 300:
                raise HttpStatusError(status, current)
            return FetchResult(current, status, body, response_headers)
        raise TooManyRedirects(f'more than {self._config.max_redirects} redirects', url)

    def check_url(self, url: str) -> _Target:
        """The URL's scheme, host and checked address, or InvalidUrl/UnsupportedScheme/
        RefusedAddress/DnsFailure."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as error:
            raise InvalidUrl(str(error), url) from error
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise UnsupportedScheme(f'expected http or https, got {scheme or "no scheme"!r}', url)
        host = parts.hostname
        if not host:
            raise InvalidUrl('no host in the URL', url)
        port = port or (443 if scheme == 'https' else 80)
        name = _normalise_host(host)
        allowed = name in self._allowed
        if name in self._refused_names and not allowed:
            raise RefusedAddress(f'host {host!r} is on the refused list', url)
        try:
            addresses = self._resolver(host, port)
        except (socket.gaierror, UnicodeError, OSError) as error:
            raise DnsFailure(f'cannot resolve {host!r}: {error}', url) from error
        if not addresses:
            raise DnsFailure(f'{host!r} resolved to no address', url)
        if not allowed:
            for address in addresses:
                if _normalise_host(address) in self._allowed:
                    continue
                if not is_public_address(address):
                    raise RefusedAddress(
                        f'{host!r} resolves to {address}, which is not a public address '
                        f'(allow it with --allow-host)', url)
        path = parts.path or '/'
        if parts.query:
            path += '?' + parts.query
        return _Target(url, scheme, host, port, path, addresses[0].split('%', 1)[0])

    # -- one request ------------------------------------------------------------------------------

    def _request_with_retries(self, target: _Target, headers: dict, cap: int,
                              deadline: _Deadline):
        for attempt in range(self._config.max_retries + 1):
            deadline.extend(self._pacer.wait(target.host.lower()))
            status, response_headers, body = self._request(target, headers, cap, deadline)
            if status not in RETRY_AFTER_STATUSES:
                return status, response_headers, body
            delay = parse_retry_after(response_headers.get('retry-after'), self._wall_clock())
            if (attempt == self._config.max_retries or delay is None
                    or delay > self._config.max_retry_after_seconds):
                raise HttpStatusError(
                    status, target.url,
                    f'HTTP {status}, Retry-After {response_headers.get("retry-after")!r} '
                    f'(waited up to {self._config.max_retry_after_seconds:g} s, '
                    f'{self._config.max_retries} retries)')
            if delay >= deadline.remaining():
                # Waiting could only end in a timeout: the server's answer is the failure, now.
                raise HttpStatusError(
                    status, target.url,
                    f'HTTP {status}, Retry-After {delay:g} s is past this URL\'s deadline '
                    f'({max(deadline.remaining(), 0.0):.3g} s of {deadline.seconds:g} s left)')
            self._clock.sleep(delay)
        raise AssertionError('unreachable')

    def _request(self, target: _Target, headers: dict, cap: int, deadline: _Deadline):
        """(status, lower-cased headers, body): the body is read only for a 2xx answer."""
        config = self._config
        remaining = deadline.remaining()
        if remaining <= 0:
            raise deadline.exceeded(target.url)
        timeout = min(config.connect_timeout_seconds, remaining)
        if target.scheme == 'https':
            conn = HTTPSConnection(target.address, target.port, timeout=timeout,
                                   server_hostname=target.host, assert_hostname=target.host,
                                   ssl_context=self._ssl_context)
        else:
            conn = HTTPConnection(target.address, target.port, timeout=timeout)
        watchdog = _Watchdog(conn)
        try:
            try:
                conn.connect()
            except (urllib3.exceptions.ConnectTimeoutError, TimeoutError) as error:
                raise FetchTimeout(f'connect: {error}', target.url) from error
            except urllib3.exceptions.SSLError as error:
                raise TlsFailure(str(error), target.url) from error
            except (urllib3.exceptions.NewConnectionError, OSError) as error:
                raise ConnectionFailed(str(error), target.url) from error
            # Per read from here on. urllib3's HTTPConnection sets the socket's timeout again to
            # `conn.timeout` in request() and getresponse() (its pool assigns the read timeout
            # there first; urllib3 PR #2792), so the read timeout is set on the connection, or
            # every read would run on the connect timeout.
            conn.timeout = config.read_timeout_seconds
            conn.sock.settimeout(config.read_timeout_seconds)
            watchdog.start(deadline.remaining())
            conn.request('GET', target.path, headers={'Host': _authority(target), **headers},
                         preload_content=False, decode_content=True)
            response = conn.getresponse()
            status = response.status
            response_headers = {k.lower(): v for k, v in response.headers.items()}
            body = b''
            if 200 <= status < 300:
                body = self._read_body(response, response_headers, cap, target.url)
            if watchdog.fired:
                raise deadline.exceeded(target.url)
            return status, response_headers, body
        except FetchError:
            if watchdog.fired:
                raise deadline.exceeded(target.url) from None
            raise
        except (TimeoutError, socket.timeout, urllib3.exceptions.TimeoutError) as error:
            raise FetchTimeout(f'read: {error}', target.url) from error
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as error:
            if watchdog.fired:
                raise deadline.exceeded(target.url) from error
            if isinstance(error, urllib3.exceptions.DecodeError):
                raise BadResponse(f'undecodable content encoding: {error}', target.url) from error
            if isinstance(error, (ConnectionError, urllib3.exceptions.ProtocolError)):
                raise ConnectionFailed(f'{type(error).__name__}: {error}', target.url) from error
            raise BadResponse(f'{type(error).__name__}: {error}', target.url) from error
        finally:
            watchdog.cancel()
            conn.close()

    @staticmethod
    def _read_body(response, headers: dict, cap: int, url: str) -> bytes:
        declared = headers.get('content-length', '')
        if declared.isdigit() and 'content-encoding' not in headers and int(declared) > cap:
            raise TooLarge(f'Content-Length {declared} is over the {cap}-byte cap', url)
        chunks, total = [], 0
        while True:
            # read1 decompresses at most this much per call (urllib3 >= 2.6 bounds the decoder), so
            # a gzip bomb is counted, and stopped, chunk by chunk.
            chunk = response.read1(READ_CHUNK_BYTES)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raise TooLarge(f'body over the {cap}-byte cap (counted decompressed)', url)
            chunks.append(chunk)
        return b''.join(chunks)

    # -- robots.txt -------------------------------------------------------------------------------

    def _check_robots(self, target: _Target, deadline: _Deadline) -> None:
        parser = self._robots_for(target, deadline)
        if not parser.can_fetch(self._config.robots_user_agent, target.url):
            raise RobotsDisallowed(
                f'robots.txt of {target.host} disallows {target.path} for '
                f'{self._config.robots_user_agent!r}', target.url)

    def _robots_for(self, target: _Target,
                    deadline: _Deadline) -> urllib.robotparser.RobotFileParser:
        key = (target.scheme, target.host.lower(), target.port)
        with self._robots_lock:
            cached = self._robots.get(key)
            if cached is not None and self._clock.now() - cached[0] < \
                    self._config.robots_cache_seconds:
                return cached[1]
        robots_url = f'{target.scheme}://{_authority(target)}/robots.txt'
        parser = urllib.robotparser.RobotFileParser(robots_url)
        try:
            # On the page's deadline: a slow robots.txt is time the page's URL spends.
            result = self._fetch(robots_url, deadline, accept='text/plain', check_robots=False,
                                 max_body_bytes=self._config.robots_max_bytes)
            parser.parse(result.body.decode('utf-8', 'replace').splitlines())
        except HttpStatusError as error:
            # RFC 9309: 4xx means no rules (allow all); 5xx means assume a complete disallow.
            if 400 <= error.status < 500:
                parser.allow_all = True
            else:
                parser.disallow_all = True
        except TooLarge:
            parser.allow_all = True  # RFC 9309 asks crawlers to read at least 500 KiB; rules past
            # our cap are ignored rather than refusing the whole host.
        with self._robots_lock:
            self._robots[key] = (self._clock.now(), parser)
            self._robots.move_to_end(key)
            while len(self._robots) > MAX_TRACKED_HOSTS:
                self._robots.popitem(last=False)
        return parser


class _Watchdog:
    """Shuts a connection's socket down at the total deadline, from a timer thread.

    Per-operation timeouts cannot bound a server that trickles bytes; shutting the socket down makes
    the blocked read return, and `fired` tells the reader the body it has is not the whole body.
    """

    def __init__(self, conn):
        self._conn = conn
        self._timer: Optional[threading.Timer] = None
        self.fired = False

    def start(self, seconds: float) -> None:
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = getattr(self._conn, 'sock', None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
