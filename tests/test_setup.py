"""setup.py: every package folder of the repository is installed, under the `newswire` namespace."""

import ast

from tests.conftest import REPO


def _packages() -> dict:
    tree = ast.parse((REPO / 'setup.py').read_text(encoding='utf-8'))
    assignment = next(node for node in tree.body if isinstance(node, ast.Assign)
                      and any(getattr(target, 'id', None) == 'PACKAGES' for target in node.targets))
    return ast.literal_eval(assignment.value)


def test_every_package_folder_is_installed():
    """A subpackage missing here works in an editable checkout and is absent from a wheel (the
    Dataflow workers' install)."""
    folders = {str(init.parent.relative_to(REPO)) for top in ('pipeline', 'transforms', 'evaluation')
               for init in (REPO / top).rglob('__init__.py')}
    assert set(_packages().values()) == folders


def test_each_package_is_named_after_its_folder():
    for name, folder in _packages().items():
        assert name == 'newswire.' + folder.replace('/', '.'), (name, folder)
