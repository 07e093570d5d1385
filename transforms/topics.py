"""Topic tags from a user-editable taxonomy, each tag with the spans of text that earned it.

The taxonomy (`rules/taxonomy.yaml`, or the user's own with `--taxonomy FILE`) lists topics with
patterns and exclusions. A topic is tagged when at least `min_evidence` distinct spans match and no
exclusion covers them; its score is 1 - 0.5 ** spans (one span 0.5, two 0.75, three 0.875), so more
independent evidence means more confidence without any span counting twice.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from importlib import resources
from typing import Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.records import Document, Evidence, TopicTag

STAGE = 'topics'
_TOPIC_ID = re.compile(r'^[a-z][a-z0-9_]{0,62}$')


@dataclass(frozen=True)
class Topic:
    id: str
    label: str
    description: str
    language: str
    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    positive_examples: tuple[str, ...] = ()
    negative_examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    topics: tuple[Topic, ...]
    min_evidence: int = 1
    max_evidence: int = 10


def default_taxonomy_path():
    return resources.files('newswire.transforms') / 'rules' / 'taxonomy.yaml'


def load_taxonomy(path=None) -> Taxonomy:
    """Parse and validate a taxonomy file; ValueError names the topic and the problem."""
    import yaml

    with open(path or default_taxonomy_path(), encoding='utf-8') as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict) or not isinstance(data.get('topics'), list):
        raise ValueError(f'{path}: expected a mapping with a "topics" list')
    topics, seen = [], set()
    for index, item in enumerate(data['topics']):
        topic_id = item.get('id') if isinstance(item, dict) else None
        where = f'topic {index} ({topic_id or "no id"})'
        if not isinstance(topic_id, str) or not _TOPIC_ID.match(topic_id) or topic_id in seen:
            raise ValueError(f'{where}: "id" must be unique, lowercase letters, digits and _')
        seen.add(topic_id)
        patterns = tuple(item.get('patterns') or ())
        if not patterns:
            raise ValueError(f'{where}: needs at least one pattern')
        for pattern in patterns + tuple(item.get('exclude') or ()):
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f'{where}: pattern {pattern!r} does not compile: {error}') from error
        examples = item.get('examples') or {}
        topics.append(Topic(
            id=topic_id, label=item.get('label') or topic_id,
            description=(item.get('description') or '').strip(),
            language=item.get('language') or 'any', patterns=patterns,
            exclude=tuple(item.get('exclude') or ()),
            positive_examples=tuple(examples.get('positive') or ()),
            negative_examples=tuple(examples.get('negative') or ())))
    settings = data.get('settings') or {}
    return Taxonomy(tuple(topics), int(settings.get('min_evidence', 1)),
                    int(settings.get('max_evidence', 10)))


class TopicTagger:
    """Compiled taxonomy; build once, call per text."""

    def __init__(self, taxonomy: Taxonomy):
        self._taxonomy = taxonomy
        self._compiled = [
            (topic,
             [re.compile(p, re.IGNORECASE) for p in topic.patterns],
             [re.compile(p, re.IGNORECASE) for p in topic.exclude])
            for topic in taxonomy.topics]

    def tag(self, text: str, language: Optional[str] = None) -> tuple[TopicTag, ...]:
        tags = []
        for topic, patterns, excludes in self._compiled:
            if topic.language not in ('any', language) and language not in (None, 'und'):
                continue
            excluded = [m.span() for regex in excludes for m in regex.finditer(text)]
            spans = {}
            for regex in patterns:
                for match in regex.finditer(text):
                    start, end = match.span()
                    if end > start and not any(s < end and start < e for s, e in excluded):
                        spans[(start, end)] = match.group(0)
            evidence = _without_overlaps(spans)
            if len(evidence) < self._taxonomy.min_evidence:
                continue
            tags.append(TopicTag(
                id=topic.id, label=topic.label, score=round(1 - 0.5 ** len(evidence), 4),
                evidence=tuple(evidence[:self._taxonomy.max_evidence])))
        return tuple(sorted(tags, key=lambda t: (-t.score, t.id)))


def _without_overlaps(spans: dict) -> list[Evidence]:
    """Distinct evidence: of overlapping matches keep the longest (then the first)."""
    kept: list[Evidence] = []
    for (start, end), text in sorted(spans.items(), key=lambda kv: (-(kv[0][1] - kv[0][0]), kv[0])):
        if not any(e.start < end and start < e.end for e in kept):
            kept.append(Evidence(text=text, start=start, end=end))
    return sorted(kept, key=lambda e: e.start)


class TagTopicsFn(beam.DoFn):

    def __init__(self, taxonomy: Taxonomy):
        self._taxonomy = taxonomy
        self._tagger: Optional[TopicTagger] = None
        self._tags = Metrics.counter('newswire', 'topic_tags')

    def setup(self):
        self._tagger = TopicTagger(self._taxonomy)

    def process(self, doc: Document):
        tags = self._tagger.tag(doc.text, doc.language.code if doc.language else None)
        self._tags.inc(len(tags))
        yield dataclasses.replace(doc, topics=tags)


class TagTopics(beam.PTransform):
    """Documents -> `StageOutputs(documents with topics [{id, label, score, evidence}], [])`."""

    def __init__(self, taxonomy: Taxonomy):
        super().__init__()
        self._taxonomy = taxonomy

    def expand(self, docs):
        return docs | 'Tag' >> ApplyStage(TagTopicsFn(self._taxonomy), STAGE)
