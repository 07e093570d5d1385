"""Which source a `newswire run` reads: files (--input), feeds (--feeds), or both merged; in a
stream, a Pub/Sub subscription (--input-subscription), polled feeds (--feeds), or both merged."""

from __future__ import annotations

import dataclasses
from typing import Optional

import apache_beam as beam

from newswire.pipeline.options import NewswireOptions
from newswire.pipeline.settings import Settings
from newswire.transforms.dead_letters import StageOutputs
from newswire.transforms.feeds import FeedRejected, PollFeeds, ReadFeeds, parse_feed_list
from newswire.transforms.pubsub_local import LeasingReader, ReadLeasedMessages
from newswire.transforms.read_files import ReadDocumentFiles


class SourceError(Exception):
    """A source the options name cannot be set up (an unreadable or empty feed list)."""


def feed_urls(feeds_file: str) -> list[str]:
    try:
        with open(feeds_file, encoding='utf-8-sig') as handle:
            urls = parse_feed_list(handle.read())
    except (OSError, UnicodeDecodeError, ValueError, FeedRejected) as error:
        raise SourceError(f'--feeds {feeds_file}: {error}') from error
    if not urls:
        raise SourceError(f'--feeds {feeds_file}: no feed URL in the file')
    return urls


class MergeSources(beam.PTransform):
    """Several sources -> one `StageOutputs(documents, dead letters)`."""

    def __init__(self, sources: dict[str, beam.PTransform]):
        super().__init__()
        self._sources = sources

    def expand(self, pbegin):
        outputs = [pbegin | name >> source for name, source in self._sources.items()]
        documents = [o.good for o in outputs] | 'MergeDocuments' >> beam.Flatten()
        dead_letters = [o.dead_letters for o in outputs] | 'MergeDeadLetters' >> beam.Flatten()
        return StageOutputs(documents, dead_letters)


def _fetch_config(job: NewswireOptions, settings: Settings):
    return dataclasses.replace(settings.fetch, allow_hosts=tuple(job.allow_hosts or ()))


def _one_or_merged(sources: dict[str, beam.PTransform]) -> beam.PTransform:
    if len(sources) == 1:
        return next(iter(sources.values()))
    return MergeSources(sources)


def select_source(job: NewswireOptions, settings: Settings) -> beam.PTransform:
    """ReadDocumentFiles for --input, ReadFeeds for --feeds; both merged when both are given."""
    sources = {}
    if job.input_paths():
        sources['Files'] = ReadDocumentFiles(job.input_paths(), settings.max_document_bytes)
    if job.feeds:
        sources['Feeds'] = ReadFeeds(feed_urls(job.feeds), _fetch_config(job, settings),
                                     settings.feeds)
    return _one_or_merged(sources)


def select_stream_source(job: NewswireOptions, settings: Settings,
                         reader: Optional[LeasingReader] = None) -> beam.PTransform:
    """ReadPubSubDocuments for --input-subscription (ReadLeasedMessages from `reader` when a local
    run reads it itself), PollFeeds for --feeds (every `feeds.poll_interval_seconds`); both merged
    when both are given."""
    from newswire.transforms.pubsub import ReadPubSubDocuments

    sources = {}
    if reader is not None:
        sources['PubSub'] = ReadLeasedMessages(reader, settings.max_document_bytes)
    elif job.input_subscription:
        sources['PubSub'] = ReadPubSubDocuments(job.input_subscription,
                                                settings.max_document_bytes)
    if job.feeds:
        sources['Feeds'] = PollFeeds(feed_urls(job.feeds), _fetch_config(job, settings),
                                     settings.feeds)
    return _one_or_merged(sources)
