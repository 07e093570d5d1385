"""What newswire does only because a job runs on Beam's Python DirectRunner, in this process.

The graph Dataflow runs reads Pub/Sub with `ReadFromPubSub`, writes it with `WriteToPubSub` and
ticks the feed poller with `PeriodicImpulse`. On the DirectRunner each of these falls short, and
each module here works around one limitation (its docstring names it):

- `local_stream`: the DirectRunner streams no splittable DoFn, so no `PeriodicImpulse`; a local run
  serves its unbounded inputs (feed ticks, Pub/Sub messages) as one TestStream on 127.0.0.1.
- `pubsub_local`: the DirectRunner's Pub/Sub read acknowledges each message when it pulls it, so a
  killed run loses what was in flight; a local run reads its subscription itself and acknowledges
  after publishing.
- `beam_data_plane`: Beam 2.77's gRPC data channel (multi-threaded or multi-process FnApiRunner)
  flushes on a timer thread mid-element; patched to flush between elements.

One entry point, `adapt(job, settings, options)`, called by the command that runs a job
(`run.run_batch`, `run.start_streaming`), never by the graph builders: it only plans. Nothing is
started (no server, no Pub/Sub client, no patch) until `LocalAdapters.start()`, right before the
job runs, and `stop()` undoes it.
"""

from newswire.pipeline.local.adapters import (DIRECT_RUNNERS, LocalAdapters, LocalSetupError,
                                              adapt, is_direct_runner, needs_data_plane_patch)

__all__ = ['DIRECT_RUNNERS', 'LocalAdapters', 'LocalSetupError', 'adapt', 'is_direct_runner',
           'needs_data_plane_patch']
