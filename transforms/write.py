"""Sinks: enriched records and dead letters as JSON lines, and the run's summary.

Files are deterministic: each record goes to the shard its id hashes to, every shard is sorted and
written whole (to a temporary name, then renamed), and shards with no records are still written, so
two runs on the same input give byte-identical files whatever order the runner processed them in.

Turning a record into its line is a stage of its own (`write`, run by `ApplyStage` before the
records are grouped into shards): a record that cannot be one line of strict UTF-8 JSON (a lone
surrogate in its text, an int past Python's digit limit, ...) becomes a dead letter `unserialisable`
instead of failing the shard, and only the records that got a line count as written.
"""

from __future__ import annotations

import collections
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from newswire.transforms.dead_letters import DEAD_LETTER, ApplyStage, dead_letter
from newswire.transforms.records import Document, UnserialisableRecord, encode_json_line

STAGE = 'write'


def shard_path(prefix: str, index: int, num_shards: int) -> str:
    return f'{prefix}-{index:05d}-of-{num_shards:05d}.jsonl'


def write_atomically(path: str, data: bytes) -> None:
    """Write to a temporary name beside `path`, then rename, so readers never see half a file."""
    temporary = f'{path}.tmp-{uuid.uuid4().hex}'
    with FileSystems.create(temporary) as handle:
        handle.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])


def _shard_of(key: str, num_shards: int) -> int:
    # 'surrogatepass': a key with a lone surrogate (a dead letter's source id) still has a shard;
    # for any other key the bytes, hence the shard, are plain UTF-8's.
    return int.from_bytes(hashlib.blake2b(key.encode('utf-8', 'surrogatepass'),
                                          digest_size=8).digest(), 'big') % num_shards


class SerialiseRecordFn(beam.DoFn):
    """Record -> (record, (shard, its JSON line as UTF-8 bytes)), or a dead letter `unserialisable`.

    The record is kept beside its line so that what is counted as written is what got a line. The
    shard is that of `shard_key(record)` among `num_shards`, or 0 without a `shard_key`.
    """

    def __init__(self, num_shards: int = 1, shard_key: Optional[Callable[[object], str]] = None):
        self._num_shards = num_shards
        self._shard_key = shard_key

    def process(self, record):
        try:
            line = encode_json_line(record.to_json_dict())
        except (UnserialisableRecord, RecursionError) as error:
            # RecursionError: `extra` nested deeper than the interpreter's limit (`json_safe`).
            detail = (str(error) if isinstance(error, UnserialisableRecord)
                      else f'expected a value JSON can hold, got nesting too deep: {error}')
            original = (record.html or record.text) if isinstance(record, Document) else None
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(
                STAGE, 'unserialisable', detail, record.source, original))
            return
        shard = 0 if self._shard_key is None else _shard_of(self._shard_key(record),
                                                            self._num_shards)
        yield record, (shard, line)


class SerialiseRecords(beam.PTransform):
    """Records with `to_json_dict()` and `source` -> `StageOutputs((record, (shard, line)) pairs,
    dead letters)`, as the stage `write`."""

    def __init__(self, num_shards: int = 1, shard_key: Optional[Callable[[object], str]] = None):
        super().__init__()
        self._num_shards = num_shards
        self._shard_key = shard_key

    def expand(self, records):
        return records | 'Serialise' >> ApplyStage(
            SerialiseRecordFn(self._num_shards, self._shard_key), STAGE)


class _WriteShardFn(beam.DoFn):

    def __init__(self, prefix: str, num_shards: int):
        self._prefix = prefix
        self._num_shards = num_shards

    def process(self, shard):
        index, lines = shard
        # UTF-8 keeps code point order, so sorting the bytes sorts the lines as text would.
        body = b''.join(line + b'\n' for line in sorted(line for line in lines if line is not None))
        path = shard_path(self._prefix, index, self._num_shards)
        write_atomically(path, body)
        yield path


class WrittenOutputs(NamedTuple):
    paths: beam.PCollection         # the shard files written
    written: beam.PCollection       # the records that have a line in them
    dead_letters: beam.PCollection  # the records that could not be serialised (stage `write`)


class WriteJsonLines(beam.PTransform):
    """Records with `to_json_dict()` -> sorted JSONL shards `<prefix>-SSSSS-of-NNNNN.jsonl`.

    Returns `WrittenOutputs`. `shard_key` picks what a record is sharded by. Dead letters always
    serialise (`DeadLetter.to_json_dict`), so writing them has no dead letters of its own.
    """

    def __init__(self, prefix: str, num_shards: int = 1,
                 shard_key: Callable[[object], str] = lambda record: record.id):
        super().__init__()
        if num_shards < 1:
            raise ValueError(f'num_shards must be at least 1, got {num_shards}')
        self._prefix = prefix
        self._num_shards = num_shards
        self._shard_key = shard_key

    def expand(self, records):
        num_shards = self._num_shards
        serialised = records | 'ToJsonLines' >> SerialiseRecords(num_shards, self._shard_key)
        lines = serialised.good | 'Lines' >> beam.MapTuple(lambda record, line: line)
        # One empty marker per shard: a shard with no records is still written (as an empty file).
        markers = (records.pipeline
                   | 'ShardMarkers' >> beam.Create([(i, None) for i in range(num_shards)]))
        paths = (
            (lines, markers)
            | 'WithMarkers' >> beam.Flatten()
            | 'GroupByShard' >> beam.GroupByKey()
            | 'WriteShards' >> beam.ParDo(_WriteShardFn(self._prefix, num_shards)))
        written = serialised.good | 'Written' >> beam.MapTuple(lambda record, line: record)
        return WrittenOutputs(paths, written, serialised.dead_letters)


@dataclass
class Tally:
    """What the summary counts. Story ids are kept as a set (one entry per story, not per record)."""

    read: int = 0
    enriched: int = 0
    dead_letters: collections.Counter = field(default_factory=collections.Counter)
    duplicate_tiers: collections.Counter = field(default_factory=collections.Counter)
    tags: collections.Counter = field(default_factory=collections.Counter)
    languages: collections.Counter = field(default_factory=collections.Counter)
    stories: set = field(default_factory=set)
    dedup_dropped_keys: collections.Counter = field(default_factory=collections.Counter)

    def merge(self, other: 'Tally') -> 'Tally':
        self.read += other.read
        self.enriched += other.enriched
        self.dead_letters.update(other.dead_letters)
        self.duplicate_tiers.update(other.duplicate_tiers)
        self.tags.update(other.tags)
        self.languages.update(other.languages)
        self.stories |= other.stories
        self.dedup_dropped_keys.update(other.dedup_dropped_keys)
        return self

    def to_json_dict(self) -> dict:
        dead = sum(self.dead_letters.values())
        # Candidate keys dedup dropped as too common (`dedup.dropped_key_kind`), by kind; written
        # only when there were some, so that a run which drops none writes what it always did.
        dropped = ({'dedup_dropped_keys': dict(sorted(self.dedup_dropped_keys.items()))}
                   if self.dedup_dropped_keys else {})
        return {
            **dropped,
            'documents_read': self.read,
            'enriched': self.enriched,
            'dead_letters': dead,
            'accounting_ok': self.read == self.enriched + dead,
            'dead_letters_by_reason': dict(sorted(self.dead_letters.items())),
            'duplicates_by_tier': {tier: self.duplicate_tiers.get(tier, 0)
                                   for tier in ('exact', 'near_copy', 'same_story')},
            'stories': len(self.stories),
            'topics': dict(sorted(self.tags.items())),
            'languages': dict(sorted(self.languages.items())),
        }


def tally_read(_record) -> Tally:
    return Tally(read=1)


def tally_enriched(doc) -> Tally:
    tally = Tally(enriched=1)
    tally.languages[doc.language.code if doc.language else 'und'] += 1
    tally.tags.update(tag.id for tag in doc.tags)
    if doc.dedup is not None:
        if doc.dedup.tier:
            tally.duplicate_tiers[doc.dedup.tier] += 1
        tally.stories.add(doc.dedup.story_id)
    return tally


def tally_dead_letter(letter) -> Tally:
    tally = Tally()
    tally.dead_letters[f'{letter.stage}:{letter.reason}'] += 1
    return tally


def tally_dropped_keys(kind_and_count) -> Tally:
    kind, count = kind_and_count
    return Tally(dedup_dropped_keys=collections.Counter({kind: count}))


class _TallyFn(beam.CombineFn):
    """Items -> one `Tally`, the merge of `tally_of(item)` for each; without `tally_of`, the items
    are tallies already (each input's, merged into the summary's)."""

    def __init__(self, tally_of: Optional[Callable[[Any], Tally]] = None):
        self._tally_of = tally_of

    def create_accumulator(self):
        return Tally()

    def add_input(self, tally, item):
        return tally.merge(self._tally_of(item) if self._tally_of else item)

    def merge_accumulators(self, tallies: Iterable[Tally]):
        merged = Tally()
        for tally in tallies:
            merged.merge(tally)
        return merged

    def extract_output(self, tally):
        return tally


class Summarize(beam.PTransform):
    """(records read, enriched documents, dead letters[, dedup's (key kind, keys dropped)]) -> one
    summary dict, also written as JSON."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def expand(self, pcolls):
        read, enriched, dead_letters, *dropped_keys = pcolls
        path = self._path
        # Each input is tallied where it is made (Beam combines each bundle's items before its
        # grouping), so a few partial tallies cross to the final merge, not one per record. An
        # empty input gives no tally (an empty one would add nothing): with defaults each would
        # be one more stage, waiting on a side input, and only the final merge needs one.
        def tally(label, counted, tally_of):
            return counted | label >> beam.CombineGlobally(_TallyFn(tally_of)).without_defaults()

        tallies = (
            tally('TallyRead', read, tally_read),
            tally('TallyEnriched', enriched, tally_enriched),
            tally('TallyDeadLetters', dead_letters, tally_dead_letter),
        ) + tuple(tally('TallyDroppedKeys', dropped, tally_dropped_keys) for dropped in dropped_keys)
        summary = (
            tallies
            | 'AllTallies' >> beam.Flatten()
            | 'Combine' >> beam.CombineGlobally(_TallyFn())
            | 'AsJson' >> beam.Map(Tally.to_json_dict))
        summary | 'WriteSummary' >> beam.Map(
            lambda s: write_atomically(path, (json.dumps(s, indent=2, sort_keys=True) + '\n')
                                       .encode('utf-8')))
        return summary


def _stamp_write_time(line, window_seconds: int, timestamp=beam.DoFn.TimestampParam):
    """The line stamped with the time it reaches the sink, or its own timestamp if that is later.

    Event time can run ahead of the clock (a feed ticker sets its watermark to its next tick), and
    a line moved back behind the watermark would fall into a window already closed: dropped as
    late, its file never written. A timestamp at the end of time (Beam's for what a global
    aggregation emits) has no fixed window to go to, and takes the clock's."""
    from apache_beam.transforms import window
    from apache_beam.utils.timestamp import Duration, Timestamp

    now = Timestamp.of(time.time())
    latest = window.GlobalWindow().max_timestamp() - Duration(seconds=window_seconds)
    return window.TimestampedValue(line, timestamp if now < timestamp <= latest else now)


class WriteWindowedJsonLines(beam.PTransform):
    """Records of a stream -> `<prefix>-<window start>-<window end>-SSSSS-of-NNNNN.jsonl` per fixed
    window of `window_seconds` of the time they reach this sink (their own time if that is later),
    written when the window closes.

    Returns the records that could not be serialised, as dead letters (stage `write`).

    Windows are by write time, not publication time: a record decided after waiting for stragglers
    (dedup's settle time) would otherwise arrive after its event-time window had closed and be lost
    as late data."""

    def __init__(self, output_dir: str, prefix: str, window_seconds: int):
        super().__init__()
        self._output_dir = output_dir
        self._prefix = prefix
        self._window_seconds = window_seconds

    def expand(self, records):
        from apache_beam.io import fileio
        from apache_beam.transforms import window

        serialised = records | 'ToJsonLines' >> SerialiseRecords()
        _ = (
            serialised.good
            | 'Lines' >> beam.MapTuple(lambda record, shard_line: shard_line[1].decode('utf-8'))
            | 'StampWriteTime' >> beam.Map(_stamp_write_time, self._window_seconds)
            | 'FixedWindows' >> beam.WindowInto(window.FixedWindows(self._window_seconds))
            | 'WriteFiles' >> fileio.WriteToFiles(
                path=self._output_dir, shards=1,
                file_naming=fileio.default_file_naming(prefix=self._prefix, suffix='.jsonl')))
        return serialised.dead_letters
