"""Pub/Sub on a local runner, at least once end to end: a message is acknowledged only after its
enriched record or dead letter has been published.

Upstream limitation: Beam's Python DirectRunner reads Pub/Sub itself and acknowledges each message
in the same call that pulls it (`_PubSubReadEvaluator._read_from_pubsub` in
`runners/direct/transform_evaluator.py`, whose comment calls it "AutoAck"; spotify/klio#197 wraps
the runner for the same reason), so `kill -9` of a local streaming run loses whatever was in flight.
It also refuses `id_label` on a read (apache/beam#18939). A local run of newswire reads its
subscription itself instead:

    LeasingReader        pulls, keeps every pulled message leased (renews its ack deadline) until
        |                it is acknowledged; served to the runner by `local_stream.LocalStream`, the
        v                one way the DirectRunner takes an unbounded stream from outside
    ReadLeasedMessages -> enrichment -> PublishConfirmed: publishes each record or dead letter, waits
        |                for Pub/Sub to confirm it, then passes the message's receipt (ack id) on
        v
    AcknowledgeReceipts  hands the receipts back to the reader, which acknowledges them.

The messages of a run that dies stay unacknowledged; Pub/Sub delivers them again once their lease
lapses (`lease_seconds`), and a message whose record was published just before the crash comes out
again, flagged by dedup when the run still remembers it. Lost connections (an emulator restarted, a
topic or subscription deleted and created again) are retried with capped exponential backoff; after
`give_up_seconds` of failures in a row the run stops with an error instead of spinning. On Dataflow
the native ReadFromPubSub and WriteToPubSub stay: Dataflow acknowledges after its own checkpoint.

Why the reader keeps its own leases (`Leases`, synchronous `pull` and `modify_ack_deadline`) instead
of the client's streaming pull (`SubscriberClient.subscribe` with `FlowControl`, which renews the
leases of the messages it holds): the streaming pull would keep acknowledge-after-publish (a message
stays leased until its `ack()` is called, which would still happen only in `AcknowledgeReceipts`),
and that is what the kill -9 test (tests/reliability/test_crash_without_loss.py) checks; this reader
passes it. But the streaming pull retries
a lost connection inside the client and says nothing: while Pub/Sub is gone its future neither
fails nor counts tries, and cancelling it waits on that retry. A run on it could not back off where
we see it, could not stop with the reason after `give_up_seconds`
(tests/reliability/test_emulator_restart.py), and would hang on Ctrl-C during an outage. With our
own calls every failure is ours to classify, count and give up on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent import futures
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import apache_beam as beam
from apache_beam import coders
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.utils import shared
from apache_beam.utils.windowed_value import WindowedValue

from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.pubsub import (STAGE, Delivery, ParseMessageFn, dead_letter_to_message,
                                        record_to_message, record_topics)

_LOG = logging.getLogger(__name__)

# How long the reader waits at `max_in_flight` before saying so (`LeasingReader._note_pause`).
PAUSE_WARNING_SECONDS = 30.0
# While gathering a batch, a pull that found nothing is tried again after this long.
GATHER_PAUSE_SECONDS = 0.1
# What travels from the reader to the pipeline: data, attributes, message id, publish time (micros),
# ack id. Typed coders, not pickle, on a socket.
WIRE_CODER = coders.TupleCoder([
    coders.BytesCoder(), coders.MapCoder(coders.StrUtf8Coder(), coders.StrUtf8Coder()),
    coders.StrUtf8Coder(), coders.VarIntCoder(), coders.StrUtf8Coder()])
# The acknowledging step finds its reader here: both live in the process that runs a local pipeline.
_READERS: dict[str, 'LeasingReader'] = {}


@dataclass(frozen=True)
class LocalPubSubConfig:
    """`local_pubsub:` in settings.yaml."""

    lease_seconds: int = 60
    max_lease_seconds: int = 3600
    max_in_flight: int = 20000
    max_messages_per_pull: int = 100
    pull_wait_seconds: float = 1.0
    batch_seconds: float = 0.2
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 10.0
    give_up_seconds: float = 600.0


class Backoff:
    """Delays between retries: doubling from `initial` up to `maximum`, for at most `give_up` seconds
    of failures in a row. `clock` is injected so tests need not wait."""

    def __init__(self, initial: float, maximum: float, give_up: float,
                 clock: Callable[[], float] = time.monotonic):
        self._initial, self._maximum, self._give_up, self._clock = initial, maximum, give_up, clock
        self._delay = initial
        self._failing_since: Optional[float] = None
        self.failures = 0

    def failed(self) -> Optional[float]:
        """Records a failure; the delay before the next try, or None once it is time to give up."""
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        self.failures += 1
        if now - self._failing_since >= self._give_up:
            return None
        delay, self._delay = self._delay, min(self._maximum, self._delay * 2)
        return delay

    def succeeded(self) -> None:
        self._delay, self._failing_since, self.failures = self._initial, None, 0


def _is_retryable(error: Exception) -> bool:
    from google.api_core import exceptions

    # NotFound: a topic or subscription being created again (an emulator restart loses them).
    return isinstance(error, (exceptions.ServiceUnavailable, exceptions.NotFound,
                              exceptions.DeadlineExceeded, exceptions.InternalServerError,
                              exceptions.Aborted, exceptions.Unknown, exceptions.Cancelled,
                              exceptions.ResourceExhausted, exceptions.RetryError,
                              ConnectionError, TimeoutError, futures.TimeoutError))


class Leases:
    """Ack ids in flight and when each lease runs out; thread-safe (the reader renews while the
    pipeline acknowledges)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}
        self._since: dict[str, float] = {}

    def add(self, ack_ids: Iterable[str], seconds: float) -> None:
        now = self._clock()
        with self._lock:
            for ack_id in ack_ids:
                self._until[ack_id] = now + seconds
                self._since[ack_id] = now

    def end(self, ack_ids: Iterable[str]) -> list[str]:
        """Ends these leases; returns the ack ids that were still leased."""
        with self._lock:
            ended = [a for a in ack_ids if self._until.pop(a, None) is not None]
            for ack_id in ended:
                del self._since[ack_id]
        return ended

    def due(self, seconds: float, max_seconds: float) -> tuple[list[str], list[str]]:
        """(leases to renew for `seconds` more: a third of a lease or less left, leases held longer
        than `max_seconds`: given up and dropped). Renewed ones count as renewed."""
        now = self._clock()
        renew, expired = [], []
        with self._lock:
            for ack_id, until in self._until.items():
                if now - self._since[ack_id] >= max_seconds:
                    expired.append(ack_id)
                elif until - now <= seconds / 3:
                    renew.append(ack_id)
            for ack_id in expired:
                del self._until[ack_id], self._since[ack_id]
            for ack_id in renew:
                self._until[ack_id] = now + seconds
        return renew, expired

    def __len__(self) -> int:
        with self._lock:
            return len(self._until)


class LeasingReader:
    """A subscription as the `messages` source of a `local_stream.LocalStream`: messages are leased
    until `acknowledge` is called with their ack ids.

    Registered under `name` (for `AcknowledgeReceipts`) once started. A failed pull is retried after
    a backoff delay (the stream keeps beating meanwhile); `error` is set when the reader gives up
    (failures for `give_up_seconds` in a row), which ends the stream."""

    tag = 'messages'

    def __init__(self, subscription: str, config: LocalPubSubConfig,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.subscription = subscription
        self.name = f'{subscription}#{uuid.uuid4().hex[:8]}'
        self.error: Optional[str] = None
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._leases = Leases(clock)
        self._backoff = Backoff(config.retry_initial_seconds, config.retry_max_seconds,
                                config.give_up_seconds, clock)
        self._retry_at = 0.0
        self._subscriber = None
        self._paused_at: Optional[float] = None  # since when the reader waits at max_in_flight

    def start(self) -> None:
        from google.cloud import pubsub_v1

        self._subscriber = pubsub_v1.SubscriberClient()
        _READERS[self.name] = self

    def stop(self) -> None:
        _READERS.pop(self.name, None)

    @property
    def in_flight(self) -> int:
        return len(self._leases)

    def poll(self) -> tuple[list[tuple[bytes, int]], Optional[int]]:
        """(messages pulled, WIRE_CODER-encoded with their publish times; the watermark): the oldest
        message just pulled bounds what may still come (Pub/Sub hands out roughly in publish order),
        and an idle subscription lets the watermark reach now."""
        if self.error or self._clock() < self._retry_at:
            return [], None
        config = self._config
        batch: list = []
        try:
            self._renew_leases()
            if self.in_flight >= config.max_in_flight:
                self._note_pause()
                return [], None  # backpressure: wait for acknowledgements
            self._paused_at = None
            batch += self._pull(config.pull_wait_seconds, config.max_messages_per_pull)
            # A runner pays the same per bundle whatever its size: what arrives within
            # batch_seconds of the first message travels as one, pulled every
            # GATHER_PAUSE_SECONDS (a pull answers at once with what has arrived, so an empty one
            # is not the end of the window), the last pull at its end. Each pull may take as long
            # as the first: one given up sooner may still have been answered, and its messages
            # would come again only after the subscription's deadline.
            gather_until = self._clock() + config.batch_seconds
            while batch and len(batch) < config.max_messages_per_pull:
                left = gather_until - self._clock()
                if left <= 0:
                    break
                self._sleep(min(left, GATHER_PAUSE_SECONDS))
                batch += self._pull(config.pull_wait_seconds,
                                    config.max_messages_per_pull - len(batch))
            if batch:  # one lease request for the whole batch, not one per pull
                self._modify_deadline([item[4] for item in batch], config.lease_seconds)
            self._backoff.succeeded()
        except Exception as error:  # noqa: BLE001 - classified right below
            # What this poll pulled is not emitted: no longer renewed, Pub/Sub delivers it again
            # once the subscription's own deadline passes.
            self._leases.end([item[4] for item in batch])
            if not _is_retryable(error):
                raise
            delay = self._backoff.failed()
            if delay is None:
                self.error = (f'{self.subscription}: still failing after '
                              f'{config.give_up_seconds:.0f} s ({self._backoff.failures} tries): '
                              f'{type(error).__name__}: {error}')
                return [], None
            _LOG.warning('reading %s failed (try %d), again in %.1f s: %s: %s',
                         self.subscription, self._backoff.failures, delay, type(error).__name__,
                         str(error)[:300])
            self._retry_at = self._clock() + delay
            return [], None
        if not batch:
            return [], int(time.time() * 1e6)
        return ([(WIRE_CODER.encode(item), item[3]) for item in batch],
                min(item[3] for item in batch))

    def _pull(self, wait_seconds: float, max_messages: int) -> list[tuple]:
        from google.api_core.exceptions import DeadlineExceeded

        config = self._config
        max_messages = min(max_messages, config.max_in_flight - self.in_flight)
        if max_messages <= 0:
            return []
        try:
            response = self._subscriber.pull(
                request={'subscription': self.subscription, 'max_messages': max_messages},
                timeout=wait_seconds, retry=None)
        except DeadlineExceeded:
            return []  # nothing to read within the wait: idle, not a failure
        received = list(response.received_messages)
        if not received:
            return []
        self._leases.add([r.ack_id for r in received], config.lease_seconds)
        return [(r.message.data, dict(r.message.attributes), r.message.message_id,
                 int(r.message.publish_time.timestamp() * 1e6), r.ack_id) for r in received]

    def _note_pause(self) -> None:
        """Says once per pause, after `PAUSE_WARNING_SECONDS` at `max_in_flight`, that reading waits:
        records wait for the watermark (dedup's settle time), and the watermark moves only with
        what is read, so a cap below the message rate x the settle time stops the run for good."""
        now = self._clock()
        if self._paused_at is None:
            self._paused_at = now
        elif now - self._paused_at >= PAUSE_WARNING_SECONDS:
            _LOG.warning('reading %s has waited %.0f s with %d messages in flight '
                         '(local_pubsub.max_in_flight): nothing is acknowledged before its record '
                         'is decided, which waits for the watermark (dedup.settle_seconds), and '
                         'the watermark moves only as messages are read; if this lasts, raise '
                         'max_in_flight above the message rate x (settle_seconds + a few seconds)',
                         self.subscription, now - self._paused_at, self.in_flight)
            self._paused_at = float('inf')  # said; again only after reading resumes

    def _renew_leases(self) -> None:
        renew, expired = self._leases.due(self._config.lease_seconds,
                                          self._config.max_lease_seconds)
        if expired:
            _LOG.warning('%d message(s) of %s were in flight for over %d s: no longer renewed, '
                         'Pub/Sub will deliver them again', len(expired), self.subscription,
                         self._config.max_lease_seconds)
        if renew:
            self._modify_deadline(renew, self._config.lease_seconds)

    def _modify_deadline(self, ack_ids: list[str], seconds: int) -> None:
        for start in range(0, len(ack_ids), 1000):  # Pub/Sub's per-request limit is about 2,500
            self._subscriber.modify_ack_deadline(request={
                'subscription': self.subscription, 'ack_ids': ack_ids[start:start + 1000],
                'ack_deadline_seconds': seconds}, retry=None, timeout=30)

    def acknowledge(self, ack_ids: list[str]) -> None:
        """Acknowledges these messages and ends their leases. A failure is logged, not raised: the
        message comes again and is flagged as a duplicate (at least once, never lost)."""
        ack_ids = self._leases.end(ack_ids)
        for start in range(0, len(ack_ids), 1000):
            try:
                self._subscriber.acknowledge(request={
                    'subscription': self.subscription, 'ack_ids': ack_ids[start:start + 1000]},
                    retry=None, timeout=30)
            except Exception as error:  # noqa: BLE001 - any failure means "delivered again"
                _LOG.warning('acknowledging %d message(s) of %s failed; Pub/Sub will deliver them '
                             'again: %s: %s', len(ack_ids[start:start + 1000]), self.subscription,
                             type(error).__name__, str(error)[:300])


def _as_delivery(item: tuple) -> Delivery:
    data, attributes, message_id, publish_micros, ack_id = item
    from apache_beam.utils.timestamp import Timestamp

    message = PubsubMessage(data, attributes, message_id=message_id,
                            publish_time=Timestamp(micros=publish_micros).to_utc_datetime())
    return Delivery(message, receipt=ack_id)


class ReadLeasedMessages(beam.PTransform):
    """The `messages` output of a `LocalStream` (WIRE_CODER bytes) -> `StageOutputs(documents, dead
    letters)`, each carrying its message's receipt (`source.receipt`) for `AcknowledgeReceipts`."""

    def __init__(self, max_document_bytes: int, max_json_depth: Optional[int] = None):
        super().__init__()
        self._max_document_bytes = max_document_bytes
        self._max_json_depth = max_json_depth

    def expand(self, encoded):
        return (
            encoded
            | 'AsDeliveries' >> beam.Map(lambda data: _as_delivery(WIRE_CODER.decode(data)))
            | 'ParseMessages' >> ApplyStage(
                ParseMessageFn(self._max_document_bytes, self._max_json_depth), STAGE))


class PublishConfirmedFn(beam.DoFn):
    """(message, receipt, topics) -> the receipt, once Pub/Sub has confirmed the message on every
    one of its topics. Failures are retried with backoff for `give_up_seconds`, then raised (the
    run stops; nothing unconfirmed was acknowledged)."""

    def __init__(self, config: LocalPubSubConfig):
        self._config = config
        self._shared = shared.Shared()

    def setup(self):
        from google.cloud import pubsub_v1

        # The DirectRunner calls setup() for every bundle: one client (and its channel and threads)
        # per process, not one per bundle. The client is thread-safe.
        self._publisher = self._shared.acquire(pubsub_v1.PublisherClient, tag='publisher')

    def start_bundle(self):
        self._pending = []

    def process(self, item, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        message, receipt, topics = item
        self._pending.append((message, receipt, tuple(topics), timestamp, window))

    def finish_bundle(self):
        config = self._config
        backoff = Backoff(config.retry_initial_seconds, config.retry_max_seconds,
                          config.give_up_seconds)
        unconfirmed = [(m, topic) for m, _, topics, _, _ in self._pending for topic in topics]
        while unconfirmed:
            sent = [(m, topic, self._publisher.publish(topic, m.data, **(m.attributes or {})))
                    for m, topic in unconfirmed]
            unconfirmed, last_error = [], None
            for message, topic, future in sent:
                try:
                    future.result(timeout=60)
                except Exception as error:  # noqa: BLE001 - classified right below
                    if not _is_retryable(error):
                        raise
                    unconfirmed.append((message, topic))
                    last_error = error
            if unconfirmed:
                delay = backoff.failed()
                if delay is None:
                    raise RuntimeError(f'publishing {len(unconfirmed)} message(s) still failing '
                                       f'after {config.give_up_seconds:.0f} s: {last_error}')
                _LOG.warning('publishing %d message(s) failed (try %d), again in %.1f s: %s',
                             len(unconfirmed), backoff.failures, delay, last_error)
                time.sleep(delay)
        for _, receipt, _, timestamp, window in self._pending:
            if receipt is not None:
                yield WindowedValue(receipt, timestamp, [window])
        self._pending = []


class PublishRecordsConfirmed(beam.PTransform):
    """Enriched records -> their receipts, once each record is on the output topic and on the route
    topic of each of its tags (the same messages and routes as `pubsub.PublishRecords`)."""

    def __init__(self, output_topic: str, routed_tag_ids: Iterable[str],
                 config: LocalPubSubConfig):
        super().__init__()
        self._output_topic = output_topic
        self._routed_tag_ids = tuple(routed_tag_ids)
        self._config = config

    def expand(self, records):
        def addressed(doc, output_topic=self._output_topic, routes=self._routed_tag_ids):
            message = record_to_message(doc)
            return message, doc.source.receipt, record_topics(message, output_topic, routes)

        return (records
                | 'ToMessages' >> beam.Map(addressed)
                | 'PublishConfirmed' >> beam.ParDo(PublishConfirmedFn(self._config)))


class PublishDeadLettersConfirmed(beam.PTransform):
    """Dead letters -> their receipts, once each is on the dead-letter topic."""

    def __init__(self, topic: str, config: LocalPubSubConfig):
        super().__init__()
        self._topic = topic
        self._config = config

    def expand(self, letters):
        return (letters
                | 'ToMessages' >> beam.Map(
                    lambda letter, topic=self._topic: (dead_letter_to_message(letter),
                                                       letter.source.receipt, [topic]))
                | 'PublishConfirmed' >> beam.ParDo(PublishConfirmedFn(self._config)))


class AcknowledgeReceiptsFn(beam.DoFn):
    """Receipts -> acknowledged messages, by the reader registered under `reader_name`."""

    def __init__(self, reader_name: str):
        self._reader_name = reader_name

    def setup(self):
        self._reader = _READERS.get(self._reader_name)
        if self._reader is None:
            raise RuntimeError(f'no Pub/Sub reader {self._reader_name} in this process: local '
                               f'acknowledgement needs the in-process DirectRunner')

    def start_bundle(self):
        self._receipts = []

    def process(self, receipt: str):
        self._receipts.append(receipt)

    def finish_bundle(self):
        if self._receipts:
            self._reader.acknowledge(self._receipts)
        self._receipts = []


class AcknowledgeReceipts(beam.PTransform):
    """Receipts of confirmed publications -> nothing; their messages are acknowledged."""

    def __init__(self, reader: LeasingReader):
        super().__init__()
        self._reader_name = reader.name

    def expand(self, receipts):
        return receipts | 'Acknowledge' >> beam.ParDo(AcknowledgeReceiptsFn(self._reader_name))


class PublishThenAcknowledge(beam.PTransform):
    """(enriched records, dead letters) -> nothing: each published and confirmed on its topics
    (`PublishRecordsConfirmed`, `PublishDeadLettersConfirmed`), then its message acknowledged by
    `reader` (`AcknowledgeReceipts`). What `assembly.PublishOutputs` applies on a local run in place
    of Beam's `WriteToPubSub`."""

    def __init__(self, output_topic: str, dead_letter_topic: str,
                 routed_tag_ids: Iterable[str], reader: LeasingReader,
                 config: LocalPubSubConfig):
        super().__init__()
        self._output_topic = output_topic
        self._dead_letter_topic = dead_letter_topic
        self._routed_tag_ids = tuple(routed_tag_ids)
        self._reader = reader
        self._config = config

    def expand(self, outputs):
        enriched, dead_letters = outputs
        receipts = (
            enriched | 'PublishEnriched' >> PublishRecordsConfirmed(
                self._output_topic, self._routed_tag_ids, self._config),
            dead_letters | 'PublishDeadLetters' >> PublishDeadLettersConfirmed(
                self._dead_letter_topic, self._config),
        ) | 'AllReceipts' >> beam.Flatten()
        return receipts | 'Acknowledge' >> AcknowledgeReceipts(self._reader)
