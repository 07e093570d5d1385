import json

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.dead_letters import dead_letter
from newswire.transforms.records import Document, SourceRef
from newswire.transforms.write import Summarize, WriteJsonLines, shard_path
from tests.conftest import direct_pipeline


def _docs(n):
    return [Document(id=f'doc{i:03d}', source=SourceRef('jsonl', f's{i}'), text=f'Body {i}.')
            for i in range(n)]


def _write(tmp_path, docs, shards):
    with direct_pipeline() as p:
        p | beam.Create(docs) | WriteJsonLines(str(tmp_path / 'enriched'), shards)
    return sorted(tmp_path.glob('enriched-*.jsonl'))


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
