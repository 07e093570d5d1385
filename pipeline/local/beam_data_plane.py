"""A deliberate monkeypatch of Beam 2.77's data plane: time-based flushes happen between elements.

Upstream limitation: with `--direct_running_mode=multi_threading` (and on the runner's side of any
FnApiRunner gRPC data channel, so `multi_processing` too; the default `in_memory` has no such
channel, whatever `--direct_num_workers` says) Beam buffers a bundle's encoded elements in a
`data_plane.TimeBasedBufferingClosableOutputStream` with a 1,000 ms time limit. That stream starts
a `PeriodicThread` which calls `flush()` every period from its own thread while the bundle's thread
is writing an element into the same buffer. A flush can then

- cut an element in two: its first bytes go out in one data message, the rest in the next, and the
  receiver decodes garbage (we saw "Invalid PaneInfoEncoding") or a different value;
- lose bytes: `flush()` takes the buffer (`get()`), hands it on and only then clears it
  (`_clear()`), so whatever the writer added in between is dropped (we saw 2 of 1,000 documents
  missing).

Our determinism test (tests/reliability/test_determinism.py) ran 0 of 6 multi-threaded runs
byte-identical to the single-worker run. Beam's own comment on `maybe_flush` says a flush must be
called explicitly "to avoid flushing partial elements"; the time-based flush does not.

What: `ElementBoundaryFlushingStream` keeps Beam's size-based flush, its time limit and `close()`,
but starts no thread: `maybe_flush()`, which Beam calls on the writing thread after each whole
element (`DataOutputOperation.process`, `OutputTimer.set`/`clear` in `bundle_processor`), flushes
when the size threshold is passed *or* the time limit has elapsed since the last flush. `install()`
makes Beam's `ClosableOutputStream.create` build it wherever it built Beam's class; only
`LocalAdapters.start()` calls it, for those two modes, and `stop()` calls `uninstall()`.

The trade-off: Beam's thread also sent the buffer of a writer that had gone quiet mid-bundle; ours
sends it with the next element or when the bundle ends (`close()`), as Beam's size-based stream, the
default without a time limit, always does.

Scope: written against apache-beam 2.77.0. The time-based flush came with apache/beam#10246
(BEAM-7949); we found no upstream issue about this race (searched Beam's issues for the class, the
flush thread and the symptoms), so it is ours to report. Remove this module and its use in
`adapters` once Beam flushes only at element boundaries: `tests/pipeline/local/test_beam_data_plane.py`
checks that Beam's own class still splits elements and fails when it no longer does.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from apache_beam.runners.worker import data_plane

# Beam's class, kept before `install()` replaces the module attribute.
BEAM_STREAM = data_plane.TimeBasedBufferingClosableOutputStream


class ElementBoundaryFlushingStream(BEAM_STREAM):
    """Beam's time- and size-based buffering output stream, flushed only on the writing thread.

    Args:
        close_callback: receives what is left in the buffer on `close()` (as in Beam).
        flush_callback: receives the buffer on each flush (as in Beam).
        size_flush_threshold: flush once the buffer holds more bytes than this (Beam's default).
        time_flush_threshold_ms: flush at the first element boundary at least this many
            milliseconds after the last flush; > 0, as in Beam.
        clock: seconds, monotonic; tests pass their own.

    Example, with a 1,000 ms limit: elements written at t = 0.2, 0.9, 1.4 and 1.5 s go out as one
    message at t = 1.4 (the first boundary past 1.0) and the fourth waits for the next boundary
    past 2.4 or for `close()`. Beam's thread would have flushed at t = 1.0 from another thread,
    possibly halfway through writing the third.
    """

    def __init__(
            self,
            close_callback: Optional[Callable[[bytes], None]] = None,
            flush_callback: Optional[Callable[[bytes], None]] = None,
            size_flush_threshold: int = data_plane._DEFAULT_SIZE_FLUSH_THRESHOLD,
            time_flush_threshold_ms: int = data_plane._DEFAULT_TIME_FLUSH_THRESHOLD_MS,
            clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        super().__init__(close_callback, flush_callback, size_flush_threshold,
                         time_flush_threshold_ms)

    def _schedule_periodic_flush(self) -> None:
        """Called by Beam's `__init__` to start the flushing thread; here it only sets the first
        deadline, which `maybe_flush` checks."""
        self._flush_due_at = self._clock() + self._time_flush_threshold_ms / 1000

    def maybe_flush(self) -> None:
        """Flushes when the buffer is over the size threshold or the time limit has passed; Beam
        calls it right after writing a whole element, so no element is ever split or lost."""
        now = self._clock()
        if self.size() > self._size_flush_threshold or now >= self._flush_due_at:
            self.flush()
            self._flush_due_at = now + self._time_flush_threshold_ms / 1000


def install() -> None:
    """Makes Beam's data plane build `ElementBoundaryFlushingStream` where it built
    `TimeBasedBufferingClosableOutputStream` (`ClosableOutputStream.create` looks the name up in
    its module at each call). Affects this process only; calling it again changes nothing."""
    data_plane.TimeBasedBufferingClosableOutputStream = ElementBoundaryFlushingStream


def uninstall() -> None:
    """Gives Beam's data plane its own class back (what `install()` replaced)."""
    data_plane.TimeBasedBufferingClosableOutputStream = BEAM_STREAM


def installed() -> bool:
    return data_plane.TimeBasedBufferingClosableOutputStream is ElementBoundaryFlushingStream
