"""The pipeline graph: one enrichment chain, whatever the source and sinks.

`build` takes the source as a transform that yields `StageOutputs(documents, dead letters)`, so the
batch CLI passes `ReadDocumentFiles`, the streaming CLI a Pub/Sub source, and tests `beam.Create`.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from newswire.pipeline.settings import Settings
from newswire.transforms.clean import CleanBoilerplate
from newswire.transforms.dedup import FlagDuplicates
from newswire.transforms.dedup_stream import FlagDuplicatesInStream
from newswire.transforms.extract import ExtractMainText
from newswire.transforms.language import DetectLanguage
from newswire.transforms.metadata import ExtractMetadata
from newswire.transforms.topics import TagTopics
from newswire.transforms.pubsub import PublishDeadLetters, PublishRecords
from newswire.transforms.pubsub_local import (AcknowledgeReceipts, LeasingReader, LocalPubSubConfig,
                                              PublishDeadLettersConfirmed, PublishRecordsConfirmed)
from newswire.transforms.write import Summarize, WriteJsonLines, WriteWindowedJsonLines

ENRICHED_PREFIX = 'enriched'
DEAD_LETTER_PREFIX = 'dead_letter'
SUMMARY_FILE = 'summary.json'


class EnrichOutputs(NamedTuple):
    good: beam.PCollection
    dead_letters: beam.PCollection
    dedup_dropped_keys: Optional[beam.PCollection]  # batch only: dedup's (key kind, keys dropped)


class EnrichDocuments(beam.PTransform):
    """Documents as read -> `EnrichOutputs(enriched documents, dead letters of every stage,
    candidate keys dedup dropped)`."""

    def __init__(self, settings: Settings, streaming: bool = False):
        super().__init__()
        self._settings = settings
        self._streaming = streaming

    def expand(self, docs):
        s = self._settings
        extracted = docs | 'ExtractMainText' >> ExtractMainText(s.extract, s.max_document_bytes)
        cleaned = extracted.good | 'CleanBoilerplate' >> CleanBoilerplate(s.cleaning_rules)
        described = cleaned.good | 'ExtractMetadata' >> ExtractMetadata(s.metadata_rules)
        languages = described.good | 'DetectLanguage' >> DetectLanguage(s.language)
        tagged = languages.good | 'TagTopics' >> TagTopics(s.taxonomy)
        flag_duplicates = FlagDuplicatesInStream if self._streaming else FlagDuplicates
        flagged = tagged.good | 'FlagDuplicates' >> flag_duplicates(s.dedup)
        dead_letters = (
            extracted.dead_letters, cleaned.dead_letters, described.dead_letters,
            languages.dead_letters, tagged.dead_letters, flagged.dead_letters,
        ) | 'AllDeadLetters' >> beam.Flatten()
        return EnrichOutputs(flagged.good, dead_letters, getattr(flagged, 'dropped_keys', None))


class RunOutputs(NamedTuple):
    read: beam.PCollection          # every record the source produced, good or dead
    enriched: beam.PCollection
    dead_letters: beam.PCollection  # the source's and every stage's
    dedup_dropped_keys: Optional[beam.PCollection] = None  # batch only, for the summary


def build(pipeline: beam.Pipeline, source: beam.PTransform, settings: Settings,
          streaming: bool = False) -> RunOutputs:
    """Source -> enrichment. The caller attaches sinks to what this returns."""
    read = pipeline | 'Read' >> source
    enriched = read.good | 'Enrich' >> EnrichDocuments(settings, streaming)
    read_records = (read.good, read.dead_letters) | 'AllRead' >> beam.Flatten()
    dead_letters = ((read.dead_letters, enriched.dead_letters)
                    | 'SourceAndStageDeadLetters' >> beam.Flatten())
    return RunOutputs(read_records, enriched.good, dead_letters, enriched.dedup_dropped_keys)


class WriteBatchOutputs(beam.PTransform):
    """`RunOutputs` -> enriched-*.jsonl, dead_letter-*.jsonl and summary.json in `output_dir`."""

    def __init__(self, output_dir: str, num_shards: int):
        super().__init__()
        self._output_dir = output_dir
        self._num_shards = num_shards

    def expand(self, outputs: RunOutputs):
        join = FileSystems.join
        outputs.enriched | 'WriteEnriched' >> WriteJsonLines(
            join(self._output_dir, ENRICHED_PREFIX), self._num_shards)
        outputs.dead_letters | 'WriteDeadLetters' >> WriteJsonLines(
            join(self._output_dir, DEAD_LETTER_PREFIX), self._num_shards,
            shard_key=lambda letter: letter.source.id)
        dropped_keys = () if outputs.dedup_dropped_keys is None else (outputs.dedup_dropped_keys,)
        return ((outputs.read, outputs.enriched, outputs.dead_letters, *dropped_keys)
                | 'Summarize' >> Summarize(join(self._output_dir, SUMMARY_FILE)))


class PublishOutputs(beam.PTransform):
    """`RunOutputs` -> the output topic (and each tag's route topic), and the dead-letter topic.

    With `reader` (a local run reading its subscription through `pubsub_local.LeasingReader`), each
    message is acknowledged once its record or dead letter is confirmed on its topics; both topics
    are needed then."""

    def __init__(self, output_topic: Optional[str], dead_letter_topic: Optional[str],
                 route_topic_ids: tuple[str, ...] = (), reader: Optional[LeasingReader] = None,
                 local_pubsub: LocalPubSubConfig = LocalPubSubConfig()):
        super().__init__()
        self._output_topic = output_topic
        self._dead_letter_topic = dead_letter_topic
        self._route_topic_ids = route_topic_ids
        self._reader = reader
        self._local_pubsub = local_pubsub

    def expand(self, outputs: RunOutputs):
        if self._reader is not None:
            receipts = (
                outputs.enriched | 'PublishEnriched' >> PublishRecordsConfirmed(
                    self._output_topic, self._route_topic_ids, self._local_pubsub),
                outputs.dead_letters | 'PublishDeadLetters' >> PublishDeadLettersConfirmed(
                    self._dead_letter_topic, self._local_pubsub),
            ) | 'AllReceipts' >> beam.Flatten()
            receipts | 'Acknowledge' >> AcknowledgeReceipts(self._reader)
            return outputs
        if self._output_topic:
            outputs.enriched | 'PublishEnriched' >> PublishRecords(self._output_topic,
                                                                   self._route_topic_ids)
        if self._dead_letter_topic:
            outputs.dead_letters | 'PublishDeadLetters' >> PublishDeadLetters(
                self._dead_letter_topic)
        return outputs


class WriteWindowedOutputs(beam.PTransform):
    """`RunOutputs` of a stream -> enriched and dead-letter JSONL files per fixed window."""

    def __init__(self, output_dir: str, window_seconds: int):
        super().__init__()
        self._output_dir = output_dir
        self._window_seconds = window_seconds

    def expand(self, outputs: RunOutputs):
        outputs.enriched | 'WriteEnrichedWindows' >> WriteWindowedJsonLines(
            self._output_dir, ENRICHED_PREFIX, self._window_seconds)
        outputs.dead_letters | 'WriteDeadLetterWindows' >> WriteWindowedJsonLines(
            self._output_dir, DEAD_LETTER_PREFIX, self._window_seconds)
        return outputs
