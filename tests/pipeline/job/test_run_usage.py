"""`newswire run`'s set-up mistakes: one line naming the fix and exit status 2, never a traceback."""

import os
import subprocess
import sys

import pytest

from newswire.pipeline.cli import main
from newswire.pipeline.job.options import NewswireOptions
from tests.conftest import REPO, SEEDS

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']


def _run(*args, cwd=REPO, env=None):
    return subprocess.run(NEWSWIRE + list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_a_misspelt_runner_lists_the_runners(capsys):
    assert main(['run', '--runner=DirectRuner', '--input', str(SEEDS)]) == 2
    error = capsys.readouterr().err
    assert "unknown runner 'DirectRuner' (did you mean DirectRunner?)" in error
    assert 'PrismRunner' in error and 'FlinkRunner' in error


@pytest.mark.slow
def test_a_misspelt_option_gets_only_our_message():
    done = _run('run', '--inptu', str(SEEDS))
    assert done.returncode == 2
    assert done.stderr.strip() == ('newswire run: unknown option(s): --inptu (did you mean '
                                   '--input?); newswire run --help lists the options')


def test_help_lists_every_option_with_its_default(capsys):
    assert main(['run', '--help']) == 0
    text = capsys.readouterr().out
    import argparse
    parser = argparse.ArgumentParser()
    NewswireOptions._add_argparse_args(parser)
    flags = [a.option_strings[0] for a in parser._actions if a.option_strings and
             a.option_strings[0] != '-h']
    assert flags and all(flag in text for flag in flags)
    assert text.count('Default') >= len(flags)
    assert "Beam's own options pass through" in text


def test_no_input_outside_the_repository_names_the_default(tmp_path, capsys):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(['run', '--output', str(tmp_path / 'out')]) == 2
    finally:
        os.chdir(cwd)
    error = capsys.readouterr().err
    assert 'no --input given, and the default, seeds/, is not in this directory' in error
    assert 'pass --input PATH' in error


@pytest.mark.slow
def test_streaming_without_the_emulator_variable_is_a_set_up_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != 'PUBSUB_EMULATOR_HOST'}
    # No application default credentials either, whatever this machine has.
    env['GOOGLE_APPLICATION_CREDENTIALS'] = str(tmp_path / 'none.json')
    done = _run('run', '--streaming', '--input-subscription', 'projects/p/subscriptions/s',
                '--output-topic', 'projects/p/topics/t', '--dead-letter-topic',
                'projects/p/topics/d', env=env)
    assert done.returncode == 2
    assert 'Traceback' not in done.stderr
    assert 'export PUBSUB_EMULATOR_HOST=' in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize('command', [
    ['publish', str(SEEDS), '--topic', 'projects/p/topics/t'],
    ['topics', 'create', '--project', 'p'],
    ['subscribe', '--topic', 'projects/p/topics/t'],
])
def test_pubsub_commands_without_an_emulator_answering(command):
    env = {**os.environ, 'PUBSUB_EMULATOR_HOST': '127.0.0.1:9'}  # the discard port: nothing there
    done = _run(*command, env=env)
    assert done.returncode == 2
    assert 'Traceback' not in done.stderr
    assert 'nothing answers at PUBSUB_EMULATOR_HOST=127.0.0.1:9' in done.stderr


def test_a_job_servers_routine_start_and_stop_are_not_shown_its_failure_is(caplog):
    import logging

    assert main(['run', '--help']) == 0  # the command installs the filter before anything runs
    beam = logging.getLogger('apache_beam.utils.subprocess_server')
    with caplog.at_level(logging.WARNING, logger=beam.name):
        beam.warning('Really starting service at %s with cmd: %s', 'localhost:1', ('java',))
        beam.warning('Really destroying service at %s with cmd: %s', 'localhost:1', ('java',))
        beam.error('Failed to start job service with %s', ('java',))
    assert [record.getMessage() for record in caplog.records] == [
        "Failed to start job service with ('java',)"]


class _ClosedChannel:
    """What gRPC's connectivity watcher meets once Beam has closed the channel under it."""

    def check_connectivity_state(self, try_to_connect):
        from grpc._cython import cygrpc
        return cygrpc.ConnectivityState.idle

    def watch_connectivity_state(self, last_observed, deadline):
        raise ValueError('Cannot monitor channel state: Channel closed!')


def test_a_grpc_watcher_outliving_its_channel_prints_nothing_other_thread_errors_do(monkeypatch):
    import threading
    import types

    from grpc import _channel

    reached = []
    monkeypatch.setattr(threading, 'excepthook', lambda args: reached.append(args.exc_value))
    assert main(['run', '--help']) == 0  # the command installs its hook before anything runs
    assert main(['run', '--help']) == 0  # once

    def watch_a_closed_channel():  # gRPC's own watcher loop, as Beam's channel_ready_future runs it
        state = types.SimpleNamespace(lock=threading.Lock(), callbacks_and_connectivities=[],
                                      connectivity=None)
        _channel._poll_connectivity(state, _ClosedChannel(), False)

    def same_words_elsewhere():
        raise ValueError('Cannot monitor channel state: Channel closed!')

    def another_error():
        raise RuntimeError('a real failure')

    for target in (watch_a_closed_channel, same_words_elsewhere, another_error):
        thread = threading.Thread(target=target)
        thread.start()
        thread.join(timeout=30)
    assert [str(error) for error in reached] == ['Cannot monitor channel state: Channel closed!',
                                                'a real failure']
