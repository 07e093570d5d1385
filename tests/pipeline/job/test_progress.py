"""The progress line: counted from the job's outputs, printed by a thread of the worker process."""

import io
import os
import subprocess
import sys

import pytest

from newswire.pipeline.job.progress import (DEAD_LETTERS, DUPLICATES, ENRICHED, READ, ProgressTally)
from tests.conftest import REPO, SEEDS, FakeClock


def test_no_line_before_anything_is_counted():
    assert ProgressTally(1.0, os.getpid(), clock=FakeClock()).line() is None


def test_the_line_counts_and_rates():
    clock = FakeClock(100.0)
    tally = ProgressTally(1.0, os.getpid(), clock=clock)
    tally.add(READ, 120)
    tally.add(ENRICHED, 100)
    tally.add(DEAD_LETTERS, 20)
    tally.add(DUPLICATES, 7)
    clock.now = 104.0
    assert tally.line() == ('newswire: progress  read 120  enriched 100  dead letters 20  '
                            'duplicates 7  (30.0 read/s)')


def test_a_worker_process_marks_its_line():
    tally = ProgressTally(1.0, launcher_pid=os.getpid() + 1, clock=FakeClock())
    tally.add(READ)
    assert f'[worker {os.getpid()}]' in tally.line()


def test_the_thread_prints_to_its_stream_until_stopped():
    stream = io.StringIO()
    tally = ProgressTally(0.01, os.getpid(), stream=stream)
    tally.add(READ, 3)
    tally.start()
    try:
        from tests.conftest import poll
        poll(lambda: 'read 3' in stream.getvalue(), 10, interval=0.01, what='a progress line')
    finally:
        tally.stop()


@pytest.mark.slow
def test_a_batch_run_prints_progress_lines(tmp_path):
    settings = tmp_path / 'settings.yaml'
    settings.write_text('output:\n  progress_seconds: 0.05\n')
    done = subprocess.run(
        [sys.executable, '-m', 'newswire.pipeline.cli', 'run', '--input', str(SEEDS), '--output',
         str(tmp_path / 'out'), '--settings', str(settings)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith('newswire: progress')]
    assert lines and 'read 5' in lines[-1]


def _labels(pipeline) -> set:
    return {t.full_label for t in pipeline.transforms_stack[0].parts}


@pytest.mark.parametrize('seconds, present', [('0', False), ('10', True)])
def test_progress_seconds_zero_leaves_it_out_of_the_graph(tmp_path, seconds, present):
    from newswire.pipeline.job.run import batch_pipeline, pipeline_options

    settings = tmp_path / 'settings.yaml'
    settings.write_text(f'output:\n  progress_seconds: {seconds}\n')
    pipeline = batch_pipeline(pipeline_options(
        ['--input', str(SEEDS), '--output', str(tmp_path / 'out'), '--settings', str(settings)]))
    assert ('Progress' in _labels(pipeline)) is present
