"""Streaming latency through the Pub/Sub emulator: raw messages published at a fixed rate, each
carrying the time it was sent as an attribute (the pipeline keeps unknown attributes under
`extra.attributes`); a subscriber on the enriched topic notes when each record arrives."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from typing import Sequence
from contextlib import contextmanager

from bench.corpus import generate
from bench.procs import TreeMemorySampler

SENT_ATTRIBUTE = 'bench_sent'


def _poll(condition, deadline_seconds: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + deadline_seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f'{what} not met within {deadline_seconds} s')
        time.sleep(interval)


@contextmanager
def pubsub_emulator():
    """The Cloud SDK's Pub/Sub emulator on a free port; yields host:port."""
    gcloud = shutil.which('gcloud')
    if gcloud is None:
        raise RuntimeError('the Google Cloud SDK (gcloud) is needed for the streaming benchmark')
    root = subprocess.run([gcloud, 'info', '--format=value(installation.sdk_root)'],
                          capture_output=True, text=True, check=True).stdout.strip()
    launcher = pathlib.Path(root) / 'platform' / 'pubsub-emulator' / 'bin' / 'cloud-pubsub-emulator'
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    log = tempfile.NamedTemporaryFile(prefix='bench-emulator-', suffix='.log', delete=False)
    process = subprocess.Popen([str(launcher), '--host=127.0.0.1', f'--port={port}'],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    host = f'127.0.0.1:{port}'

    def ready():
        if process.poll() is not None:
            raise RuntimeError(f'the emulator exited with {process.returncode}; see {log.name}')
        try:
            with urllib.request.urlopen(f'http://{host}/', timeout=1) as response:
                return response.read().strip() == b'Ok'
        except OSError:
            return False

    try:
        _poll(ready, 60, 'the Pub/Sub emulator answering')
        yield host
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the launcher's Java child too
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


class _Receiver(threading.Thread):
    """Pulls the enriched subscription; records (receive time, sent time, record id) in `received`
    and, in `published`, when the pipeline published each record (the emulator's publish time)."""

    def __init__(self, subscriber, subscription):
        super().__init__(daemon=True)
        self.subscriber, self.subscription = subscriber, subscription
        self.received: list[tuple[float, float, str]] = []
        self.published: list[float] = []
        self.stop = threading.Event()

    def run(self):
        from google.api_core.exceptions import DeadlineExceeded

        while not self.stop.is_set():
            try:
                response = self.subscriber.pull(
                    request={'subscription': self.subscription, 'max_messages': 500},
                    timeout=2, retry=None)
            except DeadlineExceeded:
                continue
            now = time.time()
            for item in response.received_messages:
                record = json.loads(item.message.data)
                sent = (record.get('extra', {}).get('attributes') or {}).get(SENT_ATTRIBUTE)
                if sent is not None:
                    self.received.append((now, float(sent), record['id']))
                    self.published.append(item.message.publish_time.timestamp())
            if response.received_messages:
                self.subscriber.acknowledge(request={
                    'subscription': self.subscription,
                    'ack_ids': [r.ack_id for r in response.received_messages]})


def _percentile(values, fraction, total):
    """The percentile over `total` messages of which `values` arrived; None when it falls among
    those that never arrived (their latency is longer than the run waited)."""
    if not total:
        return None
    ordered = sorted(values)
    index = min(total - 1, int(round(fraction * (total - 1))))
    return round(ordered[index], 3) if index < len(ordered) else None


@contextmanager
def _given(host: str):
    yield host


def _ran_on(log: pathlib.Path):
    """What `newswire run` said it runs on ('PrismRunner, /.../prism, ...'), or None (the
    DirectRunner says nothing)."""
    for line in log.read_text(errors='replace').splitlines():
        if line.startswith('newswire: on '):
            return line[len('newswire: on '):]
    return None


def measure(repo: str, rate: float, seconds: float, settle_seconds=None,
            drain_seconds: float = 60.0, emulator_host=None, runner: str = 'DirectRunner',
            flags: Sequence[str] = ()) -> dict:
    """Runs `newswire run --streaming --runner=RUNNER [flags]` against the emulator at
    `emulator_host` (default: a fresh one); publishes `rate` msg/s for `seconds`; returns latency
    percentiles, counts, the pipeline tree's memory over time and how newswire said it runs."""
    from google.cloud import pubsub_v1

    from newswire.pipeline.commands.pubsub_admin import ensure_subscription, ensure_topic

    records = generate(max(1, int(rate * seconds)), seed=11)
    emulator = _given(emulator_host) if emulator_host else pubsub_emulator()
    with emulator as host, tempfile.TemporaryDirectory(prefix='bench-stream-') as work:
        env = {**os.environ, 'PUBSUB_EMULATOR_HOST': host}
        previous = os.environ.get('PUBSUB_EMULATOR_HOST')
        os.environ['PUBSUB_EMULATOR_HOST'] = host
        try:
            project = f'bench-{uuid.uuid4().hex[:8]}'
            raw, enriched, dead = (f'projects/{project}/topics/raw',
                                   f'projects/{project}/topics/enriched',
                                   f'projects/{project}/topics/dead-letter')
            publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
            for topic in (raw, enriched, dead):
                ensure_topic(publisher, topic)
            pipeline_subscription = f'projects/{project}/subscriptions/raw-pipeline'
            capture = f'projects/{project}/subscriptions/enriched-bench'
            ensure_subscription(subscriber, pipeline_subscription, raw)
            ensure_subscription(subscriber, capture, enriched)
            argv = [sys.executable, '-m', 'newswire.pipeline.cli', 'run', '--streaming',
                    f'--runner={runner}', '--input-subscription', pipeline_subscription,
                    '--output-topic', enriched, '--dead-letter-topic', dead, *flags]
            if settle_seconds is not None:
                settings = pathlib.Path(work) / 'settings.yaml'
                settings.write_text(f'dedup:\n  settle_seconds: {settle_seconds}\n')
                argv += ['--settings', str(settings)]
            log = open(pathlib.Path(work) / 'pipeline.log', 'w')
            pipeline = subprocess.Popen(argv, cwd=repo, env=env, stdout=log,
                                        stderr=subprocess.STDOUT)
            receiver = _Receiver(subscriber, capture)
            receiver.start()
            try:
                with TreeMemorySampler(pipeline.pid, interval=1.0) as memory:
                    # Warm-up: the pipeline is ready once a first record comes out.
                    warm = json.dumps({'id': 'warm-up', 'text': records[0]['text']}).encode()
                    publisher.publish(raw, warm, **{SENT_ATTRIBUTE: repr(time.time())}).result(30)
                    _poll(lambda: receiver.received or pipeline.poll() is not None,
                          180 + (settle_seconds or 10), 'the warm-up record coming out')
                    if pipeline.poll() is not None:
                        raise RuntimeError(f'the pipeline exited; see {log.name}')
                    warm_received = len(receiver.received)
                    publish_started, publish_wall = time.monotonic(), time.time()
                    memory_from = len(memory.samples)
                    futures = []
                    for index, record in enumerate(records):
                        due = publish_started + index / rate
                        delay = due - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        body = json.dumps({k: v for k, v in record.items()
                                           if k != 'bench_kind'}).encode()
                        futures.append(publisher.publish(
                            raw, body, **{SENT_ATTRIBUTE: repr(time.time())}))
                    publish_seconds = time.monotonic() - publish_started
                    for future in futures:
                        future.result(60)
                    memory_to = len(memory.samples)
                    try:
                        _poll(lambda: len(receiver.received) - warm_received >= len(records),
                              drain_seconds + (settle_seconds or 10), 'every record coming out',
                              interval=0.5)
                    except TimeoutError:
                        pass  # reported as missing
            finally:
                receiver.stop.set()
                receiver.join(timeout=10)
                pipeline.send_signal(signal.SIGINT)
                try:
                    pipeline.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pipeline.kill()
                    pipeline.wait()
                log.close()
            ran_on = _ran_on(pathlib.Path(log.name))
        finally:
            if previous is None:
                os.environ.pop('PUBSUB_EMULATOR_HOST', None)
            else:
                os.environ['PUBSUB_EMULATOR_HOST'] = previous
    latencies = [got - sent for got, sent, doc_id in receiver.received[warm_received:]]
    # The same split in two: from sending to the pipeline's publishing of the record, and from
    # there to this subscriber (the emulator's delivery, which a deployment does not share).
    out = [(published - sent, got - published) for (got, sent, _), published
           in zip(receiver.received[warm_received:], receiver.published[warm_received:])]
    during = memory.samples[memory_from:memory_to] or memory.samples
    quarter = max(1, len(during) // 4)
    first = sum(b for _, b in during[:quarter]) / quarter
    last = sum(b for _, b in during[-quarter:]) / quarter
    return {
        'runner': runner, 'flags': list(flags), 'ran_on': ran_on,
        'rate': rate, 'seconds': seconds, 'settle_seconds': settle_seconds,
        'published': len(records), 'publish_seconds': round(publish_seconds, 2),
        'received': len(latencies),
        'p50_seconds': _percentile(latencies, 0.5, len(records)),
        'p99_seconds': _percentile(latencies, 0.99, len(records)),
        'max_seconds': round(max(latencies), 3) if latencies else None,
        'to_published_p50_seconds': _percentile([a for a, _ in out], 0.5, len(records)),
        'to_published_p99_seconds': _percentile([a for a, _ in out], 0.99, len(records)),
        'delivery_p50_seconds': _percentile([b for _, b in out], 0.5, len(records)),
        'delivery_p99_seconds': _percentile([b for _, b in out], 0.99, len(records)),
        # Records out per second from the first publish to the last record out.
        'throughput_per_s': round(len(latencies) / max(1e-9, max(
            (got for got, _, _ in receiver.received[warm_received:]), default=0) - publish_wall), 1)
        if latencies else 0.0,
        'waited_seconds_after_publishing': drain_seconds + (settle_seconds or 10),
        'rss_first_quarter_mb': round(first / 2**20, 1), 'rss_last_quarter_mb': round(last / 2**20, 1),
        'rss_peak_mb': round(max((b for _, b in memory.samples), default=0) / 2**20, 1),
    }
