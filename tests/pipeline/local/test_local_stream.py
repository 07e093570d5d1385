"""The local stream: ticks, and sources served as TestStream events over gRPC on 127.0.0.1."""

import apache_beam as beam
import grpc
import pytest
from apache_beam.portability.api import beam_interactive_api_pb2, beam_interactive_api_pb2_grpc

from newswire.pipeline.local.local_stream import LocalStream, LocalStreamEvents, Ticks
from tests.conftest import FakeClock


def test_ticks_come_every_interval_once_and_the_watermark_is_the_clock():
    clock = FakeClock()
    ticks = Ticks(300, clock)
    ticks.start()
    assert ticks.poll() == ([(b'', 1000 * 10**6)], 1000 * 10**6)
    clock.now += 299
    assert ticks.poll() == ([], 1299 * 10**6)
    clock.now += 1000  # held up past three ticks: one poll, then back on the 300 s beat
    assert ticks.poll() == ([(b'', 2299 * 10**6)], 2299 * 10**6)
    clock.now = 2499
    assert ticks.poll() == ([], 2499 * 10**6)
    clock.now = 2500
    assert ticks.poll() == ([(b'', 2500 * 10**6)], 2500 * 10**6)


class _Scripted:
    """A source that hands out one prepared batch per poll, then gives up with `error`."""

    def __init__(self, tag, batches, error='the scripted source ran out'):
        self.tag, self._batches, self._error = tag, list(batches), error
        self.error = None
        self.started = self.stopped = False

    def start(self):
        self.started = True

    def poll(self):
        if not self._batches:
            self.error = self._error
            return [], None
        return self._batches.pop(0)

    def stop(self):
        self.stopped = True


def _events(endpoint, tags):
    stub = beam_interactive_api_pb2_grpc.TestStreamServiceStub(grpc.insecure_channel(endpoint))
    return list(stub.Events(beam_interactive_api_pb2.EventsRequest(output_ids=list(tags)),
                            timeout=30))


def _described(events):
    """Each event as (kind, tag, payload): elements as (bytes, micros), watermarks as micros."""
    out = []
    for event in events:
        if event.HasField('element_event'):
            out.append(('elements', event.element_event.tag,
                        [(e.encoded_element, e.timestamp) for e in event.element_event.elements]))
        elif event.HasField('watermark_event'):
            out.append(('watermark', event.watermark_event.tag,
                        event.watermark_event.new_watermark))
    return out


def test_sources_are_served_with_their_watermarks_until_one_gives_up():
    words = _Scripted('words', [([(b'one', 10), (b'two', 20)], 10), ([], 30), ([(b'three', 40)], 25)])
    stream = LocalStream([words], round_seconds=0).start()
    try:
        events = _described(_events(stream.endpoint, ['words', 'not-served']))
    finally:
        stream.stop()
    # The watermark only moves forward: the third poll's 25 is behind 30 and is not sent.
    assert events == [('elements', 'words', [(b'one', 10), (b'two', 20)]),
                      ('watermark', 'words', 10),
                      ('watermark', 'words', 30),
                      ('elements', 'words', [(b'three', 40)])]
    assert words.started and words.stopped
    assert stream.error == 'the scripted source ran out'


def test_building_the_graph_needs_the_stream_started_first():
    stream = LocalStream([Ticks(60)])
    with pytest.raises(RuntimeError, match='expected a started LocalStream'):
        beam.Pipeline() | LocalStreamEvents(stream)
    assert stream.endpoint is None  # building did not start it either
