"""The pipeline graph: one enrichment chain, whatever the source and sinks.

`build` takes the source as a transform that yields `StageOutputs(documents, dead letters)`, so the
batch CLI passes `ReadDocumentFiles`, the streaming CLI a Pub/Sub source, and tests `beam.Create`.
"""

from __future__ import annotations

import sys
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import StandardOptions

from newswire.pipeline.job.settings import Settings
from newswire.pipeline.local.worker_process import hints_for
from newswire.transforms.clean import CleanBoilerplate
from newswire.transforms.dates import InferDatelineYears, run_clock
from newswire.transforms.dedup import FlagDuplicates, FlagDuplicatesInStream
from newswire.transforms.dedup.config import AUTO, KEYED, MEMORY, SHUFFLE, DedupConfig
from newswire.transforms.dedup.index import batch_index_strategy, stream_index_strategy
from newswire.transforms.parts import FlagEmbeddedArticles
from newswire.transforms.extract import ExtractMainText
from newswire.transforms.language import DetectLanguage
from newswire.transforms.metadata import ExtractMetadata
from newswire.transforms.pubsub import PublishDeadLetters, PublishRecords
from newswire.transforms.tagging import TagDocuments
from newswire.transforms.write import (SerialiseRecords, Summarize, WriteJsonLines,
                                       WriteWindowedJsonLines)

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
        # Every stage after extraction stops a record after limits.stage_timeout_seconds
        # (extraction has its own limit, extract.timeout_seconds).
        limit = s.stage_timeout_seconds
        # Where the per-document steps run: a worker process of their own on Prism when asked
        # (pipeline/local/worker_process.py), else with the rest.
        hints = hints_for(docs.pipeline)
        extracted = docs | 'ExtractMainText' >> ExtractMainText(
            s.extract, s.max_document_bytes).with_resource_hints(**hints)
        cleaned = extracted.good | 'CleanBoilerplate' >> CleanBoilerplate(
            s.cleaning_rules, limit).with_resource_hints(**hints)
        described = cleaned.good | 'ExtractMetadata' >> ExtractMetadata(
            s.metadata_rules, limit).with_resource_hints(**hints)
        parted = described.good | 'FlagEmbeddedArticles' >> FlagEmbeddedArticles(
            s.parts, limit).with_resource_hints(**hints)
        languages = parted.good | 'DetectLanguage' >> DetectLanguage(
            s.language, limit).with_resource_hints(**hints)
        # The step keeps its label: Dataflow's --update maps a running job's steps by name.
        tagged = languages.good | 'TagTopics' >> TagDocuments(
            s.taxonomy, limit).with_resource_hints(**hints)
        strategy = dedup_strategy(s.dedup, docs.pipeline, self._streaming)
        flag_duplicates = (FlagDuplicatesInStream(s.dedup, limit, strategy, hints)
                           if self._streaming else FlagDuplicates(s.dedup, limit, strategy, hints))
        flagged = tagged.good | 'FlagDuplicates' >> flag_duplicates
        # After dedup, which compares records by the dates they state: a yearless dateline takes its
        # year from the record's arrival, a dated report of its story (batch) or the run date.
        dated = flagged.good | 'InferDatelineYears' >> InferDatelineYears(
            s.dates, run_clock(s.dates, self._streaming), by_story=not self._streaming,
            timeout_seconds=limit)
        dead_letters = (
            extracted.dead_letters, cleaned.dead_letters, described.dead_letters,
            parted.dead_letters, languages.dead_letters, tagged.dead_letters, flagged.dead_letters,
            dated.dead_letters,
        ) | 'AllDeadLetters' >> beam.Flatten()
        return EnrichOutputs(dated.good, dead_letters, getattr(flagged, 'dropped_keys', None))


def dedup_strategy(config: DedupConfig, pipeline: beam.Pipeline, streaming: bool) -> str:
    """The dedup strategy for `dedup.batch_index` (batch: `memory` or `shuffle`) or
    `dedup.stream_index` (streaming: `memory` or `keyed`) on `pipeline`'s runner. When it depends on
    the runner (`auto`), says which on stderr, as `newswire run` names its runner: the same output
    either way, but not the same time and memory."""
    name, setting, resolve = (('stream_index', config.stream_index, stream_index_strategy)
                              if streaming else
                              ('batch_index', config.batch_index, batch_index_strategy))
    strategy = resolve(setting, pipeline.runner, pipeline.options)
    if setting == AUTO:
        # The runner as the user names it (a pipeline given a runner object has none in options).
        runner = (pipeline.options.view_as(StandardOptions).runner
                  or type(pipeline.runner).__name__.replace('SwitchingDirectRunner', 'DirectRunner'))
        how = {('batch_index', MEMORY): 'one in-memory index on one worker',
               ('batch_index', SHUFFLE): 'shuffled candidate-key buckets across workers',
               ('stream_index', MEMORY): 'one in-memory index on one key',
               ('stream_index', KEYED): 'candidate-key buckets in keyed state across workers',
               }[name, strategy]
        print(f'newswire: dedup: {how} (dedup.{name} auto on {str(runner).rsplit(".", 1)[-1]})',
              file=sys.stderr, flush=True)
    return strategy


def _counted(record) -> None:
    return None


class RunOutputs(NamedTuple):
    read: beam.PCollection          # an element (None) per record the source produced, good or dead
    enriched: beam.PCollection
    dead_letters: beam.PCollection  # the source's and every stage's
    # (key kind, keys dropped): counted in a batch run's summary; a stream counts them in metrics,
    # and this is empty (Beam refuses None among a transform's inputs).
    dedup_dropped_keys: Optional[beam.PCollection] = None


def build(pipeline: beam.Pipeline, source: beam.PTransform, settings: Settings,
          streaming: bool = False) -> RunOutputs:
    """Source -> enrichment. The caller attaches sinks to what this returns."""
    read = pipeline | 'Read' >> source
    enriched = read.good | 'Enrich' >> EnrichDocuments(settings, streaming)
    # Only counted (the summary, the progress line): a None per record, not the record, goes into
    # the Flatten, whose buffer the DirectRunner fills with every element encoded.
    read_records = ((read.good | 'CountedDocument' >> beam.Map(_counted),
                     read.dead_letters | 'CountedDeadLetter' >> beam.Map(_counted))
                    | 'AllRead' >> beam.Flatten())
    dead_letters = ((read.dead_letters, enriched.dead_letters)
                    | 'SourceAndStageDeadLetters' >> beam.Flatten())
    dropped_keys = enriched.dedup_dropped_keys
    if dropped_keys is None:
        dropped_keys = pipeline | 'NoDroppedKeys' >> beam.Create([])
    return RunOutputs(read_records, enriched.good, dead_letters, dropped_keys)


class WriteBatchOutputs(beam.PTransform):
    """`RunOutputs` -> enriched-*.jsonl, dead_letter-*.jsonl and summary.json in `output_dir`."""

    def __init__(self, output_dir: str, num_shards: int):
        super().__init__()
        self._output_dir = output_dir
        self._num_shards = num_shards

    def expand(self, outputs: RunOutputs):
        join = FileSystems.join
        enriched = outputs.enriched | 'WriteEnriched' >> WriteJsonLines(
            join(self._output_dir, ENRICHED_PREFIX), self._num_shards)
        # A record that could not be written is a dead letter like any other stage's, and only the
        # records written count as enriched: read = enriched + dead letters still holds.
        dead_letters = ((outputs.dead_letters, enriched.dead_letters)
                        | 'WithUnwritten' >> beam.Flatten())
        letters = dead_letters | 'WriteDeadLetters' >> WriteJsonLines(
            join(self._output_dir, DEAD_LETTER_PREFIX), self._num_shards,
            shard_key=lambda letter: letter.source.id)
        # Empty: a dead letter always serialises (DeadLetter.to_json_dict). Were one not to, it is
        # counted once more, so the summary's accounting shows it rather than losing it.
        counted = ((dead_letters, letters.dead_letters)
                   | 'WithDeadLettersUnwritten' >> beam.Flatten())
        dropped_keys = () if outputs.dedup_dropped_keys is None else (outputs.dedup_dropped_keys,)
        return ((outputs.read, enriched.written, counted, *dropped_keys)
                | 'Summarize' >> Summarize(join(self._output_dir, SUMMARY_FILE)))


class PublishOutputs(beam.PTransform):
    """`RunOutputs` -> the output topic (and each tag's route topic), and the dead-letter topic.

    `publisher`, when given, publishes (enriched records, dead letters) instead of Beam's
    `WriteToPubSub`: a local run's `pipeline.local` publisher, which also acknowledges each message
    once its record or dead letter is confirmed."""

    def __init__(self, output_topic: Optional[str], dead_letter_topic: Optional[str],
                 routed_tag_ids: tuple[str, ...] = (),
                 publisher: Optional[beam.PTransform] = None):
        super().__init__()
        self._output_topic = output_topic
        self._dead_letter_topic = dead_letter_topic
        self._routed_tag_ids = routed_tag_ids
        self._publisher = publisher

    def expand(self, outputs: RunOutputs):
        # Only records that serialise reach the publishers; the others go to the dead-letter topic
        # (stage `write`), so no record can fail the publishing step (and a local run still
        # acknowledges their messages, once their dead letters are published).
        serialised = outputs.enriched | 'SerialiseEnriched' >> SerialiseRecords()
        enriched = serialised.good | 'Serialisable' >> beam.MapTuple(lambda record, line: record)
        dead_letters = ((outputs.dead_letters, serialised.dead_letters)
                        | 'WithUnserialisable' >> beam.Flatten())
        if self._publisher is not None:
            (enriched, dead_letters) | 'PublishThenAcknowledge' >> self._publisher
            return outputs
        if self._output_topic:
            enriched | 'PublishEnriched' >> PublishRecords(self._output_topic,
                                                           self._routed_tag_ids)
        if self._dead_letter_topic:
            dead_letters | 'PublishDeadLetters' >> PublishDeadLetters(self._dead_letter_topic)
        return outputs


class WriteWindowedOutputs(beam.PTransform):
    """`RunOutputs` of a stream -> enriched and dead-letter JSONL files per fixed window."""

    def __init__(self, output_dir: str, window_seconds: int):
        super().__init__()
        self._output_dir = output_dir
        self._window_seconds = window_seconds

    def expand(self, outputs: RunOutputs):
        unwritten = outputs.enriched | 'WriteEnrichedWindows' >> WriteWindowedJsonLines(
            self._output_dir, ENRICHED_PREFIX, self._window_seconds)
        ((outputs.dead_letters, unwritten)
         | 'WithUnwritten' >> beam.Flatten()
         | 'WriteDeadLetterWindows' >> WriteWindowedJsonLines(
             self._output_dir, DEAD_LETTER_PREFIX, self._window_seconds))
        return outputs
