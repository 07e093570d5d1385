"""`pipeline.local.adapt`: building a graph starts nothing; the adapters start only for the run,
and the data-plane patch only for the modes with a gRPC data channel."""

import json
import subprocess
import sys

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.worker import data_plane
from apache_beam.testing.util import assert_that, equal_to

from newswire.pipeline.local import LocalSetupError, adapt, beam_data_plane
from newswire.pipeline.local.beam_data_plane import BEAM_STREAM
from newswire.pipeline.job.options import NewswireOptions
from newswire.pipeline.job.run import pipeline_options
from newswire.pipeline.job.settings import load_settings
from tests.conftest import REPO, SEEDS

DATAFLOW = ['--runner=DataflowRunner', '--dry_run=True', '--project=newswire-dry-run',
            '--region=europe-west1', '--temp_location=gs://newswire-dry-run/temp']
STREAM = ['--streaming', '--input_subscription=projects/newswire-local/subscriptions/raw-pipeline',
          '--output_topic=projects/newswire-local/topics/enriched', '--dead_letter_topic=projects/newswire-local/topics/dead']


# Builds both graphs in a fresh interpreter, so that no other test's threads or sockets count,
# and prints what building them started: new threads, new sockets, Beam's data-plane class.
_BUILD_BOTH = """
import json, os, sys, threading
from apache_beam.runners.worker import data_plane
from newswire.pipeline.job.run import batch_pipeline, pipeline_options, streaming_pipeline

def sockets():
    found = set()
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink(f'/proc/self/fd/{fd}')
        except FileNotFoundError:  # the listing's own descriptor, closed by now
            continue
        if target.startswith('socket:'):
            found.add(target)
    return found

runner, batch, stream = json.loads(sys.argv[1])
threads, before = set(threading.enumerate()), sockets()
batch_pipeline(pipeline_options(runner + batch))
streaming_pipeline(pipeline_options(runner + stream))
print(json.dumps({'threads': sorted(t.name for t in set(threading.enumerate()) - threads),
                  'sockets': sorted(sockets() - before),
                  'data_plane': data_plane.TimeBasedBufferingClosableOutputStream.__name__}))
"""


@pytest.fixture
def feeds_file(tmp_path):
    feeds = tmp_path / 'feeds.txt'
    feeds.write_text('http://127.0.0.1:9/rss\n')  # never polled: nothing here runs a job
    return feeds


@pytest.mark.slow  # a fresh interpreter builds two graphs
@pytest.mark.parametrize('runner', [['--runner=DirectRunner', '--direct_num_workers=2',
                                     '--direct_running_mode=multi_threading'], DATAFLOW],
                         ids=['direct-multi-threaded', 'dataflow'])
def test_building_either_graph_starts_no_thread_socket_or_patch(runner, tmp_path, feeds_file):
    arguments = json.dumps([runner, ['--input', str(SEEDS), '--output', str(tmp_path)],
                            STREAM + ['--feeds', str(feeds_file)]])
    done = subprocess.run([sys.executable, '-c', _BUILD_BOTH, arguments], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    started = json.loads(done.stdout.splitlines()[-1])
    assert started == {'threads': [], 'sockets': [],
                       'data_plane': BEAM_STREAM.__name__}


def _adapters(argv):
    options = pipeline_options(argv)
    job = options.view_as(NewswireOptions)
    return adapt(job, load_settings(), options)


class _PatchSeen(beam.DoFn):
    """Emits whether the data-plane patch is in place where the element is processed."""

    def process(self, element):
        yield beam_data_plane.installed()


def _run_seeing_the_patch(argv, patched: bool) -> None:
    """Runs a small job under the adapters for `argv`; each element checks `patched`."""
    with _adapters(argv + ['--input', str(SEEDS)]):
        with beam.Pipeline(options=PipelineOptions(argv)) as pipeline:
            seen = pipeline | beam.Create(range(4)) | beam.ParDo(_PatchSeen())
            assert_that(seen, equal_to([patched] * 4))


@pytest.mark.parametrize('argv, patched', [
    ([], False),
    (['--direct_num_workers=2'], False),  # still `in_memory`: Beam warns and runs one worker
    (['--direct_num_workers=2', '--direct_running_mode=multi_threading'], True),
])
def test_the_data_plane_patch_is_in_place_only_while_a_grpc_mode_runs(argv, patched):
    _run_seeing_the_patch(['--runner=DirectRunner'] + argv, patched)
    assert data_plane.TimeBasedBufferingClosableOutputStream is BEAM_STREAM  # and removed after


def test_multi_processing_is_patched_too_on_this_side_of_the_channel():
    adapters = _adapters(['--direct_running_mode=multi_processing', '--input', str(SEEDS)])
    assert adapters.patch_data_plane


def test_other_runners_get_nothing_swapped_or_started(feeds_file):
    adapters = _adapters(DATAFLOW + STREAM + ['--feeds', str(feeds_file)])
    assert (adapters.source, adapters.stream, adapters.patch_data_plane) == (None, None, False)
    assert adapters.publisher('projects/newswire-local/topics/e', 'projects/newswire-local/topics/d', ()) is None


def test_a_local_stream_serves_the_subscription_and_the_feeds_once_started(feeds_file):
    adapters = _adapters(['--runner=DirectRunner'] + STREAM + ['--feeds', str(feeds_file)])
    assert sorted(adapters.stream.sources) == ['messages', 'ticks']
    assert adapters.stream.endpoint is None  # planned, not started
    assert adapters.publisher('projects/newswire-local/topics/e', 'projects/newswire-local/topics/d', ()) is not None
    with adapters:
        assert adapters.stream.endpoint.startswith('127.0.0.1:')


def test_a_local_run_reading_a_subscription_needs_both_topics():
    with pytest.raises(LocalSetupError, match='needs --output-topic and --dead-letter-topic'):
        _adapters(['--runner=DirectRunner', '--streaming',
                   '--input_subscription=projects/newswire-local/subscriptions/raw-pipeline',
                   '--output_topic=projects/newswire-local/topics/enriched'])


def test_a_local_stream_refuses_an_unusable_feed_list_before_starting(tmp_path):
    from newswire.pipeline.job.sources import SourceError

    empty = tmp_path / 'feeds.txt'
    empty.write_text('# nothing yet\n', encoding='utf-8')
    with pytest.raises(SourceError, match='no feed URL'):
        _adapters(['--runner=DirectRunner', '--streaming', '--feeds', str(empty)])


def test_prism_reads_the_subscription_in_process_and_polls_feeds_with_beams_impulse(
        feeds_file, tmp_path, monkeypatch):
    from newswire.pipeline.job.sources import MergeSources
    from newswire.pipeline.local.pubsub_local import _READERS

    monkeypatch.setenv('PUBSUB_EMULATOR_HOST', '127.0.0.1:9')  # a client is made, never used
    binary = tmp_path / 'prism'
    binary.write_bytes(b'')  # named, never run: nothing here runs a job
    adapters = _adapters(['--runner=PrismRunner', f'--prism_location={binary}'] + STREAM
                         + ['--feeds', str(feeds_file)])
    assert adapters.stream is None and isinstance(adapters.source, MergeSources)
    assert adapters.publisher('projects/newswire-local/topics/e',
                              'projects/newswire-local/topics/d', ()) is not None
    assert adapters.reader.name not in _READERS  # planned, not started
    with adapters:
        assert _READERS[adapters.reader.name] is adapters.reader
    assert adapters.reader.name not in _READERS
