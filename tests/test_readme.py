"""The README opens with the two set-up commands, and CI runs the second one as written."""

import re

import pytest

from tests.conftest import REPO


def _readme_commands():
    return re.findall(r'```sh\n(.+?)\n```', (REPO / 'README.md').read_text(encoding='utf-8'))


def test_readme_opens_with_run_and_test_commands():
    run, test = _readme_commands()[:2]
    assert run.startswith('python3 -m venv .venv && ') and 'newswire run --input seeds/' in run
    assert test.startswith('python3 -m venv .venv && ') and 'pytest' in test


def test_ci_runs_the_readme_test_command():
    test = _readme_commands()[1]
    ci_lines = (REPO / '.ci' / 'run').read_text(encoding='utf-8').splitlines()
    assert test in ci_lines


def test_seeds_are_the_shared_seeds_byte_for_byte():
    shared = REPO.parent / 'shared' / 'seeds'
    if not shared.is_dir():
        pytest.skip('no shared/ beside this clone to compare with')
    ours = sorted(p.name for p in (REPO / 'seeds').iterdir())
    assert ours == sorted(p.name for p in shared.iterdir())
    for name in ours:
        assert (REPO / 'seeds' / name).read_bytes() == (shared / name).read_bytes()
