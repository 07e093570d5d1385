"""Real feeds and real article pages served from 127.0.0.1, for feed and pipeline tests.

The real feeds of ../shared/eval/feeds-realworld-rss-parser are served with every absolute http(s)
URL in them (except namespace declarations) pointed at the local server: `https://host/path`
becomes `http://127.0.0.1:PORT/web/https/host/path`, so entry links lead to the local server and
nothing leaves the machine. `localize` applies the same mapping to the manifest's expected values.
Every `/web/...` path answers with one of the Zyte benchmark's real article pages (gzip-compressed,
served with Content-Encoding: gzip), chosen by a hash of the path.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from tests.conftest import SHARED_EVAL
from tests.local_http import LocalHttpServer

REALWORLD = SHARED_EVAL / 'feeds-realworld-rss-parser'
ZYTE_HTML = SHARED_EVAL / 'article-extraction-zyte-benchmark' / 'html'
ILLFORMED = SHARED_EVAL / 'feeds-feedparser-testsuite' / 'illformed'

_ABSOLUTE_URL = re.compile(rb'(xmlns(?::[\w.-]+)?\s*=\s*["\'])?(https?)://')


def manifest() -> list[dict]:
    lines = (REALWORLD / 'manifest.jsonl').read_text(encoding='utf-8').splitlines()
    return [json.loads(line) for line in lines if line.strip()]


class FeedServer:
    """A LocalHttpServer with the real feeds at /feeds/<name> and real pages under /web/."""

    def __init__(self, server: LocalHttpServer):
        self.server = server
        self.prefix = server.url('/web/')
        self.pages = sorted(ZYTE_HTML.glob('*.html.gz'))
        for path in sorted((REALWORLD / 'input').iterdir()):
            server.route(f'/feeds/{path.name}', 200, self.localize_bytes(path.read_bytes()),
                         {'Content-Type': _feed_content_type(path.name)})
        server.route_fn('/web/', self._page)  # exact-path routes win; this is the fallback
        # gulp-atom.atom's entry links are relative (/gulpjs/gulp/releases/...): they resolve
        # against the feed's own URL, so the local server answers them too.
        server.route_fn('/gulpjs/', self._page)

    def localize_bytes(self, raw: bytes) -> bytes:
        def replace(match):
            if match.group(1):  # a namespace URI is a name, not a link
                return match.group(0)
            return self.prefix.encode() + match.group(2) + b'/'
        return _ABSOLUTE_URL.sub(replace, raw)

    def localize(self, value):
        if not isinstance(value, str):
            return value
        return self.localize_bytes(value.encode('utf-8')).decode('utf-8')

    def feed_url(self, name: str) -> str:
        return self.server.url(f'/feeds/{name}')

    def page_for(self, path: str) -> Path:
        digest = int(hashlib.sha256(path.encode('utf-8')).hexdigest(), 16)
        return self.pages[digest % len(self.pages)]

    def _page(self, handler):
        handler.send_answer(200, self.page_for(handler.path).read_bytes(),
                            {'Content-Type': 'text/html; charset=utf-8',
                             'Content-Encoding': 'gzip'})


def _feed_content_type(name: str) -> str:
    if name == 'encoding.rss':
        return 'text/xml; charset=latin1'  # as upstream serves it (PROVENANCE.md)
    return 'application/atom+xml' if name.endswith('.atom') else 'application/rss+xml'
