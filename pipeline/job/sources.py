"""Which source a `newswire run` reads: files (--input), feeds (--feeds), or both merged; in a
stream, a Pub/Sub subscription (--input-subscription), polled feeds (--feeds), or both merged."""

from __future__ import annotations

import dataclasses

import apache_beam as beam

from newswire.pipeline.job.options import NewswireOptions
from newswire.pipeline.job.settings import Settings
from newswire.transforms.dead_letters import StageOutputs
from newswire.transforms.feeds import (FeedRejected, PollFeeds, ReadFeeds,
                                       parse_feed_list)
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
        return _merged([pbegin | name >> source for name, source in self._sources.items()])


def _merged(outputs: list[StageOutputs]) -> StageOutputs:
    documents = [o.good for o in outputs] | 'MergeDocuments' >> beam.Flatten()
    dead_letters = [o.dead_letters for o in outputs] | 'MergeDeadLetters' >> beam.Flatten()
    return StageOutputs(documents, dead_letters)


def fetch_config(job: NewswireOptions, settings: Settings):
    """The fetch settings with the hosts --allow-host lets through."""
    return dataclasses.replace(settings.fetch, allow_hosts=tuple(job.allow_hosts or ()))


def _one_or_merged(sources: dict[str, beam.PTransform]) -> beam.PTransform:
    if len(sources) == 1:
        return next(iter(sources.values()))
    return MergeSources(sources)


def select_source(job: NewswireOptions, settings: Settings) -> beam.PTransform:
    """ReadDocumentFiles for --input, ReadFeeds for --feeds; both merged when both are given."""
    sources = {}
    if job.input_paths():
        sources['Files'] = ReadDocumentFiles(
            job.input_paths(), settings.max_document_bytes, settings.max_file_bytes,
            settings.max_json_depth, follow_symlinks=job.follow_symlinks,
            max_inflation_ratio=settings.max_inflation_ratio)
    if job.feeds:
        sources['Feeds'] = ReadFeeds(feed_urls(job.feeds), fetch_config(job, settings),
                                     settings.feeds)
    return _one_or_merged(sources)


def select_stream_source(job: NewswireOptions, settings: Settings) -> beam.PTransform:
    """ReadPubSubDocuments for --input-subscription, PollFeeds for --feeds (every
    `feeds.poll_interval_seconds`), both merged when both are given: the graph Dataflow runs (a
    local run swaps in `pipeline.local`'s source)."""
    from newswire.transforms.pubsub import ReadPubSubDocuments

    sources = {}
    if job.input_subscription:
        sources['PubSub'] = ReadPubSubDocuments(job.input_subscription,
                                                settings.max_document_bytes,
                                                settings.max_json_depth)
    if job.feeds:
        sources['Feeds'] = PollFeeds(feed_urls(job.feeds), fetch_config(job, settings),
                                     settings.feeds)
    return _one_or_merged(sources)
