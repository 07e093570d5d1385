import json

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.dead_letters import DEAD_LETTER, dead_letter
from newswire.transforms.records import Document, SourceRef
from newswire.transforms.write import (SerialiseRecordFn, Summarize, Tally, WriteJsonLines,
                                       shard_path)
from tests.conftest import direct_pipeline


def _docs(n):
    return [Document(id=f'doc{i:03d}', source=SourceRef('jsonl', f's{i}'), text=f'Body {i}.')
            for i in range(n)]


def _write(tmp_path, docs, shards):
    with direct_pipeline() as p:
        p | beam.Create(docs) | WriteJsonLines(str(tmp_path / 'enriched'), shards)
    return sorted(tmp_path.glob('enriched-*.jsonl'))


@pytest.mark.slow  # pipelines; the fast subset writes shards in the others
def test_shards_are_sorted_complete_and_independent_of_input_order(tmp_path):
    docs = _docs(40)
    first = _write(tmp_path / 'a', docs, 3)
    second = _write(tmp_path / 'b', list(reversed(docs)), 3)
    assert [p.name for p in first] == [f'enriched-0000{i}-of-00003.jsonl' for i in range(3)]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
    ids = [json.loads(line)['id'] for p in first for line in p.read_text().splitlines()]
    assert sorted(ids) == [d.id for d in docs]
    assert not list((tmp_path / 'a').glob('*.tmp-*'))


def test_empty_input_still_writes_every_shard(tmp_path):
    paths = _write(tmp_path, [], 2)
    assert [p.read_bytes() for p in paths] == [b'', b'']
    assert shard_path('x/enriched', 1, 2) == 'x/enriched-00001-of-00002.jsonl'


@pytest.mark.slow
def test_summary_counts_and_accounting(tmp_path):
    source = SourceRef('jsonl', 'bad')
    letters = [dead_letter('read', 'malformed_json', 'x', source),
               dead_letter('read', 'malformed_json', 'y', source)]
    docs = _docs(3)
    path = tmp_path / 'summary.json'
    with direct_pipeline() as p:
        read = p | 'Read' >> beam.Create(list(range(5)))
        enriched = p | 'Docs' >> beam.Create(docs)
        dead = p | 'Dead' >> beam.Create(letters)
        summary = (read, enriched, dead) | Summarize(str(path))
        assert_that(summary | beam.Map(lambda s: (s['documents_read'], s['enriched'],
                                                  s['dead_letters'], s['accounting_ok'])),
                    equal_to([(5, 3, 2, True)]))
    written = json.loads(path.read_text())
    assert written['dead_letters_by_reason'] == {'read:malformed_json': 2}



@pytest.mark.slow
def test_a_summary_of_empty_inputs_is_written_whole(tmp_path):
    path = tmp_path / 'summary.json'
    with direct_pipeline() as p:
        read = p | 'Read' >> beam.Create([])
        enriched = p | 'Docs' >> beam.Create([])
        dead = p | 'Dead' >> beam.Create([])
        summary = (read, enriched, dead) | Summarize(str(path))
        assert_that(summary | beam.Map(lambda s: (s['documents_read'], s['enriched'],
                                                  s['dead_letters'], s['accounting_ok'])),
                    equal_to([(0, 0, 0, True)]))
    assert json.loads(path.read_text()) == Tally().to_json_dict()

def strict_loads(line):
    def refuse(constant):
        raise ValueError(f'non-standard JSON constant {constant}')
    return json.loads(line, parse_constant=refuse)


@pytest.mark.slow
def test_records_that_cannot_be_serialised_are_dead_letters_and_the_rest_is_written(tmp_path):
    docs = _docs(2) + [
        Document(id='surrogate', source=SourceRef('jsonl', 's-sur'), text='Talks \ud800 resumed.'),
        Document(id='huge', source=SourceRef('jsonl', 's-huge'), text='Body.',
                 extra={'count': 10 ** 5000}),
        Document(id='nan', source=SourceRef('jsonl', 's-nan'), text='Body.',
                 extra={'reading': float('nan'), 'peak': float('-inf')}),
    ]
    with direct_pipeline() as p:
        written = p | beam.Create(docs) | WriteJsonLines(str(tmp_path / 'enriched'), 2)
        assert_that(written.written | beam.Map(lambda d: d.id),
                    equal_to(['doc000', 'doc001', 'nan']), label='Written')
        assert_that(written.dead_letters | beam.Map(lambda d: (d.source.id, d.stage, d.reason)),
                    equal_to([('s-sur', 'write', 'unserialisable'),
                              ('s-huge', 'write', 'unserialisable')]), label='Dead')
        assert_that(written.dead_letters | beam.Map(lambda d: d.detail[:40]),
                    equal_to(['expected text encodable as UTF-8, got th',
                              'expected a value JSON can hold, got Exce']), label='Details')
    lines = [line for path in sorted(tmp_path.glob('enriched-*.jsonl'))
             for line in path.read_bytes().decode('utf-8').splitlines()]
    records = {r['id']: r for r in map(strict_loads, lines)}
    assert sorted(records) == ['doc000', 'doc001', 'nan']
    assert records['nan']['extra'] == {'reading': 'NaN', 'peak': '-Infinity'}


def test_serialising_extra_nested_past_the_recursion_limit_is_a_dead_letter():
    nested = 'bottom'
    for _ in range(5000):
        nested = {'next': nested}
    doc = Document(id='deep', source=SourceRef('jsonl', 's-deep'), text='Body.',
                   extra={'deep': nested})
    (out,) = SerialiseRecordFn().process(doc)
    assert out.tag == DEAD_LETTER
    assert (out.value.reason, out.value.detail[:46]) == (
        'unserialisable', 'expected a value JSON can hold, got nesting to')


def test_a_dead_letter_with_a_surrogate_source_id_is_written(tmp_path):
    letters = [dead_letter('read', 'unexpected_error', 'bad \udc00 id', SourceRef('jsonl', '\udc00'),
                           'orig \udc00')]
    with direct_pipeline() as p:
        written = (p | beam.Create(letters)
                   | WriteJsonLines(str(tmp_path / 'dead_letter'), 1,
                                    shard_key=lambda letter: letter.source.id))
        assert_that(written.dead_letters, equal_to([]), label='NoneUnwritten')
    (line,) = (tmp_path / 'dead_letter-00000-of-00001.jsonl').read_bytes().decode().splitlines()
    record = strict_loads(line)
    assert (record['source']['id'], record['detail']) == ('\\udc00', 'bad \\udc00 id')


def test_a_stream_whose_event_time_runs_ahead_of_the_clock_still_writes_every_record(tmp_path):
    # A feed ticker sets its watermark to its next tick, ahead of the clock. Stamped with the clock
    # alone, these records would fall an hour behind the watermark, into windows already closed.
    import time

    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    from apache_beam.testing.test_stream import TestStream
    from apache_beam.transforms.window import TimestampedValue

    from newswire.transforms.write import WriteWindowedJsonLines

    ahead = int(time.time()) + 3600
    docs = _docs(5)
    events = (TestStream()
              .advance_watermark_to(ahead)
              .add_elements([TimestampedValue(doc, ahead + i) for i, doc in enumerate(docs)])
              .advance_watermark_to_infinity())
    options = PipelineOptions(runner='DirectRunner')
    options.view_as(StandardOptions).streaming = True
    with beam.Pipeline(options=options) as p:
        _ = p | events | WriteWindowedJsonLines(str(tmp_path), 'enriched', 60)
    written = [json.loads(line)['id'] for path in sorted(tmp_path.glob('enriched-*.jsonl'))
               for line in path.read_text().splitlines()]
    assert sorted(written) == [doc.id for doc in docs]
