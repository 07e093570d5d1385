"""`newswire run --feeds` end to end: real feeds and pages from a local server, the ledger checked."""

import json

import pytest

from newswire.pipeline.cli import main
from tests.feed_server import REALWORLD, FeedServer
from tests.local_http import LocalHttpServer

pytestmark = pytest.mark.skipif(not REALWORLD.is_dir(), reason='../shared/eval is not here')

FEEDS = ['reddit.rss', 'heraldsun.rss', 'unrecognized.rss']
REAL_ENTRIES = 24 + 2


@pytest.fixture(scope='module')
def feed_server():
    with LocalHttpServer() as server:
        yield FeedServer(server)


@pytest.fixture
def feed_run(tmp_path, feed_server):
    feed_list = tmp_path / 'feeds.txt'
    feed_list.write_text('# wires\n' + ''.join(feed_server.feed_url(n) + '\n' for n in FEEDS)
                         + feed_server.server.url('/feeds/no-such-feed') + '\n')
    settings = tmp_path / 'settings.yaml'
    settings.write_text('fetch:\n  min_host_interval_seconds: 0.0\n  total_timeout_seconds: 5.0\n')

    def run(*extra):
        output = tmp_path / 'out'
        status = main(['run', '--feeds', str(feed_list), '--settings', str(settings),
                       '--output', str(output), *extra])
        summary = json.loads((output / 'summary.json').read_text()) if status == 0 else None
        return status, summary
    return run


@pytest.mark.slow
def test_a_feeds_run_accounts_for_every_entry_and_feed(feed_run, capsys):
    status, summary = feed_run('--allow-host', '127.0.0.1')
    assert status == 0
    # Records in: every entry of the two real feeds, plus one dead letter per unusable feed.
    assert summary['documents_read'] == REAL_ENTRIES + 2
    assert summary['accounting_ok']
    assert summary['enriched'] + summary['dead_letters'] == summary['documents_read']
    assert summary['dead_letters_by_reason']['feed:not_a_feed'] == 1
    assert summary['dead_letters_by_reason']['feed:http_404'] == 1
    assert summary['enriched'] >= REAL_ENTRIES - 3  # a few pages may have no extractable text
    printed = capsys.readouterr()
    assert 'accounting       ok' in printed.out
    # A line per feed as it is read, so a run waiting on per-host politeness is visibly working.
    feed_lines = [line for line in printed.err.splitlines() if line.startswith('newswire: feed ')]
    assert len(feed_lines) == len(FEEDS) + 1
    assert any(line.endswith('no entries (http_404)') for line in feed_lines)


@pytest.mark.slow  # a feeds run
def test_without_allow_host_loopback_feeds_are_refused_as_dead_letters(feed_run):
    status, summary = feed_run()
    assert status == 0
    assert summary['documents_read'] == 4 and summary['enriched'] == 0
    assert summary['dead_letters_by_reason'] == {'feed:refused_address': 4}


def test_allow_host_without_feeds_is_a_usage_error(tmp_path, capsys):
    assert main(['run', '--allow-host', '127.0.0.1', '--output', str(tmp_path)]) == 2
    assert '--allow-host only applies with --feeds' in capsys.readouterr().err


def test_an_empty_feed_list_is_a_usage_error(tmp_path, capsys):
    empty = tmp_path / 'feeds.txt'
    empty.write_text('# nothing yet\n')
    assert main(['run', '--feeds', str(empty), '--output', str(tmp_path / 'out')]) == 2
    assert 'no feed URL' in capsys.readouterr().err


def test_streaming_needs_a_subscription_or_feeds(tmp_path, capsys):
    assert main(['run', '--streaming', '--output', str(tmp_path / 'out')]) == 2
    assert '--input-subscription projects/P/subscriptions/S and/or --feeds FILE' in (
        capsys.readouterr().err)
