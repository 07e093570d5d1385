"""Dead letters: every record a stage cannot handle, with the stage, the reason and the original.

Each stage's DoFn yields its good output on the main tag and a `DeadLetter` on `DEAD_LETTER` for the
failures it expects (empty text, no extractable HTML, ...). `ApplyStage` also catches what it does not
expect: an exception escaping the DoFn becomes a dead letter with reason `unexpected_error`, so one
bad record can neither crash the pipeline nor vanish. Given a time limit, it also stops a record that
takes longer (reason `timeout`), so one slow record cannot stall the pipeline.
Records in = enriched + dead letters.
"""

from __future__ import annotations

import base64
import logging
import math
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Union

import apache_beam as beam
from apache_beam.metrics import Metrics

from newswire.transforms.records import Document, SourceRef
from newswire.transforms.time_limit import TimeLimitedFn

DEAD_LETTER = 'dead_letter'

# A dead letter carries its original bytes when they are at most this long (else only the reference).
MAX_ORIGINAL_BYTES = 64 * 1024


@dataclass(frozen=True)
class DeadLetter:
    stage: str
    reason: str
    detail: str
    source: SourceRef
    original: Optional[str] = None
    original_encoding: Optional[str] = None  # 'utf-8' or 'base64'
    original_bytes: Optional[int] = None

    def to_json_dict(self) -> dict:
        """The dead letter as JSON values that always serialise (`writable`): writing a dead letter
        is the last step for a record that failed, so it must not fail in its turn."""
        return writable({
            'stage': self.stage,
            'reason': self.reason,
            'detail': self.detail,
            'source': self.source.to_json_dict(),
            'original': self.original,
            'original_encoding': self.original_encoding,
            'original_bytes': self.original_bytes,
        })


def writable(value):
    """`value` made of what strict UTF-8 JSON can always hold, for the fields of a dead letter.

    Strings with a lone surrogate (valid in a JSON escape, not encodable as UTF-8) get it as the
    text `\\udXXX` ('backslashreplace'), so the reader still sees where it was; ints past 18 digits,
    non-finite floats and values of other types become their `ascii()` text. Strings that are fine
    are returned as they are, so a normal dead letter's JSON does not change.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value.encode('utf-8')
            return value
        except UnicodeEncodeError:
            return value.encode('utf-8', 'backslashreplace').decode('utf-8')
    if isinstance(value, int):
        return value if -10**18 < value < 10**18 else _ascii_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else _ascii_text(value)
    if isinstance(value, dict):
        return {writable(k if isinstance(k, str) else _ascii_text(k)): writable(v)
                for k, v in value.items()}
    return _ascii_text(value)


def _ascii_text(value) -> str:
    try:
        return ascii(value)[:2000]
    except Exception:  # a value whose repr fails or runs past the digit limit  # noqa: BLE001
        return f'<unprintable {type(value).__name__}>'


def dead_letter(stage: str, reason: str, detail: str, source: SourceRef,
                original: Union[bytes, str, None] = None) -> DeadLetter:
    """A dead letter that keeps `original` when it is small: as text if it is UTF-8, else base64."""
    if original is None:
        return DeadLetter(stage, reason, detail, source)
    raw = original.encode('utf-8', 'surrogatepass') if isinstance(original, str) else original
    if len(raw) > MAX_ORIGINAL_BYTES:
        return DeadLetter(stage, reason, detail, source, original_bytes=len(raw))
    try:
        return DeadLetter(stage, reason, detail, source, raw.decode('utf-8'), 'utf-8', len(raw))
    except UnicodeDecodeError:
        return DeadLetter(stage, reason, detail, source, base64.b64encode(raw).decode('ascii'),
                          'base64', len(raw))


class StageOutputs(NamedTuple):
    good: beam.PCollection
    dead_letters: beam.PCollection


def unexpected_error(stage: str, element: Any, error: Any,
                     timeout_seconds: Optional[float] = None) -> DeadLetter:
    """The dead letter of `element`, on which `stage` raised `error`: an exception, or Beam's
    (type, message, traceback) tuple. A `TimeoutError` is reason `timeout`."""
    if isinstance(element, tuple) and element and isinstance(element[0], Document):
        element = element[0]  # a document travelling with something a stage added to it
    exc_type, message = (error[0], error[1]) if isinstance(error, tuple) else (type(error), error)
    name = getattr(exc_type, '__name__', str(exc_type))
    timed_out = isinstance(exc_type, type) and issubclass(exc_type, TimeoutError)
    logging.getLogger(__name__).warning('stage %s failed on a record: %s: %s', stage, name, message)
    if isinstance(element, Document):
        source, original = element.source, element.html or element.text
    elif isinstance(getattr(element, 'source', None), SourceRef):  # e.g. a Pub/Sub delivery
        source, original = element.source, getattr(element, 'original', None)
    else:
        source, original = SourceRef(kind='unknown', id=repr(element)[:200]), None
    if timed_out:
        reason, detail = 'timeout', f'not done within {timeout_seconds} s'
    else:
        reason, detail = 'unexpected_error', f'{name}: {message}'[:2000]
    return dead_letter(stage, reason, detail, source, original)


class _UnexpectedErrorToDeadLetterFn(beam.DoFn):
    """Turns Beam's (element, (type, message, traceback)) error tuples into dead letters: one per
    document of a failed batch (a list of documents, as a batching stage gets them)."""

    def __init__(self, stage: str, timeout_seconds: Optional[float] = None):
        self._stage = stage
        self._timeout_seconds = timeout_seconds
        self._errors = Metrics.counter('newswire', f'{stage}_unexpected_errors')

    def process(self, failed: tuple[Any, Any]):
        element, error = failed
        for each in (element if _is_batch_of_documents(element) else [element]):
            self._errors.inc()
            yield unexpected_error(self._stage, each, error, self._timeout_seconds)


def _is_batch_of_documents(element: Any) -> bool:
    """A list of documents, each maybe travelling with what a stage added (`batches.Stamped`)."""
    return isinstance(element, list) and bool(element) and all(
        isinstance(each, Document) or (isinstance(each, tuple) and each
                                       and isinstance(each[0], Document))
        for each in element)


class ApplyStage(beam.PTransform):
    """Runs one stage's DoFn and returns `StageOutputs(good, dead_letters)`.

    The DoFn's expected failures arrive on `DEAD_LETTER`; anything it raises is caught per element and
    turned into a dead letter too. With `timeout_seconds`, an element not done in time is a dead letter
    with reason `timeout`.

    The time limit runs the element in the bundle's thread and stops it from a watchdog thread
    (`time_limit.TimeLimitedFn`): Python code stops at once, a C call when it returns. A stage whose
    time may go to C calls that release the GIL and run long (lxml's parser) passes `blocking=True`
    for Beam's own limit (`with_exception_handling(timeout=...)`): each element in a pool thread,
    which the bundle's thread gives up on after the limit, whatever it is doing. That costs two
    thread switches per element, and the thread of a timed-out element runs on in the background
    (beside the next element's, so such a stage's shared state must tolerate that).
    """

    def __init__(self, fn: beam.DoFn, stage: str, timeout_seconds: Optional[float] = None,
                 blocking: bool = False):
        super().__init__()
        self._fn = fn
        self._stage = stage
        self._timeout_seconds = timeout_seconds
        self._blocking = blocking

    @property
    def timeout_seconds(self) -> Optional[float]:
        return self._timeout_seconds

    def expand(self, pcoll):
        fn, beam_timeout = self._fn, None
        if self._timeout_seconds and self._blocking:
            beam_timeout = self._timeout_seconds
        elif self._timeout_seconds:
            fn = TimeLimitedFn(fn, self._timeout_seconds)
        outputs = (
            pcoll
            | 'Process' >> beam.ParDo(fn)
            .with_output_types(Any, **{DEAD_LETTER: DeadLetter})
            .with_outputs(DEAD_LETTER, main='good')
            .with_exception_handling(main_tag='good', dead_letter_tag='failed',
                                     timeout=beam_timeout))
        unexpected = outputs['failed'] | 'ErrorsToDeadLetters' >> beam.ParDo(
            _UnexpectedErrorToDeadLetterFn(self._stage, self._timeout_seconds))
        dead = (outputs[DEAD_LETTER], unexpected) | 'MergeDeadLetters' >> beam.Flatten()
        return StageOutputs(outputs['good'], dead)
