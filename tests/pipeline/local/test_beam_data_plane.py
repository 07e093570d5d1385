"""The data-plane patch: Beam's time-based stream splits elements across flushes, ours does not."""

import threading
import time

import pytest
from apache_beam.coders.stream import InputStream
from apache_beam.runners.worker import data_plane

from newswire.pipeline.local import beam_data_plane
from newswire.pipeline.local.beam_data_plane import BEAM_STREAM, ElementBoundaryFlushingStream
from tests.conftest import SEEDS, FakeClock

# Beam's smallest time limit: its thread flushes every millisecond, many times per batch below.
PERIOD_MS = 1
BATCH = 1000
DEADLINE_SECONDS = 10


def _write_element(stream, index):
    """A length-prefixed body in two writes, as Beam's coders write an element in several calls;
    a flush between the two splits the element."""
    body = b'element-%08d' % index
    stream.write_var_int64(len(body))
    stream.write(body)
    stream.maybe_flush()


def _split_in(message: bytes) -> bool:
    """True when `message` does not end on an element boundary."""
    stream = InputStream(message)
    while stream.size():
        length = stream.read_var_int64()
        if stream.size() < length:
            return True
        stream.read(length)
    return False


def _elements(data: bytes) -> list:
    stream = InputStream(data)
    elements = []
    while stream.size():
        elements.append(stream.read(stream.read_var_int64()))
    return elements


def _write_until(stream_class, messages, done):
    """Writes batches of elements into a stream of `stream_class` (flushed into `messages`) until
    `done(written)` or the deadline; returns the number of elements written."""
    stream = stream_class(messages.append, flush_callback=messages.append,
                          time_flush_threshold_ms=PERIOD_MS)
    written = 0
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while not done(written) and time.monotonic() < deadline:
            for _ in range(BATCH):
                _write_element(stream, written)
                written += 1
    finally:
        stream.close()
    return written


class _SplitSeen:
    """`done` for `_write_until`: true once a message split an element. Reads each message once,
    so the writer spends its time writing elements, where the flushing thread interrupts it."""

    def __init__(self, messages):
        self.messages, self.checked, self.seen = messages, 0, False

    def __call__(self, _written):
        new = self.messages[self.checked:]
        self.checked += len(new)
        self.seen = self.seen or any(_split_in(m) for m in new)
        return self.seen


def test_beams_time_flush_cuts_an_element_its_writer_is_halfway_through():
    """The bug the patch exists for, deterministically: Beam's flushing thread runs its flush
    function, here on a thread of ours at a chosen moment, while the writer has written half an
    element. When this fails, Beam has fixed it: remove the patch."""
    messages = []
    # A limit of an hour: Beam's own thread never fires during the test; we run its function.
    stream = BEAM_STREAM(messages.append, flush_callback=messages.append,
                         time_flush_threshold_ms=3_600_000)
    periodic_flush = stream._periodic_flusher._function
    body = b'element-00000000'
    stream.write_var_int64(len(body))  # the first half of the element
    flusher = threading.Thread(target=periodic_flush)
    flusher.start()
    # A fixed Beam would hold this flush until the element is whole: give it the rest then.
    flusher.join(timeout=DEADLINE_SECONDS)
    stream.write(body)
    stream.maybe_flush()
    flusher.join()
    stream.close()
    assert b''.join(messages) == bytes([len(body)]) + body
    assert any(_split_in(m) for m in messages), (
        f'expected Beam {BEAM_STREAM.__name__}\'s time-based flush to cut the element in two; '
        f'it went out whole in {messages}: check whether Beam fixed the race and remove '
        'newswire.pipeline.beam_data_plane')


@pytest.mark.slow  # a race: up to DEADLINE_SECONDS of writing until Beam's thread cuts an element
def test_beam_stream_splits_elements_while_writing():
    """The bug the patch exists for, as it happens: Beam's own thread, flushing every millisecond,
    cuts an element in two. When this fails, Beam has fixed it: remove the patch."""
    messages = []
    _write_until(BEAM_STREAM, messages, _SplitSeen(messages))
    assert any(_split_in(m) for m in messages), (
        f'expected Beam {BEAM_STREAM.__name__} to split an element across its {len(messages)} '
        f'messages within {DEADLINE_SECONDS} s; none split: check whether Beam fixed the race and '
        'remove newswire.pipeline.local.beam_data_plane')


def test_patched_stream_flushes_by_time_between_whole_elements():
    messages = []
    flushes = 50
    # Each period elapses within a batch, so each batch flushes at least once.
    written = _write_until(ElementBoundaryFlushingStream, messages,
                           lambda _: len(messages) > flushes)
    assert len(messages) > flushes, f'{len(messages)} messages in {DEADLINE_SECONDS} s'
    assert [m for m in messages if _split_in(m)] == []
    assert _elements(b''.join(messages)) == [b'element-%08d' % i for i in range(written)]


def test_patched_stream_flushes_at_the_first_boundary_past_the_time_limit():
    clock, messages = FakeClock(100.0), []
    stream = ElementBoundaryFlushingStream(messages.append, flush_callback=messages.append,
                                           time_flush_threshold_ms=1000, clock=clock)
    # The worked example of the class docstring: the stream was made at 100.0 s.
    for index, at in enumerate((100.2, 100.9, 101.4, 101.5)):
        clock.now = at
        _write_element(stream, index)
    assert [_elements(m) for m in messages] == [[b'element-00000000', b'element-00000001',
                                                b'element-00000002']]
    stream.close()
    assert _elements(messages[-1]) == [b'element-00000003']


def test_patched_stream_keeps_the_size_threshold():
    clock, messages = FakeClock(100.0), []
    stream = ElementBoundaryFlushingStream(messages.append, flush_callback=messages.append,
                                           size_flush_threshold=40,
                                           time_flush_threshold_ms=1000, clock=clock)
    for index in range(6):  # 17 bytes each: the third write passes 40 bytes
        _write_element(stream, index)
    assert [len(_elements(m)) for m in messages] == [3, 3]


@pytest.fixture
def restored_data_plane():
    before = data_plane.TimeBasedBufferingClosableOutputStream
    yield
    data_plane.TimeBasedBufferingClosableOutputStream = before


def test_install_swaps_beams_class_once(restored_data_plane):
    beam_data_plane.install()
    beam_data_plane.install()
    assert data_plane.TimeBasedBufferingClosableOutputStream is ElementBoundaryFlushingStream
    assert ElementBoundaryFlushingStream.__bases__ == (BEAM_STREAM,)
    stream = data_plane.ClosableOutputStream.create(None, None, data_buffer_time_limit_ms=1000)
    assert type(stream) is ElementBoundaryFlushingStream
    stream.close()


def test_uninstall_gives_beam_its_class_back(restored_data_plane):
    beam_data_plane.install()
    beam_data_plane.uninstall()
    assert data_plane.TimeBasedBufferingClosableOutputStream is BEAM_STREAM
    assert not beam_data_plane.installed()
