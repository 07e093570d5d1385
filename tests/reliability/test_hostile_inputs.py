"""Hostile inputs through `newswire run`: every bad path or line is exactly one dead letter with its
reason, every valid record is enriched, and read = enriched + dead letters (issue 17, items 1, 2, 3
and 6, the reading side)."""

import bz2
import gzip
import json
import os
import zlib

import pytest

from newswire.pipeline.cli import main


def _records(output, prefix):
    return [json.loads(line) for path in sorted(output.glob(f'{prefix}-*.jsonl'))
            for line in path.read_text(encoding='utf-8').splitlines()]


def _line(record_id, topic):
    return json.dumps({'id': record_id, 'outlet': 'Example Wire',
                       'text': f'Negotiators met on Tuesday to discuss {topic}, officials said.'})


def _complete_lines(compressed_prefix: bytes) -> int:
    """How many whole lines a cut gzip stream gives before it breaks."""
    inflated = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(compressed_prefix)
    return inflated.count(b'\n')


def _hostile_directory(root):
    """Writes the inputs; returns (ids that must be enriched, {id: reason} that must be dead)."""
    inputs = root / 'in'
    inputs.mkdir()
    outside = root / 'outside'
    outside.mkdir()
    good, bad = [], {}

    (inputs / 'plain.txt').write_text('Port workers ended their strike after a pay deal was '
                                      'signed late on Monday, the union said.')
    good.append('plain.txt')

    poisons = {
        'number_too_long': '{"id": ' + '9' * 5000 + ', "text": "An id too long to be a number."}',
        'bad_url': '{"id": "x", "url": "http://[oops", "text": "A record with a broken url."}',
        'too_deeply_nested': '[' * 100_000 + ']' * 100_000,
        'invalid_unicode': '{"id": "s", "text": "A lone surrogate \\ud800 in the text."}',
    }
    for number, (reason, poison) in enumerate(poisons.items()):
        lines = [_line(f'{reason}-{n}', f'fishing quota {number} item {n}') for n in range(10)]
        lines.insert(5, poison)
        (inputs / f'{reason}.jsonl').write_text('\n'.join(lines) + '\n')
        good += [f'{reason}-{n}' for n in range(10)]
        bad[f'{reason}.jsonl:6'] = reason
    deep = ('{"id": "deep", "text": "Deep extra.", "extra": ' + '{"k": ' * 500 + '1' + '}' * 500
            + '}')
    (inputs / 'deep.jsonl').write_text(_line('shallow', 'grain prices') + '\n' + deep + '\n')
    good.append('shallow')
    bad['deep.jsonl:2'] = 'too_deeply_nested'

    with open(os.path.join(os.fsencode(inputs), b'\xff\xfe-wire.txt'), 'wb') as handle:
        handle.write(b'A report saved under a file name that is not UTF-8 was filed today.')
    good.append('\\xff\\xfe-wire.txt')

    os.mkfifo(inputs / 'pipe.txt')
    bad['pipe.txt'] = 'not_a_regular_file'
    (outside / 'secret.txt').write_text('Text outside the input directory must not be read.')
    (inputs / 'passwd.txt').symlink_to(outside / 'secret.txt')
    (inputs / 'dangling.txt').symlink_to(root / 'missing.txt')
    (inputs / 'loop.txt').symlink_to(inputs / 'loop.txt')
    bad.update({'passwd.txt': 'symlink_not_followed', 'dangling.txt': 'symlink_not_followed',
                'loop.txt': 'symlink_not_followed'})
    (inputs / 'report.pdf').write_bytes(b'%PDF-1.4 not read')
    (inputs / 'README.md').write_text('Notes about this folder.')
    bad.update({'report.pdf': 'unsupported_file_type', 'README.md': 'unsupported_file_type'})

    (inputs / 'zipped.txt.gz').write_bytes(gzip.compress(
        b'Rail traffic resumed across the border after repairs to a bridge were completed.'))
    (inputs / 'zipped.html.bz2').write_bytes(bz2.compress(
        b'<html><head><title>Harbour reopens</title></head><body><article><p>The harbour '
        b'reopened to cargo ships on Friday after storm damage to two piers was repaired, the port '
        b'authority said in a statement.</p></article></body></html>'))
    good += ['zipped.txt.gz', 'zipped.html.bz2']
    (inputs / 'w.jsonl.gz').write_bytes(gzip.compress(
        (_line('gz-1', 'a tariff') + '\n' + _line('gz-2', 'a levy') + '\n').encode()))
    (inputs / 'w.jsonl.bz2').write_bytes(bz2.compress(
        (_line('bz-1', 'a treaty') + '\n' + _line('bz-2', 'a ceasefire') + '\n').encode()))
    good += ['gz-1', 'gz-2', 'bz-1', 'bz-2']

    bomb = gzip.compress(b' ' * 1_000_000) * 8  # 8 MB of spaces, over the 5 MB document cap
    (inputs / 'bomb.txt.gz').write_bytes(bomb)
    bad['bomb.txt.gz'] = 'too_large'
    (inputs / 'fake.txt.gz').write_bytes(b'never compressed at all')
    bad['fake.txt.gz'] = 'corrupt_compressed'
    lines = ''.join(_line(f'cut-{n}', f'a shipment {n}') + '\n' for n in range(1, 121)).encode()
    cut = gzip.compress(lines)[:-100]
    whole = _complete_lines(cut)
    assert 0 < whole < 120  # the cut falls inside the lines, not before the first
    (inputs / 'cut.jsonl.gz').write_bytes(cut)
    good += [f'cut-{n}' for n in range(1, whole + 1)]
    bad[f'cut.jsonl.gz:{whole + 1}'] = 'corrupt_compressed'
    return inputs, good, bad


@pytest.mark.slow
def test_every_hostile_input_is_one_dead_letter_and_every_valid_record_is_enriched(
        tmp_path, dead_letter_validator):
    inputs, good, bad = _hostile_directory(tmp_path)
    output = tmp_path / 'out'
    assert main(['run', '--input', str(inputs), '--output', str(output)]) == 0
    summary = json.loads((output / 'summary.json').read_text())
    enriched, dead = _records(output, 'enriched'), _records(output, 'dead_letter')
    assert sorted(r['source']['id'] for r in enriched) == sorted(good)
    assert sorted((d['source']['id'], d['stage'], d['reason']) for d in dead) == sorted(
        (source_id, 'read', reason) for source_id, reason in bad.items())
    assert summary['documents_read'] == len(good) + len(bad)
    assert (summary['enriched'], summary['dead_letters']) == (len(good), len(bad))
    assert summary['accounting_ok']
    for letter in dead:
        assert [e.message for e in dead_letter_validator.iter_errors(letter)] == []
    assert 'outside the input directory' not in (output / 'enriched-00000-of-00001.jsonl').read_text()


@pytest.mark.slow
def test_with_follow_symlinks_links_are_read_and_broken_ones_are_dead_letters(tmp_path):
    inputs = tmp_path / 'in'
    inputs.mkdir()
    (tmp_path / 'elsewhere.txt').write_text('Customs officers seized a cargo of counterfeit '
                                            'medicine at the port on Wednesday.')
    (inputs / 'linked.txt').symlink_to(tmp_path / 'elsewhere.txt')
    (inputs / 'dangling.txt').symlink_to(tmp_path / 'missing.txt')
    (inputs / 'loop.txt').symlink_to(inputs / 'loop.txt')
    output = tmp_path / 'out'
    assert main(['run', '--input', str(inputs), '--output', str(output), '--follow-symlinks']) == 0
    assert [r['source']['id'] for r in _records(output, 'enriched')] == ['linked.txt']
    assert sorted((d['source']['id'], d['reason']) for d in _records(output, 'dead_letter')) == [
        ('dangling.txt', 'broken_symlink'), ('loop.txt', 'broken_symlink')]
    assert json.loads((output / 'summary.json').read_text())['accounting_ok']


@pytest.mark.slow
def test_a_directory_with_nothing_to_read_completes_with_a_warning(tmp_path, capsys):
    (tmp_path / 'in').mkdir()
    assert main(['run', '--input', str(tmp_path / 'in'), '--output', str(tmp_path / 'out')]) == 0
    captured = capsys.readouterr()
    assert 'documents read   0' in captured.out
    assert 'warning: no records were read' in captured.err


@pytest.mark.slow
def test_a_directory_of_only_unreadable_files_warns_that_nothing_was_enriched(tmp_path, capsys):
    (tmp_path / 'in').mkdir()
    (tmp_path / 'in' / 'scan.pdf').write_bytes(b'%PDF-1.4')
    assert main(['run', '--input', str(tmp_path / 'in'), '--output', str(tmp_path / 'out')]) == 0
    captured = capsys.readouterr()
    assert 'read:unsupported_file_type 1' in captured.out
    assert 'warning: none of the 1 records read was enriched' in captured.err
