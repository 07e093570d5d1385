"""A stage's per-element time limit, kept by a watchdog thread instead of a thread hand-off.

Beam's `with_exception_handling(timeout=...)` runs every element in a pool thread and has the
bundle's thread wait for it: two thread switches per element per stage, which cost more than a
short document's work in most stages (bench/README.md, round 12). Here the element runs in the
bundle's own thread, and one watchdog thread per process raises `StageTimeout` in that thread when
the element is still running at its deadline (CPython's `PyThreadState_SetAsyncExc`).

What that can and cannot stop:
- Python code is stopped at its next bytecode, so the overrun's work ends, unlike Beam's pool
  thread, which runs on in the background.
- A C call is not interrupted: the exception lands when it returns. A call that holds the GIL
  (a regular expression) stalls every thread either way, so each stage bounds its own work (input
  caps, linear rules). A call that releases the GIL and may run long (lxml's parser on a huge page)
  is what Beam's thread is for: `ApplyStage(..., blocking=True)` keeps it.
- A stage that catches the exception itself cannot keep its result: an element whose deadline
  passed is a `StageTimeout` when it returns, whatever it returned.
- Like Ctrl-C's KeyboardInterrupt, the exception can land anywhere in Python code, even between
  a library's `lock.acquire()` and its `try`; `with` blocks release what they hold. That is a risk
  only for an element already past its limit, which every stage's own bounds make rare.
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Callable, Optional

import apache_beam as beam

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int
_NULL = ctypes.py_object()  # NULL, not None: what clears a pending exception


class StageTimeout(TimeoutError):
    """Raised in the thread of an element still running at its stage's deadline."""


class _Watched:
    __slots__ = ('thread', 'deadline')

    def __init__(self, thread: int, deadline: float):
        self.thread = thread
        self.deadline = deadline


class Watchdog:
    """Raises `StageTimeout` in a thread whose watched element is past its deadline.

    `watch` and `release` bracket an element; the watchdog thread starts on the first `watch` and
    sleeps until the earliest deadline it knows of, so elements that finish in time cost a lock and
    a dict entry each, and wake nothing.

    Every step that decides an element's fate holds `_lock`, a plain lock whose `with` cannot be
    interrupted half-way by the exception it delivers: an element is either released by its own
    thread (and the watchdog leaves it alone) or fired on by the watchdog (and `release` clears the
    exception if it is still pending, then raises it itself).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._watched: dict[_Watched, None] = {}
        self._wakes_at: Optional[float] = None  # None: not running, or asleep until notified
        self._thread: Optional[threading.Thread] = None

    def watch(self, seconds: float) -> _Watched:
        element = _Watched(threading.get_ident(), self._clock() + seconds)
        with self._lock:
            self._watched[element] = None
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='newswire-stage-watchdog',
                                                daemon=True)
                self._thread.start()
            elif self._wakes_at is None or element.deadline < self._wakes_at:
                self._wake.notify()
        return element

    def release(self, element: _Watched) -> None:
        """Ends the watch; raises `StageTimeout` if the watchdog fired on the element."""
        with self._lock:
            fired = self._watched.pop(element, self) is self
        if fired:
            _set_async_exc(element.thread, _NULL)  # drops an exception not yet delivered
            raise StageTimeout()

    def check(self) -> Optional[float]:
        """Raises `StageTimeout` in the thread of every element past its deadline; returns the
        earliest deadline left, if any. The watchdog thread calls it at each deadline."""
        with self._lock:
            return self._fire_overdue()

    def _fire_overdue(self) -> Optional[float]:
        now, earliest = self._clock(), None
        for element in list(self._watched):
            if element.deadline <= now:
                del self._watched[element]
                _set_async_exc(element.thread, StageTimeout)
            elif earliest is None or element.deadline < earliest:
                earliest = element.deadline
        return earliest

    def _run(self):
        with self._lock:
            while True:
                self._wakes_at = self._fire_overdue()
                timeout = None if self._wakes_at is None else max(0.0, self._wakes_at - self._clock())
                self._wake.wait(timeout)


WATCHDOG = Watchdog()


class TimeLimitedFn(beam.DoFn):
    """`fn` with each element's `process` stopped after `seconds` (`StageTimeout`).

    For one-argument DoFns (a stage's), whose outputs are collected within the limit, as Beam's own
    timeout does. `watchdog` is for tests that call the DoFn directly: a pipeline pickles its DoFns,
    and each process has `WATCHDOG`."""

    def __init__(self, fn: beam.DoFn, seconds: float, watchdog: Optional[Watchdog] = None):
        self._fn = fn
        self._seconds = seconds
        self._given_watchdog = watchdog

    def setup(self):
        self._watchdog = self._given_watchdog or WATCHDOG
        self._fn.setup()

    def start_bundle(self):
        self._fn.start_bundle()

    def process(self, element):
        watched = self._watchdog.watch(self._seconds)
        try:
            outputs = list(self._fn.process(element) or ())
        finally:
            self._watchdog.release(watched)
        return outputs

    def finish_bundle(self):
        return self._fn.finish_bundle()

    def teardown(self):
        self._fn.teardown()
