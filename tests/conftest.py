"""Shared fixtures: the repository's paths and a DirectRunner test pipeline."""

import json
import os
import pathlib

import jsonschema
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

REPO = pathlib.Path(__file__).resolve().parent.parent
SEEDS = REPO / 'seeds'
# shared/ sits beside a clone (CI); a checkout elsewhere names it with NEWSWIRE_SHARED_EVAL.
SHARED_EVAL = pathlib.Path(os.environ.get('NEWSWIRE_SHARED_EVAL') or REPO.parent / 'shared' / 'eval')


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
