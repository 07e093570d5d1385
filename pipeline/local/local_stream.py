"""The unbounded inputs of a local streaming run, served to Beam's DirectRunner as one TestStream.

Upstream limitation: the Python DirectRunner streams only what its own evaluators read: Beam's
Pub/Sub read (which acknowledges on pull, see `pubsub_local`) and TestStream, which can take its
events from a service. An unbounded splittable DoFn such as PeriodicImpulse (Beam's feed ticker on
Dataflow) does not stream there. We found no Beam issue for the Python DirectRunner's case; the
nearest, apache/beam#18220, is about the Java DirectRunner's splittable DoFns. So a local run
serves its own unbounded inputs on 127.0.0.1 as a TestStream event service, one output tag per
source:

- `messages`: a Pub/Sub subscription read by `pubsub_local.LeasingReader`, which acknowledges a
  message only after its record is published;
- `ticks`: `Ticks`, one every `feeds.poll_interval_seconds`, on which `feeds.PollFeedsOnTicks` polls.

Each round (at least `round_seconds` when nothing arrives) asks every source for what it has and
sends it with the source's watermark; every `clock_seconds` it moves the runner's processing-time
clock by the time that passed (under a TestStream the DirectRunner's clock moves only when told).
Other runners read Pub/Sub and tick with Beam's own transforms; none of this is used there.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from typing import Callable, Iterator, Optional, Protocol, Sequence

import apache_beam as beam
from apache_beam import coders
from apache_beam.portability.api import beam_interactive_api_pb2_grpc, beam_runner_api_pb2
from apache_beam.testing.test_stream import TestStream

_LOG = logging.getLogger(__name__)
_EVENT = beam_runner_api_pb2.TestStreamPayload.Event
_ELEMENT = beam_runner_api_pb2.TestStreamPayload.TimestampedElement


class LocalSource(Protocol):
    """One output of a `LocalStream`."""

    tag: str
    error: Optional[str]  # set when the source gave up: the stream ends

    def start(self) -> None:
        """Called once, before the first poll."""

    def poll(self) -> tuple[list[tuple[bytes, int]], Optional[int]]:
        """(elements as (encoded bytes, timestamp in micros), the source's watermark in micros or
        None to keep it). May block for up to about a second, never longer."""

    def stop(self) -> None:
        """Called once, when the stream stops."""


class Ticks:
    """A tick (an empty element stamped with the time) every `interval_seconds`, the first at once.
    Its watermark is the clock: nothing earlier than now will come."""

    tag = 'ticks'
    error = None

    def __init__(self, interval_seconds: float, clock: Callable[[], float] = time.time):
        self._interval = interval_seconds
        self._clock = clock
        self._next: Optional[float] = None

    def start(self) -> None:
        self._next = self._clock()

    def poll(self):
        now = self._clock()
        ticks = []
        if now >= self._next:
            ticks.append((b'', int(now * 1e6)))  # stamped when it polls, never behind the watermark
            # A stream held up for longer than an interval polls once, not once per missed tick.
            while self._next <= now:
                self._next += self._interval
        return ticks, int(now * 1e6)

    def stop(self) -> None:
        pass


class LocalStream(beam_interactive_api_pb2_grpc.TestStreamServiceServicer):
    """Sources served as one TestStream on 127.0.0.1. `start()` binds the service; the sources start
    when the runner asks for events. `error` is the first source's reason for giving up."""

    def __init__(self, sources: Sequence[LocalSource], round_seconds: float = 1.0,
                 clock_seconds: float = 5.0):
        self.sources = {source.tag: source for source in sources}
        self.endpoint: Optional[str] = None
        self._round_seconds = round_seconds
        self._clock_seconds = clock_seconds
        self._stopping = threading.Event()
        self._server = None

    @property
    def error(self) -> Optional[str]:
        return next((s.error for s in self.sources.values() if s.error), None)

    def start(self) -> 'LocalStream':
        import grpc

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        beam_interactive_api_pb2_grpc.add_TestStreamServiceServicer_to_server(self, self._server)
        port = self._server.add_insecure_port('127.0.0.1:0')
        self._server.start()
        self.endpoint = f'127.0.0.1:{port}'
        return self

    def stop(self) -> None:
        self._stopping.set()
        for source in self.sources.values():
            source.stop()
        if self._server is not None:
            self._server.stop(grace=1)

    # The TestStream service: one call, from the runner, for the whole run.
    def Events(self, request, context):
        yield from self._events([tag for tag in request.output_ids if tag in self.sources])

    def _events(self, tags: list[str]) -> Iterator:
        for tag in tags:
            self.sources[tag].start()
        watermarks = dict.fromkeys(tags, 0)
        round_start = last_clock = time.monotonic()
        while not self._stopping.is_set():
            arrived = False
            for tag in tags:
                elements, watermark = self.sources[tag].poll()
                if elements:
                    arrived = True
                    yield _EVENT(element_event=_EVENT.AddElements(tag=tag, elements=[
                        _ELEMENT(encoded_element=data, timestamp=micros)
                        for data, micros in elements]))
                if watermark is not None and watermark > watermarks[tag]:
                    watermarks[tag] = watermark
                    yield _EVENT(watermark_event=_EVENT.AdvanceWatermark(
                        tag=tag, new_watermark=watermark))
            if self.error:
                _LOG.error('local stream ends: %s', self.error)
                return  # the runner then ends the pipeline; `newswire run` reports the error
            if not arrived:
                self._stopping.wait(max(0.0, self._round_seconds - (time.monotonic() - round_start)))
            round_start = time.monotonic()
            # Every event costs the runner a scheduling pass over all keyed state, so the clock
            # moves every few seconds, not every round (nothing here uses processing-time timers).
            # It is also the heartbeat: the runner ends a stream that stays silent for 30 s.
            if round_start - last_clock >= self._clock_seconds:
                yield _EVENT(processing_time_event=_EVENT.AdvanceProcessingTime(
                    advance_duration=int((round_start - last_clock) * 1e6)))
                last_clock = round_start


class LocalStreamEvents(beam.PTransform):
    """PBegin -> {tag: PCollection of the source's encoded elements, timestamped}, from a
    `LocalStream` started before the graph is built (the TestStream names its endpoint)."""

    def __init__(self, stream: LocalStream):
        super().__init__()
        self._stream = stream

    def expand(self, pbegin):
        if self._stream.endpoint is None:
            raise RuntimeError('expected a started LocalStream (its endpoint goes into the graph), '
                               'got one not started: call LocalAdapters.start() before building')
        return pbegin | 'Events' >> TestStream(coder=coders.BytesCoder(),
                                               endpoint=self._stream.endpoint,
                                               output_tags=sorted(self._stream.sources))
