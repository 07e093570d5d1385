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
