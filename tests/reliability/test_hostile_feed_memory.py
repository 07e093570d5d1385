"""The quadratic-blowup feed is refused within 2 s and 256 MB (issue 8, item 6: the time bound is in
tests/transforms/test_feeds.py; this measures the memory in a fresh interpreter)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

_MEASURE = '''
import json, time
from tests.reliability.peak_memory import peak_kib
from newswire.transforms.feeds import FeedRejected, parse_feed
from tests.transforms.test_feeds import quadratic_blowup
document = quadratic_blowup()
before = peak_kib()
started = time.monotonic()
try:
    parse_feed(document, 'http://127.0.0.1/feed')
    reason = None
except FeedRejected as rejected:
    reason = rejected.reason
print(json.dumps({'reason': reason, 'seconds': time.monotonic() - started, 'bytes': len(document),
                  'growth_kib': peak_kib() - before}))
'''


@pytest.mark.slow  # a subprocess whose peak memory is measured
def test_the_quadratic_blowup_feed_is_refused_within_two_seconds_and_256_mb():
    result = subprocess.run([sys.executable, '-c', _MEASURE], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=True)
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured['reason'] == 'forbidden_dtd'
    assert measured['seconds'] < 2.0
    assert measured['growth_kib'] < 256 * 1024
