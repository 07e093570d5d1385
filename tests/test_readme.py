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


def test_readme_is_a_quickstart_of_at_most_12_kib():
    assert len((REPO / 'README.md').read_bytes()) <= 12 * 1024


def test_every_path_the_layout_names_exists():
    """The Layout section's bullets name folders and files in backticks, from the repository's root
    or from somewhere in the folder the bullet is about; each must be in the tree."""
    text = (REPO / 'README.md').read_text(encoding='utf-8')
    layout = text.split('## Layout', 1)[1].split('\n## ', 1)[0]
    bullets = [bullet for bullet in layout.split('\n- ')[1:]]
    assert bullets, 'the Layout section has no bullets'
    for bullet in bullets:
        folder = re.match(r'`([\w./-]+/)`', bullet)
        bases = [REPO] + ([REPO / folder.group(1)] if folder else [])
        for name in re.findall(r'`([\w./{},-]+)`', bullet):
            if '/' not in name and not re.search(r'\.(py|ya?ml|md|json|j2)$', name):
                continue  # a word or a Python name, not a path
            for path in _expand_braces(name):
                assert any((base / path).exists() or any(base.glob(f'**/{path.rstrip("/")}'))
                           for base in bases), (
                    f'README Layout names {path}, which is not in the tree')


def _expand_braces(name: str) -> list[str]:
    match = re.search(r'\{([^}]*)\}', name)
    if not match:
        return [name]
    return [expanded for part in match.group(1).split(',')
            for expanded in _expand_braces(name[:match.start()] + part + name[match.end():])]
