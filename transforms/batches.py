"""Batches of a bundle's elements that keep each element's timestamp and window.

Beam's `BatchElements` gives every batch the end of its window as timestamp: in a stream, records
would leave a batching stage stamped at the end of time, and downstream state, timers and windows
would see them so. `BatchWithinBundle` makes batches of `Stamped` elements, each with the timestamp
and window it came with, and a stage restores them on its outputs (`restamped`).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, NamedTuple

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import BoundedWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue


class Stamped(NamedTuple):
    """An element as it was before batching: its value, timestamp and window."""

    value: Any
    timestamp: Timestamp
    window: BoundedWindow


class BatchWithinBundle(beam.DoFn):
    """Elements -> lists of up to `size` `Stamped` elements of one window, made within a bundle:
    nothing waits for a batch to fill. A batch's own timestamp is its earliest element's, so that
    restoring each element's is never a step back in time."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f'a batch holds at least one element, got {size}')
        self._size = size
        self._batches: dict[BoundedWindow, list[Stamped]] = {}

    def start_bundle(self):
        self._batches = {}

    def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        batch = self._batches.setdefault(window, [])
        batch.append(Stamped(element, timestamp, window))
        if len(batch) >= self._size:
            del self._batches[window]
            yield _windowed(batch, window)

    def finish_bundle(self):
        batches, self._batches = self._batches, {}
        for window, batch in batches.items():
            yield _windowed(batch, window)


def _windowed(batch: list[Stamped], window: BoundedWindow) -> WindowedValue:
    return WindowedValue(batch, min(stamped.timestamp for stamped in batch), (window,))


def restamped(batch: Iterable[Stamped], outputs: Iterable[Any]) -> Iterator[Any]:
    """Each of `outputs` (one per element of `batch`, in its order; a value or a `TaggedOutput`) with
    the timestamp and window of its element."""
    batch, outputs = list(batch), list(outputs)
    if len(outputs) != len(batch):
        raise ValueError(f'{len(outputs)} outputs for a batch of {len(batch)}: one each is needed')
    for stamped, output in zip(batch, outputs):
        if isinstance(output, TaggedOutput):
            yield TaggedOutput(output.tag, WindowedValue(output.value, stamped.timestamp,
                                                         (stamped.window,)))
        else:
            yield WindowedValue(output, stamped.timestamp, (stamped.window,))
