"""How a streaming run ends: Ctrl-C, the job finishing or failing, or the runner going away.

A terminal's Ctrl-C reaches the whole process group, Prism or a job server included: it exits at
once, before the job is cancelled, and every Beam thread holding a stream to it ends on a gRPC
`UNAVAILABLE` with a traceback, while the wait for the job ends in the same error rather than in
`KeyboardInterrupt`. So the wait runs in a thread and Ctrl-C only sets an event (a second Ctrl-C
interrupts as usual); a run stopped that way is a stop however the runner ended, its threads'
disconnects dropped. A runner that goes away without Ctrl-C is one line, not a screen of traces.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import NamedTuple, Optional


class StreamEnd(NamedTuple):
    stopped: bool                    # by Ctrl-C (SIGINT)
    error: Optional[BaseException]   # the wait for the job raised it (not after a stop)
    lost_runner: Optional[str]       # the runner went away (not after a stop): which stream saw it


def is_disconnect(error: BaseException) -> bool:
    """The error a gRPC stream ends with when the runner's process is gone."""
    import grpc

    return (isinstance(error, grpc.RpcError) and hasattr(error, 'code')
            and error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED))


class _DisconnectedThreads:
    """A `threading.excepthook` that records threads ending on a disconnect instead of printing
    them; other exceptions go to the previous hook. Stays installed for the rest of the process:
    Beam's threads may end after the run has returned."""

    def __init__(self):
        self._previous = threading.excepthook
        self._lock = threading.Lock()
        self.first: Optional[str] = None

    def __call__(self, args):
        if args.exc_value is None or not is_disconnect(args.exc_value):
            self._previous(args)
            return
        with self._lock:
            if self.first is None:
                thread = args.thread.name if args.thread is not None else 'a thread'
                self.first = f'{thread}: {args.exc_value.details()}'


class _DisconnectLogs:
    """A `logging.Filter` for Beam's worker loggers: drops the traceback each logs when its stream
    to the runner breaks (the runner's end is reported once, by `wait_for_stream`'s caller)."""

    LOGGERS = ('apache_beam.runners.worker.data_plane', 'apache_beam.runners.worker.sdk_worker',
               'apache_beam.runners.worker.sdk_worker_main')  # the last: a worker process's

    def filter(self, record) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not is_disconnect(error)


def quiet_disconnects() -> _DisconnectedThreads:
    """From now on, Beam's threads and worker loggers that end on a lost runner print nothing;
    returns the hook that records the first such thread."""
    threads = _DisconnectedThreads()
    threading.excepthook = threads
    for name in _DisconnectLogs.LOGGERS:
        logging.getLogger(name).addFilter(_DisconnectLogs())
    return threads


def wait_for_stream(result, cancel_timeout: float = 30.0) -> StreamEnd:
    """Waits for a streaming job (`PipelineResult`) to end; on Ctrl-C cancels it (waiting at most
    `cancel_timeout` seconds for the cancel) and returns stopped. Outside the main thread, where
    Python takes no signals, it only waits."""
    ended = threading.Event()
    outcome: dict = {}

    def wait():
        try:
            result.wait_until_finish()
        except BaseException as error:  # noqa: B036 - handed to the main thread
            outcome['error'] = error
        ended.set()

    def on_ctrl_c(signum, frame):
        if outcome.get('stopped'):  # a second Ctrl-C: the cancel hangs; interrupt it
            raise KeyboardInterrupt
        outcome['stopped'] = True
        ended.set()

    threads = quiet_disconnects()
    in_main = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGINT, on_ctrl_c) if in_main else None
    try:
        threading.Thread(target=wait, name='newswire-wait-for-job', daemon=True).start()
        ended.wait()
        if outcome.get('stopped'):
            _cancel(result, cancel_timeout)
            return StreamEnd(True, None, None)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous_handler)
    error = outcome.get('error')
    if error is not None and is_disconnect(error):
        return StreamEnd(False, None, f'the job\'s message stream: {error.details()}')
    return StreamEnd(False, error, threads.first)


def _cancel(result, timeout: float) -> None:
    """Cancels the job; a runner already gone (its channel closed) has nothing to cancel."""
    done = threading.Event()

    def cancel():
        try:
            result.cancel()
        except Exception:  # noqa: BLE001 - the runner went with the Ctrl-C: nothing to cancel
            pass
        done.set()

    threading.Thread(target=cancel, name='newswire-cancel-job', daemon=True).start()
    done.wait(timeout)
