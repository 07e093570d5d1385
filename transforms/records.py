"""Typed records that flow between the stages.

A `Document` enters as what a source read (text or HTML plus whatever metadata the source had) and
leaves as an enriched record: every stage returns a copy with its own fields filled in
(`Document.replaced`), never mutating its input. `to_json_dict` turns it into the enriched record
documented by `pipeline/schemas/enriched_record.schema.json`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterator, Optional

import numpy as np

from newswire.transforms.literals import every_character


@dataclass(frozen=True)
class SourceRef:
    """Where a document came from.

    `kind` is one of text_file, html_file, jsonl, pubsub, feed. `id` is the input record's own id when
    it had one, else the file path (relative to the input it was found under) or the message id.
    `receipt` is how to acknowledge the delivery the document came in (a Pub/Sub ack id, when a local
    run acknowledges after publishing: see pipeline/local/pubsub_local.py); it is never written out.
    """

    kind: str
    id: str
    path: Optional[str] = None
    url: Optional[str] = None
    line: Optional[int] = None
    outlet: Optional[str] = None
    receipt: Optional[str] = field(default=None, compare=False, repr=False)

    def to_json_dict(self) -> dict:
        out = {'kind': self.kind, 'id': self.id, 'outlet': self.outlet}
        if self.path is not None:
            out['path'] = self.path
        if self.url is not None:
            out['url'] = self.url
        if self.line is not None:
            out['line'] = self.line
        return out


@dataclass(frozen=True)
class Removal:
    """A piece of page chrome the cleaner took out, and the rule that took it."""

    rule: str
    text: str


@dataclass(frozen=True)
class Dateline:
    place: str
    month: Optional[str] = None
    day: Optional[int] = None


@dataclass(frozen=True)
class Language:
    code: str
    confidence: float


UNDETERMINED = Language('und', 0.0)


@dataclass(frozen=True)
class Evidence:
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Tag:
    id: str
    label: str
    score: float
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class DedupInfo:
    """The three duplicate tiers for one document.

    `tier` is the strongest tier that applies: exact, near_copy, same_story (the document joined an
    earlier document's story) or None (canonical: the first of its story). `similarity` holds the score
    behind `near_duplicate_of` and behind joining the story.
    """

    content_hash: str
    story_id: str
    tier: Optional[str] = None
    duplicate_of: Optional[str] = None
    near_duplicate_of: Optional[str] = None
    near_copy_similarity: Optional[float] = None
    story_similarity: Optional[float] = None


@dataclass(frozen=True)
class EmbeddedArticle:
    """A second article run on inside a record's text: its headline and where it starts.

    `start` is the character offset in `text` of the headline line, `body_start` of the body after
    it; the text is kept whole, so `text[start:]` is the embedded article (transforms/parts.py).
    """

    headline: str
    start: int
    body_start: int


@dataclass(frozen=True)
class Document:
    """One news item on its way through the stages.

    `extra` holds the input keys newswire does not know, as they came, except that a float JSON has
    no literal for (NaN, Infinity, -Infinity: Python's json reads them) is written as the string
    "NaN", "Infinity" or "-Infinity" (`json_safe`), so every output line is strict JSON.
    """

    id: str
    source: SourceRef
    text: str
    title: Optional[str] = None
    html: Optional[str] = None
    published_at: Optional[str] = None
    extra: dict = field(default_factory=dict)
    removed: tuple[Removal, ...] = ()
    dateline: Optional[Dateline] = None
    language: Optional[Language] = None
    tags: tuple[Tag, ...] = ()
    dedup: Optional[DedupInfo] = None
    # Facts a cleaning rule captured (outlet, published) for the metadata stage to weigh.
    captured: tuple[tuple[str, str], ...] = ()
    # How `published_at` was found: one of transforms/dates.py PUBLISHED_AT_SOURCES, or None.
    published_at_source: Optional[str] = None
    embedded_articles: tuple[EmbeddedArticle, ...] = ()
    # The UTC day (ISO) the record arrived: its element timestamp (a message's publish time) as the
    # metadata stage saw it, kept for dating a yearless dateline after dedup (transforms/dates.py),
    # whose timers move timestamps. Not written out.
    arrival_day: Optional[str] = field(default=None, compare=False, repr=False)

    def replaced(self, **changes) -> 'Document':
        """A copy with `changes`: the copy `dataclasses.replace(self, **changes)` makes (a name
        that is not a field is a TypeError), made by copying the field values rather than calling
        `__init__`, which sets a frozen dataclass's fields one `object.__setattr__` at a time.
        Every stage copies every document, some several times."""
        unknown = changes.keys() - _DOCUMENT_FIELDS
        if unknown:
            raise TypeError(f'Document has no field {", ".join(sorted(unknown))}')
        copy = object.__new__(Document)
        copy.__dict__.update(self.__dict__, **changes)
        return copy

    def to_json_dict(self) -> dict:
        dedup = self.dedup
        return {
            'id': self.id,
            'source': self.source.to_json_dict(),
            'title': self.title,
            'text': self.text,
            'removed': [{'rule': r.rule, 'text': r.text} for r in self.removed],
            'published_at': self.published_at,
            'published_at_source': self.published_at_source,
            'embedded_articles': [dataclasses.asdict(a) for a in self.embedded_articles],
            'dateline': dataclasses.asdict(self.dateline) if self.dateline else None,
            'language': dataclasses.asdict(self.language or UNDETERMINED),
            'dedup': None if dedup is None else {
                'content_hash': dedup.content_hash,
                'tier': dedup.tier,
                'duplicate_of': dedup.duplicate_of,
                'near_duplicate_of': dedup.near_duplicate_of,
                'story_id': dedup.story_id,
                'similarity': {
                    'near_copy': dedup.near_copy_similarity,
                    'same_story': dedup.story_similarity,
                },
            },
            'topics': [{
                'id': t.id,
                'label': t.label,
                'score': t.score,
                'evidence': [dataclasses.asdict(e) for e in t.evidence],
            } for t in self.tags],
            'extra': json_safe(self.extra),
        }


_DOCUMENT_FIELDS = frozenset(f.name for f in dataclasses.fields(Document))


def record_id(source: SourceRef, text: str) -> str:
    """A record id that is stable across runs for the same input.

    It names the input (kind, id, line) and its content, so the same file read again keeps its id and a
    different input that happens to share a path does not.
    """
    key = '\x1f'.join([source.kind, source.id, str(source.line or ''), content_hash(text)])
    return hashlib.sha256(key.encode('utf-8')).hexdigest()[:20]


def normalize_for_hash(text: str) -> str:
    """Text as compared for exact duplicates: NFKC, case-folded, whitespace and punctuation folded.

    The runs of alphanumerics (`str.isalnum`) of `unicodedata.normalize('NFKC', text).casefold()`,
    joined by single spaces. See `normalized_bytes` for how it is computed.
    """
    return normalized_bytes(text).decode('utf-8')


def normalized_bytes(text: str) -> bytes:
    """`normalize_for_hash(text)` as UTF-8, computed mostly on bytes.

    The record id hashes whole pages of HTML, which are nearly all ASCII, and re's `\\w` test walks
    them a character at a time. So the ASCII is folded by a byte table (letters lower-cased, other
    symbols to spaces) and only the runs of non-ASCII text (`_fold_non_ascii_runs`) go through
    NFKC, `casefold` and the alphanumeric test. That gives the same result as folding the
    whole text because an ASCII character is a boundary NFKC cannot see across (combining class 0,
    NFKC-stable, never the second of a composed pair; the ASCII character just before a run goes
    with it, since a combining mark after it can compose with it) and `casefold` maps each
    character on its own.
    """
    data = text.encode('utf-8', 'surrogatepass')  # a lone surrogate is not alphanumeric: dropped
    if not data.isascii():
        # Bytes beyond one a character: at least one for each non-ASCII character.
        data = _fold_non_ascii_runs(data, len(data) - len(text))
    return _single_spaced(data.translate(_ASCII_FOLD))


def _single_spaced(folded: bytes) -> bytes:
    """`b' '.join(folded.split())` for folded bytes, whose only ASCII white space is b' '.

    A page of HTML splits into some 20,000 words, each a bytes object; numpy keeps each space that
    follows a non-space instead, without them. Below a kilobyte the split is the quicker."""
    if len(folded) < 1024:
        return b' '.join(folded.split())
    array = np.frombuffer(folded, np.uint8)
    space = array == 0x20
    keep = ~space
    keep[1:] |= ~space[:-1]  # and the first space after each non-space: one space per gap
    return array[keep].tobytes().strip(b' ')


# ASCII letters lower-cased, digits kept, every other ASCII byte a space; bytes over 0x7f kept.
_ASCII_FOLD = bytes(
    byte if (0x30 <= byte <= 0x39 or 0x61 <= byte <= 0x7a or byte >= 0x80)
    else byte + 0x20 if 0x41 <= byte <= 0x5a else 0x20
    for byte in range(256))
_NOT_ALNUM = re.compile(r'[\W_]+')  # for str patterns `[^\W_]` is exactly `str.isalnum`


def _fold_non_ascii_runs(data: bytes, extra_bytes: int) -> bytes:
    """UTF-8 `data` with each run of non-ASCII characters, and the ASCII character before it,
    replaced by its NFKC case fold with every non-alphanumeric character as a space.

    `extra_bytes` (UTF-8 bytes beyond one a character) says how many non-ASCII characters there
    can be. With few, as in an English text with a few quotation marks, each run is folded on its
    own (`_each_run`); with more, as in a page in another script, runs close together are folded as
    one stretch (`_non_ascii_stretches`)."""
    spans = _each_run(data) if extra_bytes < _FEW_EXTRA_BYTES else _non_ascii_stretches(data)
    pieces = []
    done = 0
    for begin, end in spans:
        pieces.append(data[done:begin])
        chunk = data[begin:end].decode('utf-8', 'surrogatepass')
        pieces.append(_alphanumerics_or_spaces(unicodedata.normalize('NFKC', chunk).casefold()))
        done = end
    pieces.append(data[done:])
    return b''.join(pieces)


_FEW_EXTRA_BYTES = 64


def _each_run(data: bytes) -> Iterator[tuple[int, int]]:
    """(begin, end) of each run of non-ASCII bytes of `data` with the ASCII byte before it."""
    marks = data.translate(_HIGH_MARKS)
    done = 0
    start = marks.find(0x80)
    while start >= 0:
        end = marks.find(0, start)
        if end < 0:
            end = len(data)
        yield max(start - 1, done), end
        done = end
        start = marks.find(0x80, end)


# Every ASCII byte as 0x00, every other as 0x80, so that `_each_run` finds the runs by `bytes.find`
# (memchr) instead of a regex stepping through every byte.
_HIGH_MARKS = bytes(0x80 if byte >= 0x80 else 0 for byte in range(256))


def _non_ascii_stretches(data: bytes) -> list[tuple[int, int]]:
    """(begin, end) of each run of non-ASCII bytes of `data` with the byte before it, runs fewer than
    `_ASCII_GAP` bytes apart taken as one stretch with the ASCII between them.

    A page in Russian, Armenian or Georgian is tens of thousands of runs, one a word; folding each
    on its own costs a few microseconds of calls a word, where folding the few ASCII bytes between
    them along costs less. A stretch may hold ASCII (it folds to itself), but must begin and end at
    an ASCII character (see `normalized_bytes`): each begins with the ASCII byte before its first
    run, if there is one, and ends before the ASCII byte after its last."""
    high = np.frombuffer(data, np.uint8) >= 0x80
    edges = np.flatnonzero(high[1:] != high[:-1]) + 1
    starts = edges[high[edges]]
    ends = edges[~high[edges]]
    if high[0]:
        starts = np.concatenate([[0], starts])
    if high[-1]:
        ends = np.concatenate([ends, [len(data)]])
    first = np.ones(len(starts), dtype=bool)  # runs that begin a stretch
    first[1:] = starts[1:] - ends[:-1] >= _ASCII_GAP
    last = np.ones(len(starts), dtype=bool)
    last[:-1] = first[1:]
    return list(zip(np.maximum(starts[first] - 1, 0).tolist(), ends[last].tolist()))


_ASCII_GAP = 64


def _alphanumerics_or_spaces(folded: str) -> bytes:
    """`folded` as UTF-8 with every character that is not `str.isalnum` a space.

    A short text goes through re; a long one is looked up in a table of every code point at once,
    where re would test one character after another (a lone surrogate, not alphanumeric, goes too)."""
    if len(folded) < _TABLE_FROM:
        return _NOT_ALNUM.sub(' ', folded).encode('utf-8')
    code_points = np.frombuffer(folded.encode('utf-32-le', 'surrogatepass'), dtype='<u4')
    kept = np.where(_alphanumeric_table()[code_points], code_points, np.uint32(0x20))
    return kept.tobytes().decode('utf-32-le').encode('utf-8')


_TABLE_FROM = 128


@functools.lru_cache(maxsize=None)
def _alphanumeric_table() -> np.ndarray:
    """Code point -> `str.isalnum()`, for every code point; built once a process, when a long stretch
    first needs it."""
    every = every_character()
    return np.fromiter(map(str.isalnum, every), dtype=bool, count=len(every))


def content_hash(text: str) -> str:
    return hashlib.sha256(normalized_bytes(text)).hexdigest()[:32]


def hash_of_normalized(normalized: str) -> str:
    """`content_hash` of a text already passed through `normalize_for_hash` (the dedup signer
    normalises once for both the hash and the shingles)."""
    return hashlib.sha256(normalized.encode('utf-8')).hexdigest()[:32]


_NON_FINITE = {'nan': 'NaN', 'inf': 'Infinity', '-inf': '-Infinity'}


def json_safe(value):
    """`value` with every NaN, Infinity and -Infinity float replaced by that word as a string.

    Python's json reads those literals but they are not JSON (RFC 8259), and most parsers refuse
    them. The value is returned as it is (not copied) when it holds none, which is nearly always.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE[repr(value)]
    if isinstance(value, dict):
        safe = {k: json_safe(v) for k, v in value.items()}
        return value if all(safe[k] is v for k, v in value.items()) else safe
    if isinstance(value, (list, tuple)):
        safe = [json_safe(v) for v in value]
        return value if all(a is b for a, b in zip(safe, value)) else safe
    return value


class UnserialisableRecord(ValueError):
    """A record that cannot be one line of strict UTF-8 JSON; the message says what is in the way."""


def to_json_line(record: dict) -> str:
    """One canonical JSON line: sorted keys and no platform-dependent spacing, so output is byte-stable.

    Strict JSON: a NaN or infinite float raises (`allow_nan=False`); callers that keep such values
    pass them through `json_safe` first. The result may still hold lone surrogates; `encode_json_line`
    is the check that it can be written.
    """
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(',', ':'),
                      allow_nan=False)


def encode_json_line(record: dict) -> bytes:
    """`to_json_line(record)` as UTF-8, or `UnserialisableRecord` saying why it cannot be.

    What can be in the way: a float JSON has no literal for outside `extra`, a lone surrogate in a
    string (valid in a JSON escape, not encodable as UTF-8), an int over Python's digit limit for
    str(), nesting deeper than the encoder's recursion limit, keys that cannot be sorted together,
    or a value of a type JSON has no form for.
    """
    try:
        line = to_json_line(record)
    except (ValueError, TypeError, RecursionError) as error:
        raise UnserialisableRecord(f'expected a value JSON can hold, got {error}'[:2000]) from error
    try:
        return line.encode('utf-8')
    except UnicodeEncodeError as error:
        raise UnserialisableRecord(
            f'expected text encodable as UTF-8, got the lone surrogate '
            f'U+{ord(error.object[error.start]):04X} at character {error.start} of the line '
            f'(near {ascii(error.object[max(0, error.start - 40):error.start])})') from error

