"""Pub/Sub input on Prism and an embedded Flink: the subscription read by our own reader as an
unbounded splittable DoFn, acknowledged only after publishing.

Upstream limitation: Beam's Python `ReadFromPubSub` is a native source that only the DirectRunner
and Dataflow replace with a reader; a portable runner (Prism, Flink, Spark) has none, and Beam's
cross-language Pub/Sub read needs the Java expansion service and its jars, which newswire does not
download. So on those runners newswire reads its subscription with `pubsub_local.LeasingReader`,
the same reader the DirectRunner's local stream uses:

    Impulse -> PullSubscriptionFn   an unbounded splittable DoFn: each call pulls once through the
        |                           reader registered in this process, emits the messages stamped
        |                           with their publish times (the watermark follows the reader's,
        v                           never backwards), and checkpoints itself to pull again
    ReadLeasedMessages -> enrichment -> PublishThenAcknowledge (as on the DirectRunner)

This works only where the SDK workers run inside the `newswire` process (LOOPBACK, Prism's default
and what `runners.prepare_runner` gives an embedded Flink): the DoFn that pulls and the one that
acknowledges find the one reader, its leases and its subscriber client, through the process
registry. Workers elsewhere (a remote cluster, Docker or PROCESS workers, Beam's
`use_loopback_process_worker` experiment) cannot share it, so such a run is refused
(`runners._refuse_pubsub_input`), as is Spark, whose portable runner gives a splittable DoFn no
checkpoint handler.

The restriction is an offset range without end that only ever checkpoints: a split at a fraction
(which Prism or Flink may ask of a long bundle) is declined, since two halves would both pull the
same subscription forever.
"""

from __future__ import annotations

import sys
from typing import Optional

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Duration, Timestamp

from newswire.pipeline.local.pubsub_local import _READERS, LeasingReader, ReadLeasedMessages
from newswire.pipeline.local.worker_process import hints_for

# Runners whose Python workers newswire can keep in its own process (LOOPBACK).
IN_PROCESS_RUNNERS = ('PrismRunner', 'FlinkRunner')
# After a pull that brought nothing (the reader backs off, or waits for acknowledgements, without
# blocking), the next one waits this long, so an idle or failing read does not spin a core; after
# a pull that brought messages the next one is due at once.
IDLE_RESUME_SECONDS = 0.2


def runs_in_process(options) -> bool:
    """Whether this run's Python workers are threads of this process: LOOPBACK on Prism (its
    default when no environment is named) or on Flink, and no process-worker experiment."""
    from apache_beam.options.pipeline_options import (DebugOptions, PortableOptions,
                                                      StandardOptions)

    runner = str(options.view_as(StandardOptions).runner or '').rsplit('.', 1)[-1]
    environment = options.view_as(PortableOptions).environment_type
    loopback = environment == 'LOOPBACK' or (runner == 'PrismRunner' and not environment)
    return (runner in IN_PROCESS_RUNNERS and loopback
            and not options.view_as(DebugOptions).lookup_experiment(
                'use_loopback_process_worker', False))


class CheckpointOnlyTracker(OffsetRestrictionTracker):
    """An offset tracker that splits only to checkpoint (fraction 0): see the module docstring."""

    def try_split(self, fraction_of_remainder):
        if fraction_of_remainder > 0:
            return None
        return super().try_split(fraction_of_remainder)


class EndlessRestrictionProvider(RestrictionProvider):
    """One pull per claimed offset, from 0 to no end in practice; drained, nothing is left."""

    def initial_restriction(self, element):
        return OffsetRange(0, sys.maxsize)

    def create_tracker(self, restriction):
        return CheckpointOnlyTracker(restriction)

    def restriction_size(self, element, restriction):
        return 1  # unknown backlog; a constant keeps runners from splitting on size

    def truncate(self, element, restriction):
        return None  # on drain, stop pulling: what is leased and unacknowledged comes again


class PullSubscriptionFn(beam.DoFn):
    """An impulse -> the messages of the reader registered as `reader_name`, WIRE_CODER-encoded
    (as `ReadLeasedMessages` takes them), each stamped with its publish time; unbounded."""

    def __init__(self, reader_name: str):
        self._reader_name = reader_name

    def setup(self):
        self._reader: Optional[LeasingReader] = _READERS.get(self._reader_name)
        if self._reader is None:
            raise RuntimeError(f'no Pub/Sub reader {self._reader_name} in this process: the '
                               f'subscription is read only by workers inside the newswire process '
                               f'(--environment_type=LOOPBACK)')

    @beam.DoFn.unbounded_per_element()
    def process(self, unused_impulse,
                tracker=beam.DoFn.RestrictionParam(EndlessRestrictionProvider()),
                watermark_estimator=beam.DoFn.WatermarkEstimatorParam(
                    ManualWatermarkEstimator.default_provider())):
        reader = self._reader
        if reader.error:
            raise RuntimeError(f'stopped reading: {reader.error}')
        if not tracker.try_claim(tracker.current_restriction().start):
            return
        messages, watermark_micros = reader.poll()
        for encoded, publish_micros in messages:
            yield TimestampedValue(encoded, Timestamp(micros=publish_micros))
        if watermark_micros is not None:
            watermark = Timestamp(micros=watermark_micros)
            current = watermark_estimator.current_watermark()
            if current is None or watermark > current:  # monotone, whatever a pull saw
                watermark_estimator.set_watermark(watermark)
        tracker.defer_remainder(Duration(seconds=0 if messages else IDLE_RESUME_SECONDS))


class ReadSubscriptionInProcess(beam.PTransform):
    """PBegin -> `StageOutputs(documents, dead letters)` of the subscription `reader` reads, each
    document carrying its message's receipt for `pubsub_local.PublishThenAcknowledge`. The reader
    is started (registered) by `adapters.LocalAdapters.start()` before the job runs."""

    def __init__(self, reader: LeasingReader, max_document_bytes: int,
                 max_json_depth: Optional[int] = None):
        super().__init__()
        self._reader_name = reader.name
        self._read = ReadLeasedMessages(max_document_bytes, max_json_depth)

    def expand(self, pbegin):
        # Parsing a message needs nothing of this process: with the per-document steps when they
        # have a worker process of their own, so that the message's bytes cross to it, not a
        # document, and this process (the reader, the dedup index, the sinks) has less to do.
        return (pbegin
                | 'Impulse' >> beam.Impulse()
                | 'Pull' >> beam.ParDo(PullSubscriptionFn(self._reader_name))
                .with_output_types(bytes)
                | 'Decode' >> self._read.with_resource_hints(**hints_for(pbegin.pipeline)))
