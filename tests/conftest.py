"""Shared fixtures: the repository's paths and a DirectRunner test pipeline."""

import json
import os
import pathlib

import jsonschema
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

REPO = pathlib.Path(__file__).resolve().parent.parent
SEEDS = REPO / 'seeds'


def _shared_eval() -> pathlib.Path:
    """../shared/eval next to the repository (a worktree sits one level deeper); NEWSWIRE_SHARED_EVAL
    overrides."""
    if os.environ.get('NEWSWIRE_SHARED_EVAL'):
        return pathlib.Path(os.environ['NEWSWIRE_SHARED_EVAL'])
    for parent in (REPO.parent, REPO.parent.parent):
        if (parent / 'shared' / 'eval').is_dir():
            return parent / 'shared' / 'eval'
    return REPO.parent / 'shared' / 'eval'


SHARED_EVAL = _shared_eval()


def direct_pipeline() -> TestPipeline:
    # The runner is named: left to its default, Beam first tries to download the Prism runner.
    return TestPipeline(runner='DirectRunner')


def seed_path(prefix: str) -> pathlib.Path:
    (path,) = SEEDS.glob(f'{prefix}_*.txt')
    return path


@pytest.fixture(scope='session')
def enriched_validator():
    schema = json.loads((REPO / 'pipeline' / 'schemas' / 'enriched_record.schema.json').read_text())
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope='session')
def dead_letter_validator():
    schema = json.loads((REPO / 'pipeline' / 'schemas' / 'dead_letter.schema.json').read_text())
    return jsonschema.Draft202012Validator(schema)
