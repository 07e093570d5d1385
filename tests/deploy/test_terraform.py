"""deploy/terraform: parsed with python-hcl2, formatted and (the naming module, which needs no
provider) evaluated by the real `terraform` offline against the repository's taxonomy."""

import json
import os
import shutil
import subprocess

import hcl2
import pytest
import yaml

from tests.deploy.conftest import TAXONOMY, TERRAFORM

TERRAFORM_BIN = shutil.which('terraform')
needs_terraform = pytest.mark.skipif(TERRAFORM_BIN is None, reason='needs the terraform CLI')


def _unquoted(value):
    """python-hcl2 keeps the quotes of block labels ('"raw"'); compare them without."""
    if isinstance(value, dict):
        return {key.strip('"'): _unquoted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unquoted(item) for item in value]
    return value


def _parse(name):
    with open(TERRAFORM / name, encoding='utf-8') as handle:
        return _unquoted(hcl2.load(handle))


def _resources(parsed, kind):
    return {name: body for block in parsed.get('resource', []) if kind in block
            for name, body in block[kind].items()}


def _taxonomy_ids():
    return sorted(t['id'] for t in yaml.safe_load(TAXONOMY.read_text(encoding='utf-8'))['topics'])


def test_topics_subscriptions_and_dead_letter_policies():
    main = _parse('main.tf')
    topics = _resources(main, 'google_pubsub_topic')
    assert set(topics) == {'raw', 'enriched', 'dead_letter', 'route'}
    assert 'module.names.routes' in topics['route']['for_each']
    subscriptions = _resources(main, 'google_pubsub_subscription')
    assert set(subscriptions) == {'pipeline', 'enriched', 'route', 'dead_letter'}
    for name in ('pipeline', 'enriched', 'route'):
        (policy,) = subscriptions[name]['dead_letter_policy']
        assert 'google_pubsub_topic.dead_letter.id' in policy['dead_letter_topic'], name
        assert 'var.max_delivery_attempts' in policy['max_delivery_attempts'], name
    # The routes' names come from the repository's taxonomy unless another file is given.
    (module,) = [m['names'] for m in main['module'] if 'names' in m]
    assert '../../transforms/rules/taxonomy.yaml' in module['taxonomy_file']
    assert (TERRAFORM / '../../transforms/rules/taxonomy.yaml').resolve() == TAXONOMY


def test_every_variable_is_described_and_used():
    variables = {name for block in _parse('variables.tf')['variable'] for name in block}
    text = '\n'.join(p.read_text(encoding='utf-8') for p in TERRAFORM.glob('*.tf'))
    for name in variables:
        assert f'var.{name}' in text, f'variable {name} is never used'
    for block in _parse('variables.tf')['variable']:
        for name, body in block.items():
            assert body.get('description'), name


@needs_terraform
def test_terraform_formatting():
    done = subprocess.run([TERRAFORM_BIN, 'fmt', '-check', '-recursive', '-diff', str(TERRAFORM)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, 'TF_CLI_CONFIG_FILE': os.devnull})
    assert done.returncode == 0, done.stdout + done.stderr


def _apply_names(tmp_path, taxonomy, enriched='newswire-enriched'):
    env = {**os.environ, 'TF_CLI_CONFIG_FILE': os.devnull, 'TF_IN_AUTOMATION': '1',
           'NO_COLOR': '1',
           'TF_DATA_DIR': str(tmp_path / 'data')}
    module = ['-chdir=' + str(TERRAFORM / 'modules' / 'names')]
    state = '-state=' + str(tmp_path / 'names.tfstate')
    for command in (['init', '-input=false', '-backend=false', '-no-color'],
                    ['apply', '-auto-approve', '-input=false', '-no-color', state,
                     '-var=raw_topic=newswire-raw', f'-var=enriched_topic={enriched}',
                     '-var=dead_letter_topic=newswire-dead-letter',
                     f'-var=taxonomy_file={taxonomy}']):
        done = subprocess.run([TERRAFORM_BIN, *module, *command], capture_output=True, text=True,
                              timeout=120, env=env)
        if done.returncode != 0:
            return None, done.stdout + done.stderr
    done = subprocess.run([TERRAFORM_BIN, *module, 'output', state, '-json'], capture_output=True,
                          text=True, timeout=60, env=env, check=True)
    return {k: v['value'] for k, v in json.loads(done.stdout).items()}, ''


@needs_terraform
def test_route_names_come_from_the_taxonomy(tmp_path):
    outputs, errors = _apply_names(tmp_path, TAXONOMY)
    assert outputs is not None, errors
    ids = _taxonomy_ids()
    assert outputs['topic_ids'] == ids
    assert outputs['routes'] == {i: f'newswire-enriched-{i}' for i in ids}
    assert outputs['routes']['peace_treaty'] == 'newswire-enriched-peace_treaty'
    assert outputs['subscriptions']['pipeline'] == 'newswire-raw-pipeline'
    assert outputs['subscriptions']['routes']['mine_maps'] == 'newswire-enriched-mine_maps-sub'


@needs_terraform
def test_invalid_names_are_refused(tmp_path):
    taxonomy = tmp_path / 'taxonomy.yaml'
    taxonomy.write_text('topics:\n  - id: a\n  - id: a\n')
    outputs, errors = _apply_names(tmp_path, taxonomy)
    # Terraform itself refuses two map entries with one key.
    assert outputs is None and 'Duplicate object key' in errors
    taxonomy.write_text('topics:\n  - id: ok\n')
    outputs, errors = _apply_names(tmp_path, taxonomy, enriched='goog-enriched')
    assert outputs is None and 'not a valid Pub/Sub id' in errors
