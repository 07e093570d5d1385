import sys

import pytest

from newswire.pipeline.cli import COMMANDS, main


def test_no_command_prints_usage_and_fails(capsys):
    assert main([]) == 2
    assert 'commands:' in capsys.readouterr().out


def test_help_lists_every_command(capsys):
    assert main(['--help']) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command(capsys):
    assert main(['frobnicate']) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_each_command_has_help(capsys):
    for name in COMMANDS:
        assert main([name, '--help']) == 0, name
        assert capsys.readouterr().out.strip()


def test_eval_without_the_evaluation_package_says_so_in_one_line(capsys, monkeypatch):
    # What the Dataflow worker image is like: setup.py installs newswire.evaluation only where the
    # folder is, and the Dockerfile does not copy it.
    monkeypatch.setitem(sys.modules, 'newswire.evaluation', None)
    monkeypatch.delitem(sys.modules, 'newswire.evaluation.evaluate', raising=False)
    assert main(['eval', '--help']) == 2
    err = capsys.readouterr().err
    assert err.startswith('newswire eval: newswire.evaluation.evaluate is not installed here')
    assert err.count('\n') == 1


def test_a_missing_dependency_of_a_command_is_not_mistaken_for_an_absent_command(monkeypatch):
    monkeypatch.setitem(sys.modules, 'newswire.pipeline.commands.pubsub_admin', None)
    monkeypatch.delitem(sys.modules, 'newswire.pipeline.commands.subscribe', raising=False)
    with pytest.raises(ModuleNotFoundError, match='pubsub_admin'):
        main(['subscribe', '--help'])
