"""The local leasing reader: backoff, leases, and the reader itself on the real Pub/Sub emulator."""

import uuid

import grpc
import pytest
from apache_beam.portability.api import beam_interactive_api_pb2, beam_interactive_api_pb2_grpc

from newswire.pipeline.local.local_stream import LocalStream
from newswire.pipeline.local.pubsub_local import (WIRE_CODER, Backoff, LeasingReader, Leases,
                                                  LocalPubSubConfig)
from tests.conftest import FakeClock, poll


def test_backoff_doubles_up_to_its_cap_and_gives_up_after_its_time():
    clock = FakeClock()
    backoff = Backoff(initial=0.5, maximum=4, give_up=30, clock=clock)
    delays = []
    for _ in range(6):
        delays.append(backoff.failed())
        clock.now += 5
    assert delays == [0.5, 1, 2, 4, 4, 4]
    clock.now += 5  # 35 s after the first failure
    assert backoff.failed() is None
    backoff.succeeded()
    assert backoff.failed() == 0.5 and backoff.failures == 1


def test_leases_renew_when_a_third_is_left_and_drop_after_the_maximum():
    clock = FakeClock()
    leases = Leases(clock)
    leases.add(['a', 'b'], 30)
    assert leases.due(30, 100) == ([], [])
    clock.now += 21  # 9 s left of 30: renew both
    assert leases.due(30, 100) == (['a', 'b'], [])
    assert leases.end(['a', 'zzz']) == ['a']  # an unknown or ended id is not acknowledged twice
    assert leases.end(['a']) == []
    clock.now += 80  # b held for 101 s
    assert leases.due(30, 100) == ([], ['b'])
    assert len(leases) == 0


def _events(endpoint, tags=('messages',)):
    stub = beam_interactive_api_pb2_grpc.TestStreamServiceStub(grpc.insecure_channel(endpoint))
    return stub.Events(beam_interactive_api_pb2.EventsRequest(output_ids=list(tags)))


def _elements(stream, count, deadline):
    """Decoded elements from the event stream until `count` arrived (and the round of events that
    brought them ended); also the last watermark."""
    import time
    elements, watermark = [], 0
    end = time.monotonic() + deadline
    for event in stream:
        if event.HasField('element_event'):
            elements += [WIRE_CODER.decode(e.encoded_element)
                         for e in event.element_event.elements]
        elif event.HasField('watermark_event'):
            watermark = event.watermark_event.new_watermark
        elif len(elements) >= count or time.monotonic() > end:  # a processing-time tick
            return elements, watermark
    return elements, watermark


def test_a_reader_waiting_at_its_in_flight_cap_says_so_once_per_pause(caplog):
    from newswire.pipeline.local.pubsub_local import PAUSE_WARNING_SECONDS

    now = [0.0]
    reader = LeasingReader('projects/p/subscriptions/s',
                           LocalPubSubConfig(max_in_flight=2, lease_seconds=600),
                           clock=lambda: now[0])
    reader._leases.add(['a', 'b'], 600)  # two messages read, not yet acknowledged

    def waiting_after(seconds):
        now[0] += seconds
        with caplog.at_level('WARNING', logger='newswire.pipeline.local.pubsub_local'):
            assert reader.poll() == ([], None)  # nothing pulled, the watermark not moved
        said = [r.getMessage() for r in caplog.records if 'max_in_flight' in r.getMessage()]
        caplog.clear()
        return said

    assert waiting_after(0) == []
    assert waiting_after(PAUSE_WARNING_SECONDS - 1) == []
    (said,) = waiting_after(1)
    assert 'settle_seconds' in said and '2 messages in flight' in said
    assert waiting_after(60) == []  # once per pause


class ScriptedSubscriber:
    """A subscriber whose subscription receives one message at each of `arrivals` (seconds on the
    test's clock); a pull answers at once with what has arrived, as the emulator does, and the
    pull numbered `fail_on` (from 1) fails as an unavailable service would."""

    def __init__(self, clock, arrivals, fail_on=None):
        self._clock, self._waiting, self._fail_on = clock, sorted(arrivals), fail_on
        self.pulls, self.leased = 0, []

    def pull(self, request, timeout, retry):
        from types import SimpleNamespace

        from google.api_core.exceptions import ServiceUnavailable
        self.pulls += 1
        if self.pulls == self._fail_on:
            raise ServiceUnavailable('the emulator went away')
        ready = [t for t in self._waiting if t <= self._clock.now][:request['max_messages']]
        self._waiting = self._waiting[len(ready):]
        publish_time = SimpleNamespace(timestamp=lambda: 1.0)
        return SimpleNamespace(received_messages=[SimpleNamespace(
            ack_id=f'ack-{t}', message=SimpleNamespace(data=b'body', attributes={},
                                                      message_id=f'm-{t}',
                                                      publish_time=publish_time))
            for t in ready])

    def modify_ack_deadline(self, request, retry, timeout):
        self.leased.append(sorted(request['ack_ids']))


def _scripted_reader(arrivals, fail_on=None, **config):
    clock = FakeClock(0.0)

    def sleep(seconds):
        clock.now += seconds

    reader = LeasingReader('projects/p/subscriptions/s', LocalPubSubConfig(**config), clock=clock,
                           sleep=sleep)
    reader._subscriber = ScriptedSubscriber(clock, arrivals, fail_on)
    return reader, clock


def _ack_ids(messages):
    return sorted(WIRE_CODER.decode(encoded)[4] for encoded, _ in messages)


def test_a_poll_gathers_what_arrives_within_batch_seconds_and_leases_it_at_once():
    # The emulator answers a pull at once: an empty pull inside the window is not the end of it.
    reader, clock = _scripted_reader([0.0, 0.05, 0.12, 0.19, 0.3], batch_seconds=0.2,
                                     lease_seconds=60)
    messages, watermark = reader.poll()
    assert _ack_ids(messages) == ['ack-0.0', 'ack-0.05', 'ack-0.12', 'ack-0.19']
    assert watermark == 1_000_000 and reader.in_flight == 4
    assert reader._subscriber.leased == [_ack_ids(messages)]  # one lease request per poll
    assert clock.now == pytest.approx(0.2)  # the first message waited batch_seconds, no more
    later, _ = reader.poll()
    assert _ack_ids(later) == [] and reader.in_flight == 4  # 0.3 has not arrived by 0.2
    clock.now = 0.3
    assert _ack_ids(reader.poll()[0]) == ['ack-0.3']


def test_a_full_batch_goes_at_once():
    reader, clock = _scripted_reader([0.0, 0.0, 0.0, 0.1], max_messages_per_pull=3,
                                     batch_seconds=0.2)
    messages, _ = reader.poll()
    assert len(messages) == 3 and clock.now == 0.0 and reader._subscriber.pulls == 1


def test_a_failure_while_gathering_gives_back_what_the_poll_pulled():
    # Not emitted, so not renewed either: Pub/Sub delivers those messages again after the
    # subscription's deadline, where renewing them would hold them back for max_lease_seconds.
    reader, clock = _scripted_reader([0.0, 0.15], fail_on=3, batch_seconds=0.2)
    assert reader.poll() == ([], None)
    assert reader.in_flight == 0 and reader._subscriber.leased == []
    clock.now += 60  # past the retry delay
    assert _ack_ids(reader.poll()[0]) == ['ack-0.15']


@pytest.mark.slow
def test_reader_acknowledges_only_when_told_and_renews_leases_meanwhile(pubsub_emulator):
    from google.cloud import pubsub_v1

    from newswire.pipeline.commands.pubsub_admin import ensure_subscription, ensure_topic

    project = f'lease-{uuid.uuid4().hex[:8]}'
    topic = f'projects/{project}/topics/raw'
    subscription = f'projects/{project}/subscriptions/raw-pipeline'
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    ensure_topic(publisher, topic)
    ensure_subscription(subscriber, subscription, topic, ack_deadline_seconds=10)
    for index in range(3):
        publisher.publish(topic, f'body {index}'.encode(), source_id=f's{index}').result(30)

    # The minimum lease Pub/Sub takes is 10 s; renewed at a third left, it outlives 25 s.
    reader = LeasingReader(subscription, LocalPubSubConfig(lease_seconds=10))
    local = LocalStream([reader]).start()
    try:
        stream = _events(local.endpoint)
        elements, watermark = _elements(stream, 3, 60)
        assert sorted(e[0] for e in elements) == [b'body 0', b'body 1', b'body 2']
        assert sorted(e[1]['source_id'] for e in elements) == ['s0', 's1', 's2']
        assert watermark >= min(e[3] for e in elements) > 0
        assert reader.in_flight == 3

        by_body = {e[0]: e for e in elements}
        reader.acknowledge([by_body[b'body 0'][4], by_body[b'body 1'][4]])
        assert reader.in_flight == 1

        # Past two lease lengths nothing came again: body 2 is still leased, renewed by the reader.
        more, _ = _elements(stream, 1, 25)
        assert more == []
    finally:
        local.stop()

    # With the reader gone its lease lapses: only the unacknowledged message comes back.
    def redelivered():
        response = subscriber.pull(request={'subscription': subscription, 'max_messages': 10},
                                   timeout=5)
        return [m.message.data for m in response.received_messages]
    assert poll(redelivered, 60, interval=1, what='the unacknowledged message again') == [b'body 2']
