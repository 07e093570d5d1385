"""What the deployment tests share: the Beam pin of pyproject.toml and the deploy/ paths."""

import re

from tests.conftest import REPO

DEPLOY = REPO / 'deploy'
DATAFLOW = DEPLOY / 'dataflow'
TERRAFORM = DEPLOY / 'terraform'
TAXONOMY = REPO / 'transforms' / 'rules' / 'taxonomy.yaml'


def pinned_beam_version() -> str:
    """The one place the Beam version is pinned: the apache-beam line of pyproject.toml."""
    pins = re.findall(r'"apache-beam\[gcp\]==([0-9][0-9.]*)"',
                      (REPO / 'pyproject.toml').read_text(encoding='utf-8'))
    assert len(pins) == 1, f'expected one apache-beam pin in pyproject.toml, found {pins}'
    return pins[0]


def dockerfile_args() -> dict:
    """ARG defaults of deploy/dataflow/Dockerfile."""
    text = (DATAFLOW / 'Dockerfile').read_text(encoding='utf-8')
    return dict(re.findall(r'^ARG (\w+)=(\S+)$', text, flags=re.MULTILINE))
