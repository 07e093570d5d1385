"""The adversarial corpus (bench/attacks.py) through `newswire run`: every case is accounted for as
the manifest says, nothing else is read, the run ends by itself within time and memory bounds, and
every written line is strict JSON."""

import json
import math
import pathlib
import sys

import pytest

from bench import attacks
from bench.procs import run_measured
from tests.conftest import REPO

pytestmark = pytest.mark.slow

# The review's bombs were killed at 6.5 GB; the reader must stop at the per-document cap.
MAX_PEAK_RSS_BYTES = 1500 * 2**20
MAX_SECONDS = 300


def _strict_json(line: str):
    def refuse(constant):
        raise ValueError(f'not strict JSON: {constant}')
    return json.loads(line, parse_constant=refuse)


def _lines(output: pathlib.Path, prefix: str) -> list[dict]:
    return [_strict_json(line) for path in sorted(output.glob(f'{prefix}-*.jsonl'))
            for line in path.read_text(encoding='utf-8').splitlines()]


@pytest.fixture(scope='module')
def attack_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('attacks')
    expected = attacks.write_corpus(root / 'corpus')
    output = root / 'out'
    command = [sys.executable, '-c', 'from newswire.pipeline.cli import main; raise SystemExit(main())',
               'run', '--input', str(root / 'corpus'), '--output', str(output)]
    stdout, _, peak = run_measured(command, cwd=str(REPO), timeout=MAX_SECONDS)
    return expected, output, stdout, peak


def test_the_run_ends_within_its_memory_bound(attack_run):
    _, _, _, peak = attack_run
    assert peak < MAX_PEAK_RSS_BYTES, f'peak RSS {peak / 2**20:.0f} MiB'


def test_every_case_ends_as_the_manifest_says(attack_run):
    expected, output, _, _ = attack_run
    enriched = {r['source']['id']: r for r in _lines(output, 'enriched')}
    dead = {d['source']['id']: d for d in _lines(output, 'dead_letter')}
    wrong = []
    for item in expected:
        if item.expect == 'enriched':
            if item.source_id not in enriched:
                wrong.append((item.case, item.source_id, 'not enriched', dead.get(item.source_id)))
        elif item.expect == 'dead':
            letter = dead.get(item.source_id)
            if letter is None or letter['stage'] != item.stage or letter['reason'] not in item.reasons:
                wrong.append((item.case, item.source_id, f'expected {item.stage}:{item.reasons}',
                              letter and (letter['stage'], letter['reason'], letter['detail'][:200])))
        elif not (item.source_id in enriched or item.source_id in dead):
            wrong.append((item.case, item.source_id, 'not accounted for', sorted(dead)))
    assert wrong == []
    # Nothing but the manifest's records was read: no link was followed, no file read twice.
    assert set(enriched) | set(dead) == {item.source_id for item in expected}


def test_the_summary_accounts_for_every_record(attack_run):
    expected, output, stdout, _ = attack_run
    summary = json.loads((output / 'summary.json').read_text())
    assert summary['accounting_ok']
    assert summary['documents_read'] == len(expected)
    assert 'accounting       ok' in stdout


def test_values_json_cannot_hold_are_kept_as_strings(attack_run):
    _, output, _, _ = attack_run
    (record,) = [r for r in _lines(output, 'enriched') if r['source']['id'] == 'nan']
    assert record['extra'] == {'score': 'NaN', 'range': ['Infinity', '-Infinity']}
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in record['extra']['range'])


def test_the_linked_file_is_never_read(attack_run):
    _, output, _, _ = attack_run
    everything = ''.join(path.read_text(encoding='utf-8') for path in output.glob('*.jsonl'))
    assert 'root:x:0:0' not in everything
