"""`adapt`: what a job on the DirectRunner swaps in (sources, publishing) and starts when it runs.

`adapt(job, settings, options)` plans and starts nothing; the command then calls `start()` just
before it runs the job, builds the graph with `source` and `publisher(...)`, and `stop()`s after.
On Prism and an embedded Flink (LOOPBACK workers) a streaming job's subscription is read the same
way, through `portable_pubsub` (those runners have no Python Pub/Sub source). On any other runner
(Dataflow, ...) it returns adapters that swap nothing and start nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

from newswire.pipeline.local import beam_data_plane, portable_pubsub
from newswire.pipeline.local.local_stream import LocalStream, LocalStreamEvents, Ticks
from newswire.pipeline.local.pubsub_local import (LeasingReader, LocalPubSubConfig,
                                                  PublishThenAcknowledge, ReadLeasedMessages)
from newswire.transforms.dead_letters import StageOutputs
from newswire.transforms.feeds import PollFeedsOnTicks

if TYPE_CHECKING:
    from newswire.pipeline.job.options import NewswireOptions
    from newswire.pipeline.job.settings import Settings

DIRECT_RUNNERS = ('DirectRunner', 'BundleBasedDirectRunner', 'SwitchingDirectRunner')
# The FnApiRunner modes with a gRPC data channel in this process (`fn_runner.FnApiRunner.run_pipeline`
# picks an embedded gRPC worker for the first, a subprocess worker for the second; the runner's side
# of the channel buffers with a 1,000 ms time limit in both). `in_memory`, the default, has none,
# whatever --direct_num_workers says (Beam only warns).
_GRPC_DATA_PLANE_MODES = ('multi_threading', 'multi_processing')


class LocalSetupError(Exception):
    """A local run cannot do what the options ask; the message says what to add."""


def is_direct_runner(options) -> bool:
    runner = options.view_as(StandardOptions).runner or 'DirectRunner'
    return isinstance(runner, str) and runner.rsplit('.', 1)[-1] in DIRECT_RUNNERS


def needs_data_plane_patch(options) -> bool:
    """Whether the job runs Beam's FnApiRunner with a gRPC data channel here (`beam_data_plane`)."""
    return (is_direct_runner(options)
            and options.view_as(DirectOptions).direct_running_mode in _GRPC_DATA_PLANE_MODES)


class ReadLocalStream(beam.PTransform):
    """A `LocalStream` (started before the graph is built) -> `StageOutputs(documents, dead
    letters)`: its `messages` through `ReadLeasedMessages`, its `ticks` polling the feeds through
    `PollFeedsOnTicks`; merged when both are there."""

    def __init__(self, stream: LocalStream, readers: dict[str, tuple[str, beam.PTransform]]):
        super().__init__()
        self._stream = stream
        self._readers = readers  # output tag -> (label, transform of that output)

    def expand(self, pbegin):
        inputs = pbegin | 'LocalStream' >> LocalStreamEvents(self._stream)
        outputs = [inputs[tag] | label >> transform
                   for tag, (label, transform) in sorted(self._readers.items())]
        if len(outputs) == 1:
            return outputs[0]
        documents = [o.good for o in outputs] | 'MergeDocuments' >> beam.Flatten()
        dead_letters = [o.dead_letters for o in outputs] | 'MergeDeadLetters' >> beam.Flatten()
        return StageOutputs(documents, dead_letters)


class LocalAdapters:
    """What a local run swaps into the job's graph, and starts while the job runs.

    Attributes:
        source: the streaming source to use instead of `sources.select_stream_source`'s, or None.
        stream: the `LocalStream` serving `source`, or None.
        reader: the subscription's `LeasingReader`, or None: then publishing is Beam's own.
        patch_data_plane: whether `start()` installs `beam_data_plane` (`needs_data_plane_patch`).
    """

    def __init__(self, stream: Optional[LocalStream] = None,
                 source: Optional[beam.PTransform] = None,
                 reader: Optional[LeasingReader] = None, patch_data_plane: bool = False,
                 local_pubsub: LocalPubSubConfig = LocalPubSubConfig()):
        self.stream = stream
        self.source = source
        self.reader = reader
        self.patch_data_plane = patch_data_plane
        self._local_pubsub = local_pubsub
        self._patched = False

    def publisher(self, output_topic: str, dead_letter_topic: str,
                  routed_tag_ids: tuple[str, ...]) -> Optional[beam.PTransform]:
        """What publishes (enriched, dead letters) instead of Beam's `WriteToPubSub`, or None."""
        if self.reader is None:
            return None
        return PublishThenAcknowledge(output_topic, dead_letter_topic, routed_tag_ids,
                                      self.reader, self._local_pubsub)

    @property
    def error(self) -> Optional[str]:
        """Why a source of the local stream (or the in-process reader) gave up, if one did."""
        if self.stream is not None:
            return self.stream.error
        return self.reader.error if self.reader is not None else None

    def start(self) -> 'LocalAdapters':
        """Installs the data-plane patch when needed and binds the local stream's service; call it
        once the job is about to run, before its graph is built (`source` needs the endpoint)."""
        if self.patch_data_plane and not self._patched:
            beam_data_plane.install()
            self._patched = True
        if self.stream is not None and self.stream.endpoint is None:
            self.stream.start()
        elif self.stream is None and self.reader is not None:
            self.reader.start()  # registered for `portable_pubsub.PullSubscriptionFn`
        return self

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.stop()
        elif self.reader is not None:
            self.reader.stop()
        if self._patched:
            beam_data_plane.uninstall()
            self._patched = False

    def __enter__(self) -> 'LocalAdapters':
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def adapt(job: 'NewswireOptions', settings: Optional['Settings'], options) -> LocalAdapters:
    """The adapters a job needs on this runner, planned, not started (see `LocalAdapters`).
    `settings` are read for a streaming job only (a batch job may pass None).

    Raises:
        LocalSetupError: a local streaming run reading a subscription without both topics to
            publish to (it acknowledges a message once its record or dead letter is published).
        sources.SourceError: the feed list cannot be read.
    """
    streaming = options.view_as(StandardOptions).streaming
    if not is_direct_runner(options):
        if streaming and job.input_subscription and portable_pubsub.runs_in_process(options):
            return _adapt_in_process(job, settings)
        return LocalAdapters()
    patch = needs_data_plane_patch(options)
    if not streaming:
        return LocalAdapters(patch_data_plane=patch)
    # Imported here: `sources` imports `settings`, which imports this package's `pubsub_local`.
    from newswire.pipeline.job.sources import feed_urls, fetch_config

    _require_topics(job)
    sources, readers, reader = [], {}, None
    if job.input_subscription:
        reader = LeasingReader(job.input_subscription, settings.local_pubsub)
        sources.append(reader)
        readers[reader.tag] = ('PubSub', ReadLeasedMessages(settings.max_document_bytes,
                                                            settings.max_json_depth))
    if job.feeds:
        ticks = Ticks(settings.feeds.poll_interval_seconds)
        sources.append(ticks)
        readers[ticks.tag] = ('Feeds', PollFeedsOnTicks(
            feed_urls(job.feeds), fetch_config(job, settings), settings.feeds))
    stream = LocalStream(sources)
    return LocalAdapters(stream, ReadLocalStream(stream, readers), reader, patch,
                         settings.local_pubsub)


def _require_topics(job: 'NewswireOptions') -> None:
    if job.input_subscription and not (job.output_topic and job.dead_letter_topic):
        raise LocalSetupError('a local run reading --input-subscription acknowledges each message '
                              'once its record or dead letter is published: it needs '
                              '--output-topic and --dead-letter-topic')


def _adapt_in_process(job: 'NewswireOptions', settings: 'Settings') -> LocalAdapters:
    """Prism or an embedded Flink with LOOPBACK workers: the subscription through
    `portable_pubsub`, the feeds (if any) with Beam's own PeriodicImpulse as on Dataflow."""
    from newswire.pipeline.job.sources import MergeSources, feed_urls, fetch_config
    from newswire.transforms.feeds import PollFeeds

    _require_topics(job)
    reader = LeasingReader(job.input_subscription, settings.local_pubsub)
    source = portable_pubsub.ReadSubscriptionInProcess(reader, settings.max_document_bytes,
                                                       settings.max_json_depth)
    if job.feeds:  # the labels `sources.select_stream_source` gives them
        source = MergeSources({'PubSub': source, 'Feeds': PollFeeds(
            feed_urls(job.feeds), fetch_config(job, settings), settings.feeds)})
    return LocalAdapters(source=source, reader=reader, local_pubsub=settings.local_pubsub)
