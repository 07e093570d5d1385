import dataclasses
import functools
import json
import uuid

import apache_beam as beam
import pytest

from newswire.pipeline.job.assembly import (EnrichDocuments, PublishOutputs, RunOutputs,
                                            WriteBatchOutputs, WriteWindowedOutputs, build)
from newswire.pipeline.job.settings import load_settings
from newswire.transforms.dead_letters import ApplyStage, StageOutputs, dead_letter
from newswire.transforms.records import Document, SourceRef, record_id
from tests.conftest import direct_pipeline, needs_bench_corpus, poll

SETTINGS = load_settings()


def strict_loads(line):
    def refuse(constant):
        raise ValueError(f'non-standard JSON constant {constant}')
    return json.loads(line, parse_constant=refuse)


class _Given(beam.PTransform):
    """A source of given documents and read dead letters (what `ReadDocumentFiles` returns)."""

    def __init__(self, docs, letters=()):
        super().__init__()
        self._docs = docs
        self._letters = list(letters)

    def expand(self, pbegin):
        return StageOutputs(pbegin | 'Docs' >> beam.Create(self._docs),
                            pbegin | 'Letters' >> beam.Create(self._letters))


def _doc(name, text, **fields):
    source = SourceRef('jsonl', name)
    return Document(id=record_id(source, text), source=source, text=text, **fields)


HOSTILE = [
    _doc('plain', 'The harbour authority reopened the northern pier on Tuesday after repairs.'),
    _doc('nan', 'Engineers measured the river level twice a day during the spring flood.',
         extra={'gauge': float('nan'), 'range': [float('-inf'), float('inf')]}),
    _doc('surrogate', 'The council approved the new budget for schools and libraries.',
         title='Budget \ud800 approved'),
]


def _lines(directory, prefix):
    return [strict_loads(line) for path in sorted(directory.glob(f'{prefix}-*.jsonl'))
            for line in path.read_bytes().decode('utf-8').splitlines()]


@pytest.mark.slow
def test_batch_outputs_account_for_a_record_that_cannot_be_written(tmp_path, enriched_validator,
                                                                  dead_letter_validator):
    letters = [dead_letter('read', 'malformed_json', 'line 4', SourceRef('jsonl', 'broken'))]
    with direct_pipeline() as p:
        outputs = build(p, _Given(HOSTILE, letters), SETTINGS)
        outputs | WriteBatchOutputs(str(tmp_path), 1)
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert (summary['documents_read'], summary['enriched'], summary['dead_letters'],
            summary['accounting_ok']) == (4, 2, 2, True)
    assert summary['dead_letters_by_reason'] == {'read:malformed_json': 1,
                                                 'write:unserialisable': 1}
    enriched = {r['source']['id']: r for r in _lines(tmp_path, 'enriched')}
    assert sorted(enriched) == ['nan', 'plain']
    assert enriched['nan']['extra'] == {'gauge': 'NaN', 'range': ['-Infinity', 'Infinity']}
    dead = {r['source']['id']: r for r in _lines(tmp_path, 'dead_letter')}
    assert dead['surrogate']['reason'] == 'unserialisable'
    for record in enriched.values():
        enriched_validator.validate(record)
    for record in dead.values():
        dead_letter_validator.validate(record)
    assert 'U+D800' in dead['surrogate']['detail']


@pytest.mark.slow
def test_windowed_outputs_write_an_unserialisable_record_as_a_dead_letter(tmp_path):
    with direct_pipeline() as p:
        outputs = build(p, _Given(HOSTILE), SETTINGS, streaming=False)
        outputs | WriteWindowedOutputs(str(tmp_path), 60)
    assert sorted(r['source']['id'] for r in _lines(tmp_path, 'enriched')) == ['nan', 'plain']
    assert [(r['source']['id'], r['stage'], r['reason']) for r in _lines(tmp_path, 'dead_letter')
            ] == [('surrogate', 'write', 'unserialisable')]


def _stage_limits(settings) -> dict:
    """ApplyStage label -> its time limit, for every stage EnrichDocuments applies."""
    pipeline = beam.Pipeline(runner='DirectRunner')
    pipeline | beam.Create([HOSTILE[0]]) | 'Enrich' >> EnrichDocuments(settings)
    limits = {}

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            if isinstance(node.transform, ApplyStage):
                limits[node.full_label] = node.transform.timeout_seconds

    pipeline.visit(Visitor())
    return limits


def test_every_stage_after_extraction_has_the_configured_time_limit():
    limits = _stage_limits(dataclasses.replace(SETTINGS, stage_timeout_seconds=12.5))
    stages = ('Enrich/CleanBoilerplate/Clean', 'Enrich/ExtractMetadata/Extract',
              'Enrich/DetectLanguage/Detect', 'Enrich/TagTopics/Tag', 'Enrich/FlagDuplicates/Sign')
    assert {label: limits.get(label) for label in stages} == dict.fromkeys(stages, 12.5)
    assert limits['Enrich/ExtractMainText/Extract'] == SETTINGS.extract.timeout_seconds


def test_the_stage_time_limit_is_read_from_settings_and_zero_turns_it_off(tmp_path):
    assert SETTINGS.stage_timeout_seconds == 30.0
    off = tmp_path / 'off.yaml'
    off.write_text('limits:\n  stage_timeout_seconds: 0\n')
    assert load_settings(str(off)).stage_timeout_seconds is None
    with pytest.raises(ValueError, match='unknown setting'):
        bad = tmp_path / 'bad.yaml'
        bad.write_text('limits:\n  stage_timeout: 5\n')
        load_settings(str(bad))


@pytest.mark.slow
def test_publishing_sends_an_unserialisable_record_to_the_dead_letter_topic(pubsub_emulator):
    from google.api_core.exceptions import DeadlineExceeded

    from newswire.pipeline.commands.pubsub_admin import (ensure_subscription, ensure_topic,
                                                         publisher_client, subscriber_client)

    project = f'newswire-test-{uuid.uuid4().hex[:8]}'
    enriched, dead = (f'projects/{project}/topics/{name}' for name in ('enriched', 'dead'))
    publisher, subscriber = publisher_client(), subscriber_client()
    subscriptions = {}
    for topic in (enriched, dead):
        ensure_topic(publisher, topic)
        subscriptions[topic] = topic.replace('/topics/', '/subscriptions/') + '-capture'
        ensure_subscription(subscriber, subscriptions[topic], topic)
    with direct_pipeline() as p:
        build(p, _Given(HOSTILE), SETTINGS) | PublishOutputs(enriched, dead)

    def pull_all(topic, count):
        messages = []

        def enough():
            try:
                response = subscriber.pull(request={'subscription': subscriptions[topic],
                                                    'max_messages': 10}, timeout=5, retry=None)
            except DeadlineExceeded:
                return False
            messages.extend(r.message for r in response.received_messages)
            return len(messages) >= count
        poll(enough, 60, what=f'{count} messages on {topic}')
        return [strict_loads(m.data.decode('utf-8')) for m in messages]

    assert sorted(r['source']['id'] for r in pull_all(enriched, 2)) == ['nan', 'plain']
    assert [(r['source']['id'], r['stage'], r['reason']) for r in pull_all(dead, 1)] == [
        ('surrogate', 'write', 'unserialisable')]


# --- the graph, built and never run ---------------------------------------------------------------

def _graph(attach, streaming=False, enrich=True):
    """(label -> transform) of every composite and step in `attach(outputs)`, where `outputs` are
    what `build` returns or, without `enrich`, given collections in its place (quicker to build)."""
    pipeline = beam.Pipeline(runner='DirectRunner')
    if enrich:
        outputs = build(pipeline, _Given(HOSTILE[:1]), SETTINGS, streaming=streaming)
    else:
        given = pipeline | _Given(HOSTILE[:1])
        outputs = RunOutputs(given.good, given.good, given.dead_letters,
                             pipeline | 'NoKeys' >> beam.Create([]))
    attach(outputs)
    nodes = {}

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            nodes[node.full_label] = node.transform

        def visit_transform(self, node):
            nodes[node.full_label] = node.transform

    pipeline.visit(Visitor())
    return nodes


@functools.lru_cache(maxsize=2)
def _enrichment_graph(streaming: bool) -> dict:
    """`_graph` of `build` alone, built once per module for each mode."""
    return _graph(lambda outputs: outputs, streaming=streaming)


def test_enrichment_runs_its_stages_in_order():
    nodes = _enrichment_graph(False)
    stages = [label.split('/')[1] for label in nodes
              if label.startswith('Enrich/') and label.count('/') == 1]
    assert stages == ['ExtractMainText', 'CleanBoilerplate', 'ExtractMetadata',
                      'FlagEmbeddedArticles', 'DetectLanguage', 'TagTopics', 'FlagDuplicates',
                      'InferDatelineYears', 'AllDeadLetters']


@pytest.mark.parametrize('streaming', [False, True])
def test_a_stream_flags_duplicates_with_state_and_a_batch_counts_the_keys_it_dropped(streaming):
    from newswire.transforms.dedup import FlagDuplicates
    from newswire.transforms.dedup import FlagDuplicatesInStream

    nodes = _enrichment_graph(streaming)
    expected = FlagDuplicatesInStream if streaming else FlagDuplicates
    assert type(nodes['Enrich/FlagDuplicates']) is expected
    # A stream counts dropped keys in metrics: its outputs carry an empty collection instead.
    assert ('NoDroppedKeys' in nodes) is streaming


def test_batch_outputs_write_both_files_and_a_summary():
    nodes = _graph(lambda outputs: outputs | 'Write' >> WriteBatchOutputs('out/', 2), enrich=False)
    assert {'Write/WriteEnriched', 'Write/WriteDeadLetters', 'Write/Summarize'} <= set(nodes)


@pytest.mark.parametrize('output_topic,dead_letter_topic,routes,publishers', [
    ('projects/wire-desk/topics/enriched', 'projects/wire-desk/topics/dead', (),
     {'Publish/PublishEnriched', 'Publish/PublishDeadLetters'}),
    ('projects/wire-desk/topics/enriched', None, ('landmines',),
     {'Publish/PublishEnriched', 'Publish/PublishEnriched/Route[landmines]'}),
    (None, 'projects/wire-desk/topics/dead', (), {'Publish/PublishDeadLetters'}),
])
def test_publishing_attaches_a_publisher_per_topic_named(output_topic, dead_letter_topic, routes,
                                                          publishers):
    nodes = _graph(lambda outputs: outputs | 'Publish' >> PublishOutputs(
        output_topic, dead_letter_topic, routes), enrich=False)
    named = {label for label in nodes
             if label.startswith(('Publish/PublishEnriched', 'Publish/PublishDeadLetters'))
             and label.count('/') <= 2 and not label.endswith(('/ToMessages', '/Publish'))
             and '/Tagged[' not in label}
    assert named == publishers
    # Unserialisable records go to the dead-letter topic, so the serialising step is always there.
    assert 'Publish/SerialiseEnriched' in nodes


def test_a_local_subscription_is_acknowledged_after_publishing_both_topics():
    from newswire.pipeline.local.pubsub_local import (LeasingReader, LocalPubSubConfig,
                                                      PublishThenAcknowledge)

    reader = LeasingReader('projects/wire-desk/subscriptions/raw', LocalPubSubConfig())  # never started
    publisher = PublishThenAcknowledge('projects/wire-desk/topics/enriched',
                                       'projects/wire-desk/topics/dead', (), reader,
                                       LocalPubSubConfig())
    nodes = _graph(lambda outputs: outputs | 'Publish' >> PublishOutputs(
        'projects/wire-desk/topics/enriched', 'projects/wire-desk/topics/dead',
        publisher=publisher), enrich=False)
    prefix = 'Publish/PublishThenAcknowledge/'
    assert {prefix + 'PublishEnriched', prefix + 'PublishDeadLetters', prefix + 'AllReceipts',
            prefix + 'Acknowledge'} <= set(nodes)


# --- the batch dedup strategy (dedup.batch_index) ------------------------------------------------

def _with_batch_index(batch_index):
    return dataclasses.replace(SETTINGS, dedup=dataclasses.replace(SETTINGS.dedup,
                                                                   batch_index=batch_index))


@pytest.mark.parametrize('batch_index,step,said', [
    ('auto', 'MatchInIndex', True), ('memory', 'MatchInIndex', False),
    ('shuffle', 'CompareInBuckets', False)])
def test_a_batch_on_this_machine_dedups_in_memory_by_default_and_says_so(batch_index, step, said,
                                                                         capsys):
    pipeline = beam.Pipeline(runner='DirectRunner')
    build(pipeline, _Given(HOSTILE[:1]), _with_batch_index(batch_index))
    labels = set()

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            labels.add(node.full_label)

    pipeline.visit(Visitor())
    other = {'MatchInIndex': 'CompareInBuckets', 'CompareInBuckets': 'MatchInIndex'}[step]
    assert f'Enrich/FlagDuplicates/{step}' in labels
    assert f'Enrich/FlagDuplicates/{other}' not in labels
    line = ('newswire: dedup: one in-memory index on one worker (dedup.batch_index auto on '
            'DirectRunner)\n')
    assert capsys.readouterr().err == (line if said else '')


@pytest.mark.slow  # two batch runs of 230 documents
@needs_bench_corpus
def test_both_batch_dedup_strategies_write_the_same_bytes(tmp_path):
    from bench.adversarial_dedup import write_corpus as write_adversarial_corpus
    from bench.corpus import write_corpus
    from newswire.pipeline.cli import main

    write_corpus(200, tmp_path / 'wire')  # exact and near copies, stories
    write_adversarial_corpus('near_identical', 30, tmp_path / 'alike')  # crowded keys
    outputs = {}
    for batch_index in ('memory', 'shuffle'):
        settings = tmp_path / f'{batch_index}.yaml'
        settings.write_text(f"dedup:\n  batch_index: {batch_index}\n  max_documents_per_key: 12\n"
                            f"dates:\n  run_date: '2024-03-01'\n", encoding='utf-8')
        output = tmp_path / batch_index
        assert main(['run', '--input', str(tmp_path / 'wire'), '--input', str(tmp_path / 'alike'),
                     '--output', str(output), '--settings', str(settings)]) == 0
        outputs[batch_index] = {path.name: path.read_bytes() for path in output.iterdir()}
    assert outputs['memory'] == outputs['shuffle']
    summary = json.loads(outputs['memory']['summary.json'])
    assert summary['documents_read'] == 230 and summary['dead_letters'] == 0
    assert set(summary['dedup_dropped_keys']) == {'lsh_band', 'story_term'}
    assert all(summary['duplicates_by_tier'].get(tier) for tier in ('exact', 'near_copy',
                                                                     'same_story'))
