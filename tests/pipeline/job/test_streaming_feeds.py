"""`newswire run --streaming --feeds` on the DirectRunner, end to end: a real local feed polled every
2 s, new entries only, conditional GET, records in windowed files, Ctrl-C."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, poll, stop_with_ctrl_c
from tests.local_http import LocalHttpServer
from tests.transforms.test_feed_polling import ScriptedFeed

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']


@pytest.mark.slow
def test_a_local_stream_polls_feeds_for_new_entries_only(tmp_path):
    with LocalHttpServer() as server:
        feed = ScriptedFeed(server, '/wire/feed', [
            ('feed', '"v1"', ['g1', 'g2']),  # first poll: g1, g2
            ('feed', '"v1"', ['g1', 'g2']),  # If-None-Match "v1" -> 304, nothing
            ('status', 503),                 # a dead letter; the next poll tries again
            ('feed', '"v2"', ['g3', 'g2']),  # g3 only; from then on 304s
        ])
        feed_list = tmp_path / 'feeds.txt'
        feed_list.write_text(feed.url + '\n')
        settings = tmp_path / 'settings.yaml'
        settings.write_text('feeds:\n  poll_interval_seconds: 2\n'
                            'fetch:\n  min_host_interval_seconds: 0.0\n'
                            'dedup:\n  settle_seconds: 1\n')
        output = tmp_path / 'out'
        log_path = tmp_path / 'run.log'
        with open(log_path, 'w') as log:
            pipeline = subprocess.Popen(
                NEWSWIRE + ['run', '--streaming', '--runner=DirectRunner', '--feeds',
                            str(feed_list), '--allow-host', '127.0.0.1', '--settings',
                            str(settings), '--output', str(output), '--window-seconds', '2'],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def written(prefix):
            return [json.loads(line) for path in sorted(output.glob(f'{prefix}-*.jsonl'))
                    for line in path.read_text().splitlines()]

        try:
            records = poll(lambda: len(written('enriched')) >= 3 and written('enriched'), 120,
                           interval=0.5, what='three records in the windowed files')
            letters = poll(lambda: written('dead_letter'), 60, interval=0.5,
                           what="the failed poll's dead letter")
            # Two more polls after g3: still nothing new comes out.
            requests = len(feed.seen_headers)
            poll(lambda: len(feed.seen_headers) >= requests + 2, 30, interval=0.2,
                 what='two more polls')
        finally:
            stop_with_ctrl_c(pipeline)
        records = written('enriched')
        assert sorted(r['source']['id'] for r in records) == ['g1', 'g2', 'g3'], log_path.read_text()[-3000:]
        assert all(r['source']['kind'] == 'feed' and r['text'] for r in records)
        assert [(d['stage'], d['reason']) for d in letters] == [('feed', 'http_503')]
        assert feed.seen_headers[1].get('If-None-Match') == '"v1"'
        assert pipeline.returncode == 0, log_path.read_text()[-3000:]
