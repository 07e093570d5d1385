"""Streaming feed polling (`PollFeeds`) with TestStream ticks against a real local HTTP server: new
entries only across polls, 304 yields nothing, a failing feed recovers, the remembered keys are
bounded."""

import threading

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as TickStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from newswire.transforms.feeds import FeedConfig, PollFeeds
from tests.local_http import LocalHttpServer
from tests.transforms.test_feeds import LOCAL, RSS, rss_item

PAGE = (b'<html><head><title>%s</title></head><body><article><h1>%s</h1><p>'
        + b'The council met on Tuesday and agreed the budget after a long debate. ' * 8
        + b'</p></article></body></html>')


def streaming_pipeline() -> BeamTestPipeline:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return BeamTestPipeline(runner='DirectRunner', options=options)


def ticks(times):
    """One tick per time (seconds), the watermark moved past each before the next."""
    stream = TickStream()
    for at in times:
        stream = stream.add_elements([TimestampedValue(at, at)]).advance_watermark_to(at + 5)
    return stream.advance_watermark_to_infinity()


class ScriptedFeed:
    """A feed whose n-th request gets the n-th scripted answer: ('feed', etag, guids) honours
    If-None-Match with a 304, ('status', code) answers that status. Requests are recorded."""

    def __init__(self, server: LocalHttpServer, path: str, script):
        self.server, self.script, self.seen_headers = server, list(script), []
        self.lock = threading.Lock()
        self.url = server.route_fn(path, self._answer)
        server.route_fn('/polled-pages/', lambda h: h.send_answer(
            200, PAGE % (h.path.encode(), h.path.encode()), {'Content-Type': 'text/html'}))

    def _answer(self, handler):
        with self.lock:
            index = len(self.seen_headers)
            self.seen_headers.append(dict(handler.headers.items()))
        step = self.script[min(index, len(self.script) - 1)]
        if step[0] == 'status':
            handler.send_answer(step[1], b'down', {'Content-Type': 'text/plain'})
            return
        _, etag, guids = step
        if handler.headers.get('If-None-Match') == etag:
            handler.send_answer(304, b'', {'ETag': etag})
            return
        items = b''.join(rss_item(g, self.server.url(f'/polled-pages/{g}')) for g in guids)
        handler.send_answer(200, RSS % items, {'ETag': etag, 'Content-Type': 'application/rss+xml'})


@pytest.fixture
def server():
    with LocalHttpServer() as local:
        yield local


@pytest.mark.slow
def test_polling_yields_new_entries_only_recovers_and_forgets_the_oldest(server):
    feed = ScriptedFeed(server, '/polled/feed', [
        ('feed', '"v1"', ['g1', 'g2']),    # tick 10: g1, g2
        ('feed', '"v1"', ['g1', 'g2']),    # tick 20: If-None-Match "v1" -> 304, nothing
        ('status', 500),                   # tick 30: a dead letter, state kept
        ('feed', '"v2"', ['g3', 'g2']),    # tick 40: g3 only
        ('feed', '"v3"', ['g4', 'g3']),    # tick 50: g4; seen (max 3) forgets g1
        ('feed', '"v4"', ['g1', 'g4']),    # tick 60: g1 again, since it was forgotten
    ])
    with streaming_pipeline() as pipeline:
        out = pipeline | PollFeeds([feed.url], LOCAL, FeedConfig(max_seen_entries_per_feed=3),
                                   ticks=ticks([10, 20, 30, 40, 50, 60]))
        assert_that(out.good | 'IdAndTick' >> beam.Map(
            lambda doc, at=beam.DoFn.TimestampParam: (doc.source.id, int(at), bool(doc.html))),
            equal_to([('g1', 10, True), ('g2', 10, True), ('g3', 40, True), ('g4', 50, True),
                      ('g1', 60, True)]), label='NewEntriesPerTick')
        assert_that(out.dead_letters | 'Letters' >> beam.Map(
            lambda letter, at=beam.DoFn.TimestampParam: (letter.stage, letter.reason,
                                                         letter.source.id, int(at))),
            equal_to([('feed', 'http_500', feed.url, 30)]), label='FailedPoll')
    conditional = [h.get('If-None-Match') for h in feed.seen_headers]
    # The failed poll and the polls after it still send the last ETag seen with a 200.
    assert conditional == [None, '"v1"', '"v1"', '"v1"', '"v2"', '"v3"']
    assert server.hits['/polled-pages/g1'] == 2 and server.hits['/polled-pages/g2'] == 1


@pytest.mark.slow  # a streaming pipeline; the fast subset polls in the other
def test_every_feed_is_polled_on_every_tick_with_its_own_state(server):
    first = ScriptedFeed(server, '/polled/a', [('feed', '"a1"', ['a1']), ('feed', '"a2"', ['a2'])])
    second = ScriptedFeed(server, '/polled/b', [('status', 404), ('feed', '"b1"', ['b1', 'a1'])])
    with streaming_pipeline() as pipeline:
        out = pipeline | PollFeeds([first.url, second.url, first.url], LOCAL, FeedConfig(),
                                   ticks=ticks([10, 20]))
        assert_that(out.good | 'Ids' >> beam.Map(
            lambda doc, at=beam.DoFn.TimestampParam: (doc.extra['feed_url'], doc.source.id,
                                                      int(at))),
            equal_to([(first.url, 'a1', 10), (first.url, 'a2', 20), (second.url, 'b1', 20),
                      (second.url, 'a1', 20)]), label='PerFeedState')
        assert_that(out.dead_letters | 'Reasons' >> beam.Map(lambda d: d.reason),
                    equal_to(['http_404']), label='Letters')
    assert len(first.seen_headers) == 2 and len(second.seen_headers) == 2


@pytest.mark.slow
def test_a_poll_past_the_entry_cap_fetches_the_first_and_reports_the_rest_once(server):
    feed = ScriptedFeed(server, '/polled/capped', [
        ('feed', '"c1"', ['g1', 'g2', 'g3']),        # tick 10: g1; g2, g3 in one letter
        ('feed', '"c2"', ['g4', 'g1', 'g2', 'g3']),  # tick 20: g4 only, nothing skipped again
    ])
    with streaming_pipeline() as pipeline:
        out = pipeline | PollFeeds([feed.url], LOCAL, FeedConfig(max_entries_per_feed=1),
                                   ticks=ticks([10, 20]))
        assert_that(out.good | 'IdAndTick' >> beam.Map(
            lambda doc, at=beam.DoFn.TimestampParam: (doc.source.id, int(at))),
            equal_to([('g1', 10), ('g4', 20)]), label='FirstEntryPerPoll')
        assert_that(out.dead_letters | 'Letters' >> beam.Map(
            lambda letter, at=beam.DoFn.TimestampParam: (letter.reason, letter.detail[:2],
                                                         int(at))),
            equal_to([('too_many_entries', '2 ', 10)]), label='SkippedOnce')
    assert server.hits['/polled-pages/g2'] == 0 and server.hits['/polled-pages/g3'] == 0
