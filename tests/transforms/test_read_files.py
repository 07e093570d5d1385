import base64
import bz2
import gzip
import json
import os

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.read_files import (InputFile, ParseInputFileFn, ReadDocumentFiles,
                                            _ExpandInputsFn, document_from_record, input_kind)
from newswire.transforms.records import SourceRef
from tests.conftest import SEEDS, direct_pipeline

CAP = 1000


def _parse(path, root, cap=CAP, **limits):
    return _parse_file(InputFile(str(path), str(root), path.stat().st_size), cap, **limits)


def _parse_file(file, cap=CAP, **limits):
    out = list(ParseInputFileFn(cap, **limits).process(file))
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


# --- one bad line is one dead letter; every other line goes on ---------------------------------

def _valid_line(n):
    return json.dumps({'id': f'ok-{n}', 'text': f'Delegates met for round {n} of the talks.'})


@pytest.mark.parametrize('poison,reason', [
    ('{"id": ' + '7' * 5000 + ', "text": "A record whose id is too long a number."}',
     'number_too_long'),
    ('{"id": "u", "url": "http://[oops", "text": "A record with a broken address."}', 'bad_url'),
    ('[' * 100_000 + ']' * 100_000, 'too_deeply_nested'),
    ('{"id": "s", "text": "A lone surrogate \\ud800 in the text."}', 'invalid_unicode'),
    ('{"id": "k", "text": "A surrogate in a key.", "x\\udfff": 1}', 'invalid_unicode'),
    ('{"id": "d", "text": "Deep extra field.", "extra": ' + '{"a": ' * 500 + '1' + '}' * 500 + '}',
     'too_deeply_nested'),
])
def test_a_poisoned_line_is_one_dead_letter_and_the_other_lines_are_read(tmp_path, poison, reason):
    lines = [_valid_line(n) for n in range(1, 6)] + [poison] + [_valid_line(n) for n in range(6, 11)]
    path = tmp_path / 'wire.jsonl'
    path.write_text('\n'.join(lines) + '\n')
    good, dead = _parse(path, tmp_path, cap=10_000_000, max_json_depth=32)
    assert [d.source.id for d in good] == [f'ok-{n}' for n in range(1, 11)]
    (letter,) = dead
    assert (letter.reason, letter.source.line, letter.source.id) == (reason, 6, 'wire.jsonl:6')
    assert letter.original_bytes == len(poison) + 1
    if letter.original is not None:
        assert letter.original == poison + '\n'


def test_nesting_up_to_the_limit_is_kept(tmp_path):
    path = tmp_path / 'nested.jsonl'
    depth_3 = {'text': 'Three levels in all.', 'meta': {'tags': ['a']}}
    depth_4 = {'text': 'Four levels in all.', 'meta': {'tags': [{'a': 1}]}}
    path.write_text(json.dumps(depth_3) + '\n' + json.dumps(depth_4) + '\n')
    good, dead = _parse(path, tmp_path, max_json_depth=3)
    assert [d.text for d in good] == ['Three levels in all.']
    assert [(d.source.line, d.reason) for d in dead] == [(2, 'too_deeply_nested')]


def test_an_escaped_surrogate_pair_is_text_and_kept(tmp_path):
    path = tmp_path / 'emoji.jsonl'
    path.write_text('{"text": "Fireworks \\ud83c\\udf86 over the harbour."}\n')
    (doc,), dead = _parse(path, tmp_path)
    assert doc.text == 'Fireworks \U0001F386 over the harbour.' and dead == []


def test_a_line_that_fails_unexpectedly_is_one_letter_with_its_line(tmp_path, monkeypatch):
    import newswire.transforms.read_files as read_files

    real = read_files.document_from_record

    def failing_on_the_second(record, source, max_depth=None):
        if source.line == 2:
            raise KeyError('something the reader does not expect')
        return real(record, source, max_depth)

    monkeypatch.setattr(read_files, 'document_from_record', failing_on_the_second)
    path = tmp_path / 'three.jsonl'
    path.write_text('\n'.join(_valid_line(n) for n in range(1, 4)) + '\n')
    good, dead = _parse(path, tmp_path)
    assert [d.source.line for d in good] == [1, 3]
    assert [(d.source.line, d.reason) for d in dead] == [(2, 'unexpected_error')]
    assert 'KeyError' in dead[0].detail and dead[0].original == _valid_line(2) + '\n'


def test_jsonl_outputs_stream_before_the_file_is_read_to_its_end(tmp_path):
    path = tmp_path / 'long.jsonl'
    path.write_text(''.join(_valid_line(n) + '\n' for n in range(1, 2001)))
    outputs = ParseInputFileFn(CAP).process(InputFile(str(path), str(tmp_path), 1))
    first = next(outputs)
    assert first.source.id == 'ok-1'
    with open(path, 'a') as handle:  # a line added after the first was emitted is still read
        handle.write(_valid_line(2001) + '\n')
    assert sum(1 for _ in outputs) == 2000


@pytest.mark.slow
@pytest.mark.parametrize('name,compress', [('big.jsonl', bytes), ('big.jsonl.gz', gzip.compress)])
def test_reading_a_jsonl_file_takes_memory_for_a_line_not_for_the_file(tmp_path, name, compress):
    import tracemalloc

    path = tmp_path / name
    lines = 40_000  # about 3 MB; the documents made from them would take some 40 MB if kept
    path.write_bytes(compress(''.join(_valid_line(n) + '\n' for n in range(lines)).encode()))
    tracemalloc.start()
    try:
        count = sum(1 for _ in ParseInputFileFn(CAP).process(InputFile(str(path), str(tmp_path), 1)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == lines
    # A line, the read buffers and (compressed) one chunk in and out of the decompressor: under 1 MiB.
    assert peak < 1 << 20, peak


# --- compressed inputs -------------------------------------------------------------------------

@pytest.mark.parametrize('name,compress', [
    ('a.txt.gz', gzip.compress), ('a.txt.bz2', bz2.compress),
    ('a.html.gz', gzip.compress), ('a.html.bz2', bz2.compress)])
def test_compressed_text_and_html_are_read(tmp_path, name, compress):
    body = (b'<html><body><p>Ministers met in Tbilisi.</p></body></html>' if '.html' in name
            else b'Ministers met in Tbilisi.')
    (tmp_path / name).write_bytes(compress(body))
    (doc,), dead = _parse(tmp_path / name, tmp_path)
    assert dead == [] and (doc.html or doc.text) == body.decode()


@pytest.mark.parametrize('name,compress', [('w.jsonl.gz', gzip.compress),
                                           ('w.jsonl.bz2', bz2.compress)])
def test_compressed_jsonl_is_read_line_by_line(tmp_path, name, compress):
    lines = [_valid_line(1), '{"broken": ', _valid_line(3)]
    (tmp_path / name).write_bytes(compress(('\n'.join(lines) + '\n').encode()))
    good, dead = _parse(tmp_path / name, tmp_path)
    assert [d.source.id for d in good] == ['ok-1', 'ok-3']
    assert [(d.source.line, d.reason) for d in dead] == [(2, 'malformed_json')]


@pytest.mark.parametrize('name,compress', [('m.jsonl.gz', gzip.compress),
                                           ('m.jsonl.bz2', bz2.compress)])
def test_multi_member_gzip_and_concatenated_bzip2_are_read_through(tmp_path, name, compress):
    members = [compress(''.join(_valid_line(n) + '\n' for n in range(start, start + 3)).encode())
               for start in (1, 4, 7)]
    padding = b'\0' * 512 if name.endswith('.gz') else b''  # gzip allows NUL padding at the end
    (tmp_path / name).write_bytes(b''.join(members) + padding)
    good, dead = _parse(tmp_path / name, tmp_path)
    assert [d.source.id for d in good] == [f'ok-{n}' for n in range(1, 10)] and dead == []


def test_a_zero_byte_compressed_file_is_empty(tmp_path):
    (tmp_path / 'nothing.txt.gz').write_bytes(b'')
    assert [d.reason for d in _parse(tmp_path / 'nothing.txt.gz', tmp_path)[1]] == ['empty']


@pytest.mark.parametrize('name,content', [
    ('cut.txt.gz', gzip.compress(b'Talks resumed in Yerevan today. ' * 200, mtime=0)[:-30]),
    ('cut.txt.bz2', bz2.compress(b'Talks resumed in Yerevan today. ' * 200)[:-30]),
    ('fake.txt.gz', b'this was never gzip'),
    ('fake.html.bz2', b'BZh9 and then no bzip2 at all'),
])
def test_a_truncated_or_fake_compressed_file_is_a_dead_letter(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    good, dead = _parse(tmp_path / name, tmp_path, cap=100_000)
    assert good == [] and [d.reason for d in dead] == ['corrupt_compressed']


@pytest.mark.parametrize('name,compress', [
    ('cut.jsonl.gz', gzip.compress),
    # bzip2 decodes whole blocks: level 1 makes 100 kB blocks, so the first half holds whole ones.
    ('cut.jsonl.bz2', lambda data: bz2.compress(data, 1))])
def test_a_jsonl_file_cut_midway_keeps_the_lines_before_and_names_the_break(tmp_path, name,
                                                                            compress):
    text = ''.join(_valid_line(n) + '\n' for n in range(1, 6001)).encode()
    compressed = compress(text)
    path = tmp_path / name
    path.write_bytes(compressed[:len(compressed) // 2])
    good, dead = _parse(path, tmp_path)
    lines = [d.source.line for d in good]
    assert lines == list(range(1, len(lines) + 1)) and 0 < len(lines) < 6000
    (letter,) = dead
    assert (letter.reason, letter.source.line) == ('corrupt_compressed', len(lines) + 1)
    assert f'stopped at line {len(lines) + 1}' in letter.detail


def test_a_damaged_block_midway_ends_reading_with_one_letter_after_what_was_read(tmp_path):
    text = ''.join(_valid_line(n) + '\n' for n in range(1, 2001)).encode()
    compressed = bytearray(gzip.compress(text))
    middle = len(compressed) // 2
    compressed[middle:middle + 64] = b'\xff' * 64
    (tmp_path / 'damaged.jsonl.gz').write_bytes(bytes(compressed))
    good, dead = _parse(tmp_path / 'damaged.jsonl.gz', tmp_path)
    # Inflating may give garbled lines (dead letters of their own) before the stream fails.
    assert dead[-1].reason == 'corrupt_compressed'
    read = sorted([d.source.line for d in good] + [d.source.line for d in dead])
    assert read == list(range(1, len(read) + 1)) and len(read) < 2000


def test_a_compressed_file_stops_at_the_per_file_cap(tmp_path):
    lines = ''.join(_valid_line(n) + '\n' for n in range(1, 101)).encode()
    (tmp_path / 'big.jsonl.gz').write_bytes(gzip.compress(lines))
    thirty_lines = sum(len(_valid_line(n)) + 1 for n in range(1, 31))
    good, dead = _parse(tmp_path / 'big.jsonl.gz', tmp_path, cap=CAP, max_file_bytes=thirty_lines)
    (letter,) = dead
    assert [d.source.id for d in good] == [f'ok-{n}' for n in range(1, 31)]
    assert (letter.reason, letter.source.line) == ('too_large', 31)
    assert 'line 31' in letter.detail


def test_a_bomb_line_in_jsonl_is_one_letter_and_reading_stops_at_the_file_cap(tmp_path):
    zeros = gzip.compress(b'0' * 1_000_000)
    content = gzip.compress((_valid_line(1) + '\n').encode()) + zeros * 20
    (tmp_path / 'bomb.jsonl.gz').write_bytes(content)
    good, dead = _parse(tmp_path / 'bomb.jsonl.gz', tmp_path, cap=100_000,
                        max_file_bytes=5_000_000)
    assert [d.source.id for d in good] == ['ok-1']
    assert [(d.source.line, d.reason) for d in dead] == [(2, 'too_large')]


def test_a_file_inflating_far_past_its_compressed_size_stops_early(tmp_path):
    zeros = gzip.compress(b'0' * 1_000_000)  # about 1,000 times smaller than what it inflates to
    content = gzip.compress((_valid_line(1) + '\n').encode()) + zeros * 1000
    (tmp_path / 'bomb.jsonl.gz').write_bytes(content)
    good, dead = _parse(tmp_path / 'bomb.jsonl.gz', tmp_path, cap=100_000, max_inflation_ratio=200)
    assert [d.source.id for d in good] == ['ok-1']
    (letter,) = dead
    assert (letter.source.line, letter.reason) == (2, 'too_large')
    assert 'times its compressed size' in letter.detail


def test_a_single_document_may_inflate_to_its_cap_whatever_its_ratio(tmp_path):
    body = b'Repeated wire copy. ' * 4000  # 80 kB that compress several hundred times
    (tmp_path / 'dense.txt.gz').write_bytes(gzip.compress(body))
    (doc,), dead = _parse(tmp_path / 'dense.txt.gz', tmp_path, cap=100_000, max_inflation_ratio=2)
    assert doc.text == body.decode() and dead == []


# --- paths: links, non-regular files, names that are not UTF-8 --------------------------------

def _read_paths(inputs, follow_symlinks=False):
    """What ReadDocumentFiles reads from `inputs`, without a pipeline: (document ids, dead letters as
    (id, reason)), each sorted; a path listed by two inputs is read once, as there."""
    files = {f.path: f for i in inputs
             for f in _ExpandInputsFn(follow_symlinks).process(str(i))}
    good, dead = [], []
    for file in files.values():
        g, d = _parse_file(file)
        good += [doc.source.id for doc in g]
        dead += d
    return sorted(good), sorted(dead, key=lambda d: d.source.id)


def test_links_in_a_directory_are_dead_letters_unless_followed(tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'secret.txt').write_text('Words from outside the input directory.')
    (outside / 'sub').mkdir()
    (outside / 'sub' / 'deep.txt').write_text('A file in a linked directory.')
    inputs = tmp_path / 'in'
    inputs.mkdir()
    (inputs / 'plain.txt').write_text('A plain article about a summit.')
    (inputs / 'passwd.txt').symlink_to(outside / 'secret.txt')
    (inputs / 'dangling.txt').symlink_to(tmp_path / 'missing.txt')
    (inputs / 'loop.txt').symlink_to(inputs / 'loop.txt')
    (inputs / 'linked').symlink_to(outside / 'sub')
    (inputs / 'back').symlink_to(inputs)

    good, dead = _read_paths([inputs])
    assert good == ['plain.txt']
    assert [(d.source.id, d.reason) for d in dead] == [
        ('back', 'symlink_not_followed'), ('dangling.txt', 'symlink_not_followed'),
        ('linked', 'symlink_not_followed'), ('loop.txt', 'symlink_not_followed'),
        ('passwd.txt', 'symlink_not_followed')]
    assert f'a symbolic link to {outside / "secret.txt"};' in dead[-1].detail

    good, dead = _read_paths([inputs], follow_symlinks=True)
    assert good == ['linked/deep.txt', 'passwd.txt', 'plain.txt']
    assert [(d.source.id, d.reason) for d in dead] == [
        ('back', 'broken_symlink'), ('dangling.txt', 'broken_symlink'),
        ('loop.txt', 'broken_symlink')]


def test_a_link_named_as_the_input_is_followed(tmp_path):
    (tmp_path / 'real.txt').write_text('An article reached through a link the user named.')
    (tmp_path / 'named.txt').symlink_to(tmp_path / 'real.txt')
    (tmp_path / 'gone.txt').symlink_to(tmp_path / 'missing.txt')
    good, dead = _read_paths([tmp_path / 'named.txt', tmp_path / 'gone.txt'])
    assert good == ['named.txt']
    assert [(d.source.id, d.reason) for d in dead] == [('gone.txt', 'broken_symlink')]


def test_a_fifo_a_socket_and_a_device_are_never_opened(tmp_path):
    import socket
    import tempfile

    (tmp_path / 'plain.txt').write_text('A plain article about a harbour.')
    os.mkfifo(tmp_path / 'pipe.txt')
    # A socket's path must be short (108 bytes): made in a short directory, named as an input.
    with tempfile.TemporaryDirectory(dir='/tmp') as short:
        sock_path = os.path.join(short, 's.txt')
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(sock_path)
            good, dead = _read_paths([tmp_path, tmp_path / 'pipe.txt', sock_path, '/dev/null'])
    assert good == ['plain.txt']
    assert [(d.source.id, d.reason, d.detail) for d in dead] == [
        ('null', 'not_a_regular_file',
         'expected a regular file, found a character device: never opened'),
        ('pipe.txt', 'not_a_regular_file',
         'expected a regular file, found a FIFO (named pipe): never opened'),
        ('s.txt', 'not_a_regular_file', 'expected a regular file, found a socket: never opened')]


def test_a_fifo_in_place_of_a_listed_file_is_refused_when_opened(tmp_path):
    os.mkfifo(tmp_path / 'swapped.txt')
    good, dead = _parse_file(InputFile(str(tmp_path / 'swapped.txt'), str(tmp_path), 10))
    assert good == [] and [d.reason for d in dead] == ['not_a_regular_file']


@pytest.mark.slow
def test_a_file_name_that_is_not_utf8_is_read_with_its_name_escaped(tmp_path):
    directory = os.fsencode(tmp_path)
    with open(os.path.join(directory, b'\xff\xfe-report.txt'), 'wb') as handle:
        handle.write(b'A report filed under a name that is not UTF-8.')
    with open(os.path.join(directory, b'\xff\xfe-notes.md'), 'wb') as handle:
        handle.write(b'not an input kind')
    with direct_pipeline() as p:
        good, dead = p | ReadDocumentFiles([str(tmp_path)], CAP)
        assert_that(good | beam.Map(lambda d: (d.source.id, d.source.path, d.text)),
                    equal_to([('\\xff\\xfe-report.txt', '\\xff\\xfe-report.txt',
                               'A report filed under a name that is not UTF-8.')]), label='docs')
        assert_that(dead | beam.Map(lambda d: (d.source.id, d.reason)),
                    equal_to([('\\xff\\xfe-notes.md', 'unsupported_file_type')]), label='dead')


def test_an_unreadable_file_is_a_dead_letter(tmp_path):
    path = tmp_path / 'locked.txt'
    path.write_text('Nobody may read this.')
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip('running as a user who can read any file (root)')
        good, dead = _parse(path, tmp_path)
    finally:
        path.chmod(0o600)
    assert good == [] and [d.reason for d in dead] == ['unreadable']


def test_a_glob_lists_links_and_unsupported_files_it_matches(tmp_path):
    (tmp_path / 'a.txt').write_text('An article on fisheries quotas.')
    (tmp_path / 'b.txt').symlink_to(tmp_path / 'a.txt')
    (tmp_path / 'c.md').write_text('not read')
    (tmp_path / 'other.html').write_text('<p>not matched by the glob</p>')
    good, dead = _read_paths([tmp_path / '*.txt', tmp_path / 'c*'])
    assert good == ['a.txt']
    assert [(d.source.id, d.reason) for d in dead] == [('b.txt', 'symlink_not_followed'),
                                                       ('c.md', 'unsupported_file_type')]
