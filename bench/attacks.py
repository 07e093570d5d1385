"""An adversarial input corpus: every hostile file case the batch reader must survive, with the
outcome newswire owes each one.

`python -m bench.attacks DIR [--bomb-bytes N]` writes the files into DIR and `DIR.manifest.jsonl`
beside it (outside DIR, so a run on DIR does not read it). Each line names one record the run must
account for:

    {"case": "...", "source_id": "...", "expect": "enriched" | "dead", "stage": ..., "reasons": [...]}

`source_id` is the `source.id` the record or dead letter carries (a JSONL line's own `id`, else
`<file>:<line>`; a file's path relative to DIR, a name that is not UTF-8 with its bytes escaped).
`expect: dead` lists the acceptable `reasons`; `expect: any` asks only that the record is accounted
for, enriched or dead. `tests/bench/test_attacks.py` runs the
pipeline on the corpus and checks every line, that nothing else was read, and the accounting.

Cases that are not files (hostile feeds, the many-files dedup corpora) live with their own tests;
this corpus is what an attacker with write access to an input directory can do.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import os
import pathlib
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

# What the bombs of the review inflated to: a 6 MB .gz and a 17 KB .bz2 (members are repeated, not
# compressed again, so writing them takes a second).
DEFAULT_BOMB_BYTES = 6 * 2**30

# A bomb is built from one compressed block of zeros repeated as concatenated members.
_BLOCK_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Expectation:
    case: str
    source_id: str
    expect: str  # 'enriched' or 'dead'
    stage: Optional[str] = None
    reasons: tuple[str, ...] = field(default_factory=tuple)


def _article(index: int, topic: str = 'demining') -> str:
    """A short English wire paragraph, different per index (so no two are duplicates)."""
    return (f'Deminers of the national agency cleared plot {index} near the village on {topic} '
            f'duty this week, removing {index + 3} anti-tank mines and {index * 7 + 1} pieces of '
            f'unexploded ordnance, the agency said in its report number {1000 + index}.')


def _valid_line(file_stem: str, index: int) -> str:
    return json.dumps({'id': f'{file_stem}-{index}', 'text': _article(index, file_stem),
                       'outlet': 'Attack Wire'})


def _nested(depth: int) -> str:
    return '[' * depth + ']' * depth


def _jsonl_with_poison(directory: pathlib.Path, stem: str, poison: str, reasons: Sequence[str],
                       valid: int = 10, position: int = 6) -> list[Expectation]:
    """`valid` good lines with `poison` as line `position` (1-based)."""
    lines, expected = [], []
    good = iter(range(valid))
    for line_number in range(1, valid + 2):
        if line_number == position:
            lines.append(poison)
            expected.append(Expectation(stem, f'{stem}.jsonl:{line_number}', 'dead', 'read',
                                        tuple(reasons)))
        else:
            index = next(good)
            lines.append(_valid_line(stem, index))
            expected.append(Expectation(stem, f'{stem}-{index}', 'enriched'))
    (directory / f'{stem}.jsonl').write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return expected


def _repeated_members(path: pathlib.Path, compress, total_bytes: int) -> None:
    """A compressed file that inflates to `total_bytes` of zeros: one member written many times
    (gzip members and bzip2 streams may be concatenated; readers must go through all of them)."""
    member = compress(bytes(_BLOCK_BYTES))
    with open(path, 'wb') as handle:
        for _ in range(max(1, total_bytes // _BLOCK_BYTES)):
            handle.write(member)


def write_corpus(directory: pathlib.Path, bomb_bytes: int = DEFAULT_BOMB_BYTES,
                 with_fifo: bool = True) -> list[Expectation]:
    """Writes every case into `directory` (created) and returns what each must become."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    expected: list[Expectation] = []

    # 1. One bad line among good ones: only that line is a dead letter.
    expected += _jsonl_with_poison(directory, 'huge_int_id', '{"id": ' + '7' * 5000 + ', "text": "x"}',
                                   ['number_too_long'])
    expected += _jsonl_with_poison(directory, 'bad_url',
                                   json.dumps({'url': 'http://[oops', 'text': _article(99)}),
                                   ['bad_url'])
    expected += _jsonl_with_poison(directory, 'deep_nesting', _nested(100_000),
                                   ['too_deeply_nested'])

    # 2. One record that used to stop the run.
    expected += _jsonl_with_poison(directory, 'lone_surrogate',
                                   '{"id": "surrogate", "text": "Deminers \\ud800 cleared a field '
                                   'of anti-tank mines near the border village."}',
                                   ['invalid_unicode'])
    deep_extra = '{"id": "deep-extra", "text": "Mines were cleared.", "extra": ' + _nested(500) + '}'
    expected += _jsonl_with_poison(directory, 'deep_extra', deep_extra, ['too_deeply_nested'])
    odd_name = os.fsencode(directory) + b'/\xff\xfe-not-utf8.txt'
    with open(odd_name, 'wb') as handle:
        handle.write(_article(500).encode('utf-8'))
    expected.append(Expectation('non_utf8_name', '\\xff\\xfe-not-utf8.txt', 'any'))
    if with_fifo and hasattr(os, 'mkfifo'):
        os.mkfifo(directory / 'pipe.txt')
        expected.append(Expectation('fifo', 'pipe.txt', 'dead', 'read', ('not_a_regular_file',)))

    # 3. Compressed inputs: bombs end as too_large, every kind reads when compressed.
    _repeated_members(directory / 'bomb.txt.gz', lambda b: gzip.compress(b, 9), bomb_bytes)
    expected.append(Expectation('gzip_bomb', 'bomb.txt.gz', 'dead', 'read', ('too_large',)))
    _repeated_members(directory / 'bomb.txt.bz2', lambda b: bz2.compress(b, 9), bomb_bytes)
    expected.append(Expectation('bz2_bomb', 'bomb.txt.bz2', 'dead', 'read', ('too_large',)))
    for suffix, compress in (('gz', gzip.compress), ('bz2', bz2.compress)):
        stem = f'packed_{suffix}'
        lines = [_valid_line(stem, index) for index in range(3)]
        (directory / f'{stem}.jsonl.{suffix}').write_bytes(
            compress(('\n'.join(lines) + '\n').encode('utf-8')))
        expected += [Expectation(stem, f'{stem}-{index}', 'enriched') for index in range(3)]
        (directory / f'{stem}.txt.{suffix}').write_bytes(compress(_article(700).encode('utf-8')))
        expected.append(Expectation(stem, f'{stem}.txt.{suffix}', 'enriched'))
        (directory / f'{stem}.html.{suffix}').write_bytes(compress(
            f'<html><head><title>Demining report</title></head><body><article><p>{_article(800)}'
            f'</p><p>{_article(801)}</p></article></body></html>'.encode('utf-8')))
        expected.append(Expectation(stem, f'{stem}.html.{suffix}', 'enriched'))
    truncated = gzip.compress(_article(900).encode('utf-8') * 50)
    (directory / 'truncated.txt.gz').write_bytes(truncated[:len(truncated) // 2])
    expected.append(Expectation('truncated_gzip', 'truncated.txt.gz', 'dead', 'read',
                                ('corrupt_compressed',)))

    # 5. Text that made a rule or parser quadratic: each must finish and be enriched.
    (directory / 'reports_citing.txt').write_text(
        'Deminers cleared a field' + ', Trend reports citing ' * 40_000 + '.\n\n' + _article(1),
        encoding='utf-8')
    expected.append(Expectation('outlet_rule', 'reports_citing.txt', 'enriched'))
    (directory / 'spaces_published.jsonl').write_text(json.dumps(
        {'id': 'spaces', 'text': _article(2), 'published': '2023-11-14' + ' ' * 40_000 + '+'})
        + '\n', encoding='utf-8')
    expected.append(Expectation('published_spaces', 'spaces', 'enriched'))

    # 6. Links are not followed; other file types are counted, not skipped in silence.
    os.symlink('/etc/passwd', directory / 'passwd.txt')
    expected.append(Expectation('symlink_out', 'passwd.txt', 'dead', 'read',
                                ('symlink_not_followed',)))
    os.symlink('loop.txt', directory / 'loop.txt')
    expected.append(Expectation('symlink_loop', 'loop.txt', 'dead', 'read',
                                ('symlink_not_followed', 'broken_symlink')))
    os.symlink('nowhere.txt', directory / 'dangling.txt')
    expected.append(Expectation('symlink_dangling', 'dangling.txt', 'dead', 'read',
                                ('symlink_not_followed', 'broken_symlink')))
    (directory / 'brochure.pdf').write_bytes(b'%PDF-1.4\n%\xe2\xe3\xcf\xd3\n')
    expected.append(Expectation('other_type', 'brochure.pdf', 'dead', 'read',
                                ('unsupported_file_type',)))

    # 7. Values strict JSON cannot hold: the record is written, as valid JSON.
    (directory / 'not_a_number.jsonl').write_text(
        '{"id": "nan", "text": "' + _article(3) + '", "score": NaN, "range": [Infinity, -Infinity]}\n',
        encoding='utf-8')
    expected.append(Expectation('nan_extra', 'nan', 'enriched'))

    with open(directory.parent / f'{directory.name}.manifest.jsonl', 'w', encoding='utf-8') as out:
        for item in expected:
            out.write(json.dumps(asdict(item)) + '\n')
    return expected


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m bench.attacks', description=__doc__.split('\n')[0])
    parser.add_argument('directory', type=pathlib.Path, help='where to write the corpus (created)')
    parser.add_argument('--bomb-bytes', type=int, default=DEFAULT_BOMB_BYTES,
                        help=f'bytes each compression bomb inflates to (default {DEFAULT_BOMB_BYTES})')
    args = parser.parse_args(argv)
    expected = write_corpus(args.directory, args.bomb_bytes)
    print(f'{len(expected)} expectations; manifest: {args.directory.parent / (args.directory.name + ".manifest.jsonl")}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
