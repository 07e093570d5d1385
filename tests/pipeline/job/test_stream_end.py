"""`wait_for_stream`: Ctrl-C is a stop however the runner ended, a runner gone is one line, other
errors pass through; threads and Beam's worker loggers that end on a lost runner print nothing."""

import logging
import os
import signal
import threading

import grpc
import pytest

from newswire.pipeline.job.stream_end import StreamEnd, is_disconnect, wait_for_stream


class _RpcError(grpc.RpcError):
    def __init__(self, code):
        super().__init__()
        self._code = code

    def code(self):
        return self._code

    def details(self):
        return 'Stream removed (Socket closed)'


class _Job:
    """A PipelineResult whose wait blocks until `end` (or a cancel); records cancels."""

    def __init__(self, raises=None, cancel_raises=None, on_wait=None):
        self._finished = threading.Event()
        self._on_wait = on_wait
        self._raises = raises
        self._cancel_raises = cancel_raises
        self.cancelled = threading.Event()

    def wait_until_finish(self):
        if self._on_wait is not None:  # the wait runs once the Ctrl-C handler is in place
            self._on_wait()
        self._finished.wait()
        if self._raises is not None:
            raise self._raises
        return 'DONE'

    def end(self):
        self._finished.set()

    def cancel(self):
        self.cancelled.set()
        if self._cancel_raises is not None:
            raise self._cancel_raises
        self._finished.set()


@pytest.fixture(autouse=True)
def _restore_hooks():
    hook, handler = threading.excepthook, signal.getsignal(signal.SIGINT)
    yield
    threading.excepthook = hook
    signal.signal(signal.SIGINT, handler)


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


def test_a_job_that_finishes_ends_plainly():
    job = _Job()
    job.end()
    assert wait_for_stream(job) == StreamEnd(False, None, None)


def test_ctrl_c_cancels_the_job_and_is_a_stop():
    job = _Job(on_wait=_ctrl_c)
    assert wait_for_stream(job) == StreamEnd(True, None, None)
    assert job.cancelled.is_set()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_ctrl_c_that_also_took_the_runner_down_is_still_a_stop():
    # A terminal's Ctrl-C stops Prism too: cancelling finds its channel closed.
    job = _Job(cancel_raises=ValueError('Cannot invoke RPC on closed channel!'), on_wait=_ctrl_c)
    assert wait_for_stream(job).stopped


def test_a_runner_gone_without_ctrl_c_is_a_lost_runner_not_an_error():
    job = _Job(raises=_RpcError(grpc.StatusCode.UNAVAILABLE))
    job.end()
    end = wait_for_stream(job)
    assert not end.stopped and end.error is None
    assert 'Socket closed' in end.lost_runner


def test_any_other_failure_of_the_job_is_its_error():
    failure = RuntimeError('Pipeline job-001 failed in state FAILED')
    job = _Job(raises=failure)
    job.end()
    assert wait_for_stream(job) == StreamEnd(False, failure, None)


def test_threads_ending_on_a_lost_runner_are_quiet_and_others_still_reported():
    reported = []
    threading.excepthook = lambda args: reported.append(args.exc_value)
    job = _Job()
    job.end()
    wait_for_stream(job)

    def fail(error):
        raise error

    disconnect, bug = _RpcError(grpc.StatusCode.UNAVAILABLE), KeyError('bug')
    for error in (disconnect, bug):
        thread = threading.Thread(target=fail, args=(error,))
        thread.start()
        thread.join()
    assert reported == [bug]


def test_beam_worker_logs_of_a_lost_runner_are_dropped(caplog):
    job = _Job()
    job.end()
    wait_for_stream(job)
    logger = logging.getLogger('apache_beam.runners.worker.data_plane')
    for error in (_RpcError(grpc.StatusCode.UNAVAILABLE), OSError('disk full')):
        try:
            raise error
        except Exception:
            logger.exception('Failed to read inputs in the data plane.')
    assert [record.exc_info[1].__class__ for record in caplog.records] == [OSError]


def test_what_counts_as_a_lost_runner():
    assert is_disconnect(_RpcError(grpc.StatusCode.UNAVAILABLE))
    assert is_disconnect(_RpcError(grpc.StatusCode.CANCELLED))
    assert not is_disconnect(_RpcError(grpc.StatusCode.INVALID_ARGUMENT))
    assert not is_disconnect(ValueError('x'))
