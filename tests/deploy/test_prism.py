"""Prism, Beam's Go runner: `newswire runners install prism` and `newswire run --runner=PrismRunner`.

Fast tests: the set-up's error paths (no Go, a refused module download, no binary; Flink's and
Spark's are in test_flink.py) and what a run takes from the cache. Slow tests, with
the binary `.ci/run` installs: the seeds and the bench's 2,000-document corpus give the
DirectRunner's files byte for byte, and a stream polling a local feed on Prism publishes records,
with the dedup tiers decided by Prism's state and timers, to the emulator's topic.
"""

import html
import json
import os
import shutil
import stat
import subprocess
import sys
import uuid

import pytest
from apache_beam.options.pipeline_options import DebugOptions

from bench import corpus
from newswire.pipeline.job import runners
from newswire.pipeline.cli import main
from newswire.pipeline.job.run import pipeline_options
from tests.conftest import (REPO, SEEDS, missing_tool, needs_bench_corpus, poll,
                            stop_with_ctrl_c)
from tests.local_http import LocalHttpServer
from tests.transforms.test_feeds import RSS, rss_item

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']
OUTPUT_FILES = ('enriched-00000-of-00001.jsonl', 'dead_letter-00000-of-00001.jsonl',
                'summary.json')


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A cache with nothing installed (XDG_CACHE_HOME is where `runners.cache_dir` looks)."""
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    return tmp_path / 'cache' / 'newswire'


def _place_binary(path):
    """An executable file where the cache keeps Prism: what the run and `install` look for."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'#!/bin/sh\nexit 1\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _one_error_line(capsys, prefix):
    """The one line of stderr (besides a build's announcement) that says what went wrong."""
    lines = [line for line in capsys.readouterr().err.splitlines()
             if not line.startswith('newswire runners: building Prism')]
    assert len(lines) == 1 and lines[0].startswith(prefix), lines
    return lines[0]


def test_install_without_go_on_path_is_one_line_naming_go(empty_cache, tmp_path, monkeypatch,
                                                          capsys):
    no_tools = tmp_path / 'bin'
    no_tools.mkdir()
    monkeypatch.setenv('PATH', str(no_tools))
    assert main(['runners', 'install', 'prism']) == 2
    err = _one_error_line(capsys, 'newswire runners: ')
    assert 'no `go` is on PATH' in err and '--prism_location' in err
    assert runners.installed_prism() is None


def test_a_refused_module_download_is_one_line_and_installs_nothing(empty_cache, tmp_path,
                                                                    monkeypatch, capsys):
    if shutil.which('go') is None:
        missing_tool('Go is needed to build Prism')
    with LocalHttpServer() as proxy:  # a module proxy that has nothing: every path is a 404
        monkeypatch.setenv('GOPROXY', proxy.url('/'))
        monkeypatch.setenv('GOMODCACHE', str(tmp_path / 'modcache'))  # not the machine's copy
        monkeypatch.setenv('GOFLAGS', '-modcacherw')
        monkeypatch.setenv('GOSUMDB', 'off')
        monkeypatch.setenv('GOTOOLCHAIN', 'local')
        assert main(['runners', 'install', 'prism']) == 2
        asked = [path for path, _ in proxy.requests]
    err = _one_error_line(capsys, 'newswire runners: go mod download ')
    assert 'the download was refused' in err, err
    assert any('/github.com/apache/beam/' in path for path in asked), asked
    assert runners.installed_prism() is None
    assert (runners.prism_path().parent / 'install.log').read_text() != ''
    assert [p.name for p in runners.prism_path().parent.iterdir()] == ['install.log']


@pytest.mark.slow
def test_a_failed_build_is_one_line_and_installs_nothing(empty_cache, monkeypatch, capsys):
    """The module comes from the machine's Go module cache (served as a file:// proxy, as
    `newswire runners install prism` left it); the compiler is replaced by `false`."""
    if shutil.which('go') is None:
        missing_tool('Go is needed to build Prism')
    modcache = subprocess.run(['go', 'env', 'GOMODCACHE'], capture_output=True, text=True,
                              check=True).stdout.strip()
    downloads = f'{modcache}/cache/download'
    if not os.path.isfile(f'{downloads}/github.com/apache/beam/sdks/v2/@v/'
                          f'v{runners.beam_version()}.zip'):
        missing_tool(f'Beam\'s Go module is not in {downloads}: {runners.INSTALL_COMMAND}')
    monkeypatch.setenv('GOPROXY', f'file://{downloads}')
    monkeypatch.setenv('GOSUMDB', 'off')
    monkeypatch.setenv('GOTOOLCHAIN', 'local')
    monkeypatch.setenv('GOFLAGS', f'-toolexec={shutil.which("false")}')
    assert main(['runners', 'install', 'prism']) == 2
    err = _one_error_line(capsys, 'newswire runners: go build ')
    assert 'the build failed' in err, err
    assert runners.installed_prism() is None


def test_install_finds_an_installed_binary_and_builds_nothing(empty_cache, tmp_path, monkeypatch,
                                                              capsys):
    binary = _place_binary(runners.prism_path())
    monkeypatch.setenv('PATH', str(tmp_path))  # no go: building would fail
    assert main(['runners', 'install', 'prism']) == 0
    assert capsys.readouterr().out == f'prism {runners.beam_version()} already installed: {binary}\n'


def test_list_says_what_is_installed_and_how_to_install_the_rest(empty_cache, capsys):
    assert main(['runners', 'list']) == 0
    before = capsys.readouterr().out
    assert 'not installed: newswire runners install prism' in before
    binary = _place_binary(runners.prism_path())
    _place_binary(runners.prism_path('2.70.0'))
    assert main(['runners', 'list']) == 0
    after = capsys.readouterr().out
    assert f'installed: {binary}' in after and 'also cached, unused by this Beam: 2.70.0' in after


def test_a_prism_run_without_the_binary_says_to_install_it(empty_cache, tmp_path, capsys):
    assert main(['run', '--runner=PrismRunner', '--input', str(SEEDS),
                 '--output', str(tmp_path / 'out')]) == 2
    err = _one_error_line(capsys, 'newswire run: --runner=PrismRunner needs the Prism binary')
    assert '`newswire runners install prism`' in err
    assert not (tmp_path / 'out').exists()


def test_a_prism_run_takes_the_cached_binary_unless_one_is_named(empty_cache, tmp_path):
    binary = _place_binary(runners.prism_path())
    options = pipeline_options(['--runner=PrismRunner'])
    assert options.get_all_options()['prism_location'] == str(binary)
    own = _place_binary(tmp_path / 'my-prism')
    options = pipeline_options(['--runner=PrismRunner', f'--prism_location={own}'])
    assert options.get_all_options()['prism_location'] == str(own)


def test_a_prism_stream_runs_without_bundle_splits(empty_cache):
    # A split gives the split-off keys back while the first part still runs: a second bundle on a
    # key with state could start before the first commits (apache/beam#35771).
    _place_binary(runners.prism_path())
    streaming = pipeline_options(['--runner=PrismRunner', '--streaming'])
    assert streaming.view_as(DebugOptions).experiments.count(runners.PRISM_NO_SPLITS) == 1
    again = pipeline_options(['--runner=PrismRunner', '--streaming',
                              f'--experiments={runners.PRISM_NO_SPLITS}'])
    assert again.view_as(DebugOptions).experiments.count(runners.PRISM_NO_SPLITS) == 1
    batch = pipeline_options(['--runner=PrismRunner'])
    assert runners.PRISM_NO_SPLITS not in (batch.view_as(DebugOptions).experiments or [])


def test_a_prism_run_outlives_beams_five_minute_job_stream_deadline(empty_cache):
    # Beam's default --job_server_timeout (300 s) is the deadline of the job's state stream: a
    # longer run died with DEADLINE_EXCEEDED (apache/beam#35867).
    _place_binary(runners.prism_path())
    options = pipeline_options(['--runner=PrismRunner'])
    assert options.get_all_options()['job_server_timeout'] == runners.JOB_STREAM_TIMEOUT_SECONDS
    options = pipeline_options(['--runner=PrismRunner', '--job_server_timeout=60'])
    assert options.get_all_options()['job_server_timeout'] == 60
    assert pipeline_options([]).get_all_options()['job_server_timeout'] == 300  # DirectRunner
    # A named job server: Beam waits this long for it to answer, so a wrong address still fails.
    options = pipeline_options(['--runner=PortableRunner', '--job_endpoint=127.0.0.1:9'])
    assert options.get_all_options()['job_server_timeout'] == 300


# --- with the binary -------------------------------------------------------------------------

def _prism() -> str:
    binary = runners.installed_prism()
    if binary is None:
        missing_tool(f'Prism is not installed ({runners.prism_path()}): '
                     f'{runners.INSTALL_COMMAND}')
    return str(binary)


def _run_both(inputs, tmp_path, *prism_flags):
    """(DirectRunner output, PrismRunner output) of the same batch run."""
    prism = _prism()
    outputs = []
    for runner, flags in (('DirectRunner', ()), ('PrismRunner', prism_flags)):
        output = tmp_path / runner
        done = subprocess.run(NEWSWIRE + ['run', '--input', str(inputs), '--output', str(output),
                                          f'--runner={runner}', *flags],
                              cwd=REPO, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(output)
    assert prism in done.stderr  # the cached binary ran, nothing was downloaded
    if '--enrichment-process' in prism_flags:
        assert 'the per-document steps in a worker process' in done.stderr
    return outputs


def _assert_same_files(direct, prism):
    for name in OUTPUT_FILES:
        assert (prism / name).read_bytes() == (direct / name).read_bytes(), name


@pytest.mark.slow
@pytest.mark.parametrize('flags', [(), ('--enrichment-process',)])
def test_the_seeds_on_prism_give_the_direct_runners_files(flags, tmp_path):
    direct, prism = _run_both(SEEDS, tmp_path, *flags)
    _assert_same_files(direct, prism)
    assert (prism / OUTPUT_FILES[0]).read_text().count('\n') == len(list(SEEDS.glob('*.txt')))


@pytest.mark.slow
@needs_bench_corpus
def test_the_bench_corpus_on_prism_gives_the_direct_runners_files(tmp_path):
    documents = tmp_path / 'corpus'
    corpus.write_corpus(2000, documents)
    direct, prism = _run_both(documents, tmp_path)
    _assert_same_files(direct, prism)
    summary = json.loads((prism / 'summary.json').read_text())
    assert summary['documents_read'] == 2000 and summary['accounting_ok']


def test_the_portable_runner_without_a_job_endpoint_is_refused(tmp_path, capsys):
    assert main(['run', '--runner=PortableRunner', '--input', str(SEEDS), '--output',
                 str(tmp_path / 'o')]) == 2
    err = _one_error_line(capsys, 'newswire run: --runner=PortableRunner needs --job_endpoint')
    assert '--runner=PrismRunner' in err


def test_prism_refuses_a_subscription_its_workers_could_not_share(empty_cache, capsys):
    _place_binary(runners.prism_path())
    assert main(['run', '--streaming', '--runner=PrismRunner', '--environment_type=DOCKER',
                 '--input-subscription=projects/p/subscriptions/raw',
                 '--output-topic=projects/p/topics/enriched']) == 2
    err = _one_error_line(capsys, 'newswire run: --input-subscription cannot be read on '
                                  'PrismRunner with --environment_type=DOCKER')
    assert '--environment_type=LOOPBACK' in err


def _page(text: str) -> bytes:
    """A text as an article page: its first line the headline, every other line a paragraph."""
    lines = [html.escape(line.strip()) for line in text.splitlines() if line.strip()]
    paragraphs = ''.join(f'<p>{line}</p>' for line in lines[1:])
    return (f'<html><head><title>{lines[0]}</title></head><body><article><h1>{lines[0]}</h1>'
            f'{paragraphs}</article></body></html>').encode('utf-8')


def _serve_wire(server, tmp_path):
    """A feed whose entries are the seeds as pages, an exact copy of one and a near copy of
    another (so all three dedup tiers have something to find); returns the feed list file."""
    seeds = {path.name[:3]: path.read_text(encoding='utf-8') for path in sorted(SEEDS.glob('*.txt'))}
    pages = {name: _page(text) for name, text in seeds.items()}
    pages['copy-of-002'] = pages['002']
    pages['near-004'] = _page(seeds['004'] + '\nThe delegation said it would return next month.\n')
    items = b''
    for name, body in pages.items():
        link = server.route(f'/pages/{name}', 200, body, {'Content-Type': 'text/html; charset=utf-8'})
        items += rss_item(name, link)
    server.route('/wire.rss', 200, RSS % items, {'Content-Type': 'application/rss+xml'})
    feeds = tmp_path / 'feeds.txt'
    feeds.write_text(server.url('/wire.rss') + '\n')
    return feeds, sorted(pages)


def _pull_all(subscriber, subscription, into):
    response = subscriber.pull(request={'subscription': subscription, 'max_messages': 100},
                               timeout=10)
    if response.received_messages:
        subscriber.acknowledge(request={'subscription': subscription, 'ack_ids': [
            message.ack_id for message in response.received_messages]})
        into.extend(json.loads(message.message.data) for message in response.received_messages)
    return into


def _windowed(directory):
    return [json.loads(line) for path in sorted(directory.glob('enriched-*.jsonl'))
            for line in path.read_text().splitlines()]


def stream_feeds_and_check(runner: str, tmp_path) -> str:
    """Streams a local wire on `runner` beside a DirectRunner batch run of the same feeds, and checks
    PeriodicImpulse ticks, the feeds' seen-entry state, the dedup tiers' state and settle timers:
    every entry is published once, with the dedup verdict of the batch run, and written once to the
    windowed files. Returns the streaming run's log."""
    from newswire.pipeline.commands.pubsub_admin import (ensure_subscription, ensure_topic,
                                                         publisher_client, subscriber_client)

    project = f'{runner.lower()}-{uuid.uuid4().hex[:8]}'
    enriched, dead = f'projects/{project}/topics/enriched', f'projects/{project}/topics/dead-letter'
    publisher, subscriber = publisher_client(), subscriber_client()
    for topic in (enriched, dead):
        ensure_topic(publisher, topic)
    subscription = f'projects/{project}/subscriptions/enriched-all'
    ensure_subscription(subscriber, subscription, enriched)
    settings = tmp_path / 'settings.yaml'
    settings.write_text('feeds:\n  poll_interval_seconds: 2\n'
                        'fetch:\n  min_host_interval_seconds: 0.0\n'
                        'dedup:\n  settle_seconds: 1\n')
    with LocalHttpServer() as server:
        feeds, names = _serve_wire(server, tmp_path)
        common = ['--feeds', str(feeds), '--allow-host', '127.0.0.1', '--settings', str(settings)]
        batch = subprocess.run(NEWSWIRE + ['run', '--runner=DirectRunner', '--output',
                                           str(tmp_path / 'batch')] + common,
                               cwd=REPO, capture_output=True, text=True, timeout=300)
        assert batch.returncode == 0, batch.stderr[-3000:]
        log_path = tmp_path / 'stream.log'
        with open(log_path, 'w') as log:
            stream = subprocess.Popen(
                NEWSWIRE + ['run', '--streaming', f'--runner={runner}', '--output-topic',
                            enriched, '--dead-letter-topic', dead, '--output',
                            str(tmp_path / 'windows'), '--window-seconds', '2'] + common,
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        published = []
        try:
            poll(lambda: len(_pull_all(subscriber, subscription, published)) >= len(names), 300,
                 interval=0.5, what=f'{len(names)} records on {enriched}')
            polls = server.hits['/wire.rss']
            poll(lambda: server.hits['/wire.rss'] >= polls + 2, 60, what='two more polls')
            _pull_all(subscriber, subscription, published)
            # The files wait for the watermark past their windows; how soon is the bench's to
            # measure (one CI run of this test waited more than 60 s), this checks what is written.
            windowed = poll(lambda: len(_windowed(tmp_path / 'windows')) >= len(names) and
                            _windowed(tmp_path / 'windows'), 300, what='the windowed files')
        finally:
            stop_with_ctrl_c(stream, group=True)  # as in a terminal: the runner gets it too
    log = log_path.read_text()
    assert stream.returncode == 0, log[-3000:]
    assert 'Traceback' not in log and 'newswire: stopped' in log, log[-3000:]
    expected = {json.loads(line)['source']['id']: json.loads(line)
                for path in (tmp_path / 'batch').glob('enriched-*.jsonl')
                for line in path.read_text().splitlines()}
    assert sorted(record['source']['id'] for record in published) == names
    assert sorted(record['source']['id'] for record in windowed) == names
    for record in published:
        assert record['dedup'] == expected[record['source']['id']]['dedup'], record['source']
    tiers = {record['dedup']['tier'] for record in published}
    assert {'exact', 'near_copy', 'same_story'} <= tiers, tiers
    return log


@pytest.mark.slow
def test_a_stream_on_prism_polls_feeds_and_publishes_what_a_batch_run_decides(
        pubsub_emulator, tmp_path):
    prism = _prism()
    assert prism in stream_feeds_and_check('PrismRunner', tmp_path)