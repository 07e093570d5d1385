import base64
import gzip
import json

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.read_files import (InputFile, ParseInputFileFn, ReadDocumentFiles,
                                            document_from_record, input_kind)
from newswire.transforms.records import SourceRef
from tests.conftest import SEEDS, direct_pipeline

CAP = 1000


def _parse(path, root, cap=CAP):
    out = list(ParseInputFileFn(cap).process(InputFile(str(path), str(root),
                                                       path.stat().st_size)))
    good = [o for o in out if not isinstance(o, beam.pvalue.TaggedOutput)]
    dead = [o.value for o in out if isinstance(o, beam.pvalue.TaggedOutput)]
    return good, dead


@pytest.mark.parametrize('name,kind', [
    ('a.txt', 'text_file'), ('a.TXT.gz', 'text_file'), ('a.htm', 'html_file'),
    ('a.html.bz2', 'html_file'), ('a.jsonl', 'jsonl'), ('a.json', None), ('a.pdf', None)])
def test_input_kind(name, kind):
    assert input_kind(name) == kind


@pytest.mark.parametrize('content,reason', [
    (b'', 'empty'),
    (b'  \n\t ', 'empty'),
    (b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR', 'binary'),
    (b'caf\xe9 au lait, said the minister', 'undecodable'),
    (b'x' * (CAP + 1), 'too_large'),
])
def test_bad_text_files_become_dead_letters(tmp_path, content, reason):
    path = tmp_path / 'bad.txt'
    path.write_bytes(content)
    good, dead = _parse(path, tmp_path)
    assert good == []
    (letter,) = dead
    assert (letter.stage, letter.reason, letter.source.path) == ('read', reason, 'bad.txt')
    if reason in ('binary', 'undecodable'):  # small originals travel with the dead letter
        assert letter.original_encoding == 'base64'
        assert base64.b64decode(letter.original) == content


def test_utf16_with_bom_and_gzip_are_read(tmp_path):
    (tmp_path / 'u16.txt').write_bytes('Переговоры продолжаются.'.encode('utf-16'))
    with gzip.open(tmp_path / 'z.txt.gz', 'wb') as handle:
        handle.write(b'Talks continue in Baku.')
    assert _parse(tmp_path / 'u16.txt', tmp_path)[0][0].text == 'Переговоры продолжаются.'
    assert _parse(tmp_path / 'z.txt.gz', tmp_path)[0][0].text == 'Talks continue in Baku.'


def test_jsonl_lines_records_and_dead_letters(tmp_path):
    lines = [
        json.dumps({'id': 'r1', 'url': 'https://example.org/a', 'title': 'T', 'text': 'Body one.',
                    'published': '2023-11-14', 'outlet': 'Trend', 'section': 'politics'}),
        '',
        '{"id": "r2", "text": ',
        json.dumps({'id': 'r3', 'title': 'no body'}),
        json.dumps(['not', 'an', 'object']),
        json.dumps({'html': '<html><body><p>Hello</p></body></html>'}),
        json.dumps({'id': 'r5', 'text': 42}),
        json.dumps({'id': 'r6', 'text': 'y' * CAP}),
    ]
    path = tmp_path / 'feed.jsonl'
    path.write_text('\n'.join(lines) + '\n')
    good, dead = _parse(path, tmp_path, cap=CAP)
    assert [d.source.id for d in good] == ['r1', 'feed.jsonl:6']
    first = good[0]
    assert (first.title, first.published_at, first.source.outlet, first.source.url,
            first.source.line, first.extra) == ('T', '2023-11-14', 'Trend',
                                                'https://example.org/a', 1, {'section': 'politics'})
    assert good[1].html.startswith('<html>') and good[1].text == ''
    assert [(d.source.line, d.reason) for d in dead] == [
        (3, 'malformed_json'), (4, 'no_text'), (5, 'not_an_object'), (7, 'bad_field_type'),
        (8, 'too_large')]
    assert dead[0].original == '{"id": "r2", "text": \n'


def test_record_ids_are_stable_and_distinct():
    source = SourceRef('jsonl', 'f.jsonl:1', path='f.jsonl', line=1)
    a, _ = document_from_record({'text': 'Same body.'}, source)
    b, _ = document_from_record({'text': 'Same body.'}, source)
    c, _ = document_from_record({'text': 'Other body.'}, source)
    assert a.id == b.id != c.id


def test_read_document_files_expands_directories_and_reports_unsupported_files(tmp_path):
    (tmp_path / 'nested').mkdir()
    (tmp_path / 'nested' / 'a.txt').write_text('Alpha article body.')
    (tmp_path / 'b.html').write_text('<html><body><article><p>Beta</p></article></body></html>')
    (tmp_path / 'notes.md').write_text('not an input kind, so a dead letter: never a silent skip')
    (tmp_path / 'c.pdf').write_bytes(b'%PDF')
    with direct_pipeline() as p:
        good, dead = p | ReadDocumentFiles([str(tmp_path), str(tmp_path / 'c.pdf')], CAP)
        assert_that(good | beam.Map(lambda d: d.source.id),
                    equal_to(['nested/a.txt', 'b.html']), label='docs')
        assert_that(dead | beam.Map(lambda d: (d.source.id, d.reason)),
                    equal_to([('c.pdf', 'unsupported_file_type'),
                              ('notes.md', 'unsupported_file_type')]), label='dead')


def test_seeds_directory_reads_five_documents():
    with direct_pipeline() as p:
        good, dead = p | ReadDocumentFiles([str(SEEDS)], 10_000_000)
        assert_that(good | beam.Map(lambda d: d.source.id[:3]),
                    equal_to(['000', '001', '002', '003', '004']), label='docs')
        assert_that(dead, equal_to([]), label='dead')


def test_a_file_named_twice_is_read_once():
    (seed,) = SEEDS.glob('000_*.txt')
    with direct_pipeline() as p:
        good, _ = p | ReadDocumentFiles([str(SEEDS), str(seed), str(SEEDS / '00*.txt')], 10_000_000)
        assert_that(good | beam.combiners.Count.Globally(), equal_to([5]))
