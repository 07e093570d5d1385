"""A real HTTP server on 127.0.0.1 (ephemeral port, own thread) for fetcher and feed tests.

Routes map a path (or, ending in '/', every path below it) to either a canned response or a function that writes the response itself (for
slow, endless or malformed answers). Every request is counted per path, so tests can check that a
canary was never hit. `/robots.txt` answers 404 (no rules) unless a test routes it.
"""

from __future__ import annotations

import collections
import contextlib
import http.server
import socket
import threading
from typing import Callable, Optional, Union

Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):  # noqa: N802 (http.server's naming)
        server: LocalHttpServer = self.server.owner
        path = self.path
        with server.lock:
            server.hits[path] += 1
            server.requests.append((path, dict(self.headers.items())))
        route = server.routes.get(path) or server.routes.get(path.split('?', 1)[0])
        if route is None:  # a route ending in '/' also answers every path below it
            prefixes = [p for p in server.routes if p.endswith('/') and path.startswith(p)]
            route = server.routes[max(prefixes, key=len)] if prefixes else None
        if route is None:
            self.send_answer(404, b'not found', {'Content-Type': 'text/plain'})
        elif callable(route):
            route(self)
        else:
            status, body, headers = route
            self.send_answer(status, body, headers)

    def send_answer(self, status: int, body: bytes, headers: Optional[dict] = None):
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault('Content-Length', str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the client hung up (the fetcher refusing a body is expected in these tests)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client hanging up mid-answer is what several tests provoke


class LocalHttpServer:
    """`with LocalHttpServer() as server: server.route('/a', 200, b'...'); server.url('/a')`."""

    def __init__(self):
        self.routes: dict[str, Union[tuple, Handler]] = {}
        self.hits: collections.Counter = collections.Counter()
        self.requests: list = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server(('127.0.0.1', 0), _RequestHandler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.05}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str, host: str = '127.0.0.1') -> str:
        return f'http://{host}:{self.port}{path}'

    def route(self, path: str, status: int = 200, body: bytes = b'',
              headers: Optional[dict] = None) -> str:
        self.routes[path] = (status, body, headers or {})
        return self.url(path)

    def route_fn(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)


@contextlib.contextmanager
def silent_server():
    """A port that accepts connections (the kernel backlog) and never answers a byte."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(('127.0.0.1', 0))
    listener.listen(16)
    try:
        yield f'http://127.0.0.1:{listener.getsockname()[1]}'
    finally:
        listener.close()
