import threading

import apache_beam as beam
import pytest

from newswire.transforms.time_limit import StageTimeout, TimeLimitedFn, Watchdog
from tests.conftest import FakeClock


class _LoopFn(beam.DoFn):
    """Loops in Python until `stop` is set, once `started` says it is running; catches nothing
    unless `swallow`."""

    def __init__(self, swallow=False):
        self.started, self.stop = threading.Event(), threading.Event()
        self.swallow = swallow
        self.finished = False

    def process(self, element):
        self.started.set()
        try:
            while not self.stop.is_set():
                pass
        except StageTimeout:
            if not self.swallow:
                raise
        self.finished = True
        yield element


def _run_in_thread(fn, element):
    """Runs fn.process(element) in a thread of its own; returns (thread, outcome dict)."""
    outcome = {}

    def target():
        try:
            outcome['outputs'] = fn.process(element)
        except StageTimeout as error:
            outcome['error'] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_an_element_done_in_time_keeps_its_outputs_and_nothing_fires_later():
    clock = FakeClock()
    watchdog = Watchdog(clock)
    fn = TimeLimitedFn(beam.Map(lambda x: x).dofn, 30, watchdog)
    fn.setup()
    assert fn.process('report') == ['report']
    clock.now += 3600
    assert watchdog.check() is None  # nothing watched is left to fire on
    assert sum(range(10_000)) == 49_995_000  # Python keeps running here without an exception


def test_python_past_its_deadline_is_stopped_with_stage_timeout():
    clock = FakeClock()
    watchdog = Watchdog(clock)
    inner = _LoopFn()
    fn = TimeLimitedFn(inner, 30, watchdog)
    fn.setup()
    thread, outcome = _run_in_thread(fn, 'pathological')
    assert inner.started.wait(10)
    clock.now += 29
    assert watchdog.check() == 1030.0  # not yet: the earliest deadline is returned
    clock.now += 2
    watchdog.check()
    thread.join(10)
    inner.stop.set()
    assert isinstance(outcome.get('error'), StageTimeout)
    assert not inner.finished  # the loop was stopped, not left running


def test_a_stage_that_swallows_the_timeout_still_loses_its_result():
    clock = FakeClock()
    watchdog = Watchdog(clock)
    inner = _LoopFn(swallow=True)
    fn = TimeLimitedFn(inner, 5, watchdog)
    fn.setup()
    thread, outcome = _run_in_thread(fn, 'caught')
    assert inner.started.wait(10)
    clock.now += 6
    watchdog.check()
    thread.join(10)
    assert inner.finished
    assert isinstance(outcome.get('error'), StageTimeout)
    assert 'outputs' not in outcome


def test_a_timeout_fired_during_a_blocking_call_lands_when_the_call_returns():
    clock = FakeClock()
    watchdog = Watchdog(clock)
    release, entered = threading.Event(), threading.Event()

    class BlockingFn(beam.DoFn):
        def process(self, element):
            entered.set()
            release.wait(60)  # one C call that releases the GIL: the exception waits for it
            yield element

    fn = TimeLimitedFn(BlockingFn(), 1, watchdog)
    fn.setup()
    thread, outcome = _run_in_thread(fn, 'waits')
    assert entered.wait(10)
    clock.now += 2
    watchdog.check()
    assert thread.is_alive()
    release.set()
    thread.join(10)
    assert isinstance(outcome.get('error'), StageTimeout)


@pytest.mark.parametrize('first_seconds', [None, 3600.0], ids=['idle', 'asleep-till-later'])
def test_the_watchdog_thread_wakes_for_a_deadline_earlier_than_it_sleeps_to(first_seconds):
    watchdog = Watchdog()  # the real clock and the real watchdog thread
    if first_seconds:  # another thread's element, due in an hour: the watchdog sleeps till then
        watchdog.watch(first_seconds).thread = -1
    inner = _LoopFn()
    fn = TimeLimitedFn(inner, 0.2, watchdog)
    fn.setup()
    thread, outcome = _run_in_thread(fn, 'slow')
    thread.join(30)
    inner.stop.set()
    assert isinstance(outcome.get('error'), StageTimeout)


def test_elements_one_after_another_each_get_the_whole_limit():
    clock = FakeClock()
    watchdog = Watchdog(clock)
    fn = TimeLimitedFn(beam.Map(lambda x: x).dofn, 10, watchdog)
    fn.setup()
    for step in range(5):  # 5 x 8 s: past one limit in all, within it for each element
        clock.now += 8
        assert fn.process(step) == [step]
        assert watchdog.check() is None
