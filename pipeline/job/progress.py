"""A progress line while a job runs: records read, enriched, dead letters, duplicates and the rate.

A run prints nothing per record, and a stream never ends: without this, "is it working?" has no
answer until the summary (batch) or a subscriber (streaming). `ReportProgress` counts the job's
outputs as they pass, without changing them, and a thread of each worker process prints

    newswire: progress  read 1200  enriched 1150  dead letters 50  duplicates 310  (240.0 read/s)

to stderr every `interval_seconds` once anything was counted. Counts are per worker process: a
runner with several worker processes prints one line each, marked with its process id.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from typing import Callable, Optional, TextIO

import apache_beam as beam

READ, ENRICHED, DEAD_LETTERS, DUPLICATES = 'read', 'enriched', 'dead letters', 'duplicates'


class ProgressTally:
    """Counters shared by the counting steps of one job in one process, and the printing thread."""

    def __init__(self, interval_seconds: float, launcher_pid: int,
                 clock: Callable[[], float] = time.monotonic, stream: Optional[TextIO] = None):
        self.interval_seconds = interval_seconds
        self._launcher_pid = launcher_pid
        self._clock = clock
        self._stream = stream
        self._started = clock()
        self._counts = {READ: 0, ENRICHED: 0, DEAD_LETTERS: 0, DUPLICATES: 0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def add(self, what: str, count: int = 1) -> None:
        with self._lock:
            self._counts[what] += count

    def line(self) -> Optional[str]:
        """The progress line now, or None before anything was counted."""
        with self._lock:
            counts = dict(self._counts)
        if not any(counts.values()):
            return None
        elapsed = max(self._clock() - self._started, 1e-9)
        worker = '' if os.getpid() == self._launcher_pid else f' [worker {os.getpid()}]'
        return (f'newswire: progress{worker}  read {counts[READ]}  enriched {counts[ENRICHED]}  '
                f'dead letters {counts[DEAD_LETTERS]}  duplicates {counts[DUPLICATES]}  '
                f'({counts[READ] / elapsed:.1f} read/s)')

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._print_every_interval, daemon=True,
                                            name='newswire-progress')
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _print_every_interval(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            text = self.line()
            if text:
                stream = self._stream or sys.stderr
                print(text, file=stream, flush=True)


# One tally per job and process: each counting DoFn is a separate deserialised copy, and they must
# add to the same numbers.
_TALLIES: dict[str, ProgressTally] = {}
_TALLIES_LOCK = threading.Lock()


def stop_all() -> None:
    """Ends the printing threads of the jobs a runner ran in this process; the launcher calls it once
    its job has ended (a worker process's thread ends with the process)."""
    with _TALLIES_LOCK:
        tallies = list(_TALLIES.values())
        _TALLIES.clear()
    for tally in tallies:
        tally.stop()


def tally_for(job_id: str, interval_seconds: float, launcher_pid: int) -> ProgressTally:
    with _TALLIES_LOCK:
        tally = _TALLIES.get(job_id)
        if tally is None:
            tally = _TALLIES[job_id] = ProgressTally(interval_seconds, launcher_pid)
        return tally


class _CountFn(beam.DoFn):
    """Adds each element (or, with `count_if`, each element it accepts) to `what`; outputs nothing."""

    def __init__(self, job_id: str, what: str, interval_seconds: float, launcher_pid: int,
                 count_if: Optional[Callable[[object], bool]] = None):
        self._job_id = job_id
        self._what = what
        self._interval_seconds = interval_seconds
        self._launcher_pid = launcher_pid
        self._count_if = count_if
        self._tally: Optional[ProgressTally] = None

    def setup(self):
        self._tally = tally_for(self._job_id, self._interval_seconds, self._launcher_pid)
        self._tally.start()

    def process(self, element):
        if self._count_if is None or self._count_if(element):
            self._tally.add(self._what)
        return ()


def _is_duplicate(record) -> bool:
    return record.dedup is not None and record.dedup.tier is not None


class ReportProgress(beam.PTransform):
    """`RunOutputs` -> nothing; prints the progress line every `interval_seconds`."""

    def __init__(self, interval_seconds: float):
        super().__init__()
        if interval_seconds <= 0:
            raise ValueError(f'interval_seconds must be positive, got {interval_seconds}')
        self._interval_seconds = interval_seconds
        self._job_id = uuid.uuid4().hex
        self._launcher_pid = os.getpid()

    def expand(self, outputs):
        job, interval, pid = self._job_id, self._interval_seconds, self._launcher_pid
        outputs.read | 'CountRead' >> beam.ParDo(_CountFn(job, READ, interval, pid))
        outputs.enriched | 'CountEnriched' >> beam.ParDo(_CountFn(job, ENRICHED, interval, pid))
        outputs.enriched | 'CountDuplicates' >> beam.ParDo(
            _CountFn(job, DUPLICATES, interval, pid, _is_duplicate))
        return outputs.dead_letters | 'CountDeadLetters' >> beam.ParDo(
            _CountFn(job, DEAD_LETTERS, interval, pid))
