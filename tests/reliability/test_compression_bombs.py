"""Compression bombs end as `too_large` within 10 s and 500 MB resident (issue 17, item 3).

Each bomb is built here: one compressed member of 64 MiB of one repeated byte, repeated until the
file inflates to 6 GiB (gzip members and bzip2 streams may be concatenated, and the reader reads
through them: a bomb needs no single huge stream). The reader runs with the default settings in a
fresh interpreter, which reports its time and peak resident memory.
"""

import bz2
import gzip
import json
import subprocess
import sys
import zlib

import pytest

from tests.conftest import REPO

MIB = 1 << 20
INFLATED_BYTES = 6 * 1024 * MIB

_MEASURE = '''
import json, sys, time
from tests.reliability.peak_memory import peak_kib
import apache_beam as beam
from newswire.pipeline.job.settings import load_settings
from newswire.transforms.read_files import InputFile, ParseInputFileFn
path, root = sys.argv[1], sys.argv[2]
settings = load_settings()
parse = ParseInputFileFn(settings.max_document_bytes, settings.max_file_bytes,
                         settings.max_json_depth, settings.max_inflation_ratio)
started = time.monotonic()
outputs = []
for out in parse.process(InputFile(path, root, 1)):
    if isinstance(out, beam.pvalue.TaggedOutput):
        outputs.append(['dead', out.value.reason, out.value.source.line])
    else:
        outputs.append(['good', out.source.id, out.source.line])
print(json.dumps({'outputs': outputs, 'seconds': time.monotonic() - started,
                  'max_rss_mib': peak_kib() / 1024}))
'''


def _member(kind: str, byte: bytes) -> bytes:
    """One gzip member / bzip2 stream of 64 MiB of `byte`, compressed as it streams."""
    if kind == 'gz':
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    else:
        compressor = bz2.BZ2Compressor(9)
    block = byte * MIB
    parts = [compressor.compress(block) for _ in range(64)]
    return b''.join(parts) + compressor.flush()


def _write_bomb(path, kind: str, head: bytes = b'') -> None:
    member = _member(kind, b'0' if path.name.startswith('jsonl') else b' ')
    with open(path, 'wb') as handle:
        if head:
            handle.write(gzip.compress(head) if kind == 'gz' else bz2.compress(head))
        for _ in range(INFLATED_BYTES // (64 * MIB)):
            handle.write(member)


def _measure(path):
    done = subprocess.run([sys.executable, '-c', _MEASURE, str(path), str(path.parent)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['gz', 'bz2'])
def test_a_text_bomb_is_too_large_within_10_s_and_500_mb(tmp_path, kind):
    path = tmp_path / f'text.txt.{kind}'
    _write_bomb(path, kind)
    measured = _measure(path)
    assert measured['outputs'] == [['dead', 'too_large', None]]
    assert measured['seconds'] < 10
    assert measured['max_rss_mib'] < 500


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['gz', 'bz2'])
def test_a_jsonl_bomb_line_is_one_letter_and_reading_stops_within_10_s_and_500_mb(tmp_path, kind):
    # A valid record, then a line of zeros with no end: one too_large letter for line 2, and the
    # file is read no further: limits.max_inflation_ratio stops it after a few MB (without it,
    # limits.max_file_bytes would, after 1 GB of the 6 GiB).
    path = tmp_path / f'jsonl.jsonl.{kind}'
    _write_bomb(path, kind, head=json.dumps({'id': 'first', 'text': 'Talks opened.'}).encode()
                + b'\n')
    measured = _measure(path)
    assert measured['outputs'] == [['good', 'first', 1], ['dead', 'too_large', 2]]
    assert measured['seconds'] < 10
    assert measured['max_rss_mib'] < 500
