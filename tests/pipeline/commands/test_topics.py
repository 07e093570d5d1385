"""`newswire topics create` on the real emulator, with the subscribe and run commands a downstream
service uses after it: what it needs so that nothing published is missed, and set-up mistakes named
at once. pubsub_admin's own checks: test_pubsub_admin.py."""

import json
import subprocess
import sys
import uuid

import pytest

from newswire.pipeline.commands.pubsub_admin import publisher_client, subscriber_client
from tests.conftest import REPO, pipeline_topics

pytestmark = pytest.mark.slow

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']


def _newswire(*args, timeout=120):
    return subprocess.run(NEWSWIRE + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


def _subscriptions(project):
    subscriber = subscriber_client()
    try:
        return {s.name for s in subscriber.list_subscriptions(request={'project': f'projects/{project}'})}
    finally:
        subscriber.close()


@pytest.fixture
def project(pubsub_emulator):
    name = f'cmds-{uuid.uuid4().hex[:8]}'
    done = _newswire('topics', 'create', '--project', name)
    assert done.returncode == 0, done.stderr
    return name, done.stdout


def test_topics_create_makes_a_durable_subscription_per_output_topic(project):
    name, printed = project
    subscription = f'projects/{name}/subscriptions/'
    expected = {subscription + 'newswire-raw-pipeline', subscription + 'newswire-enriched-all',
                subscription + 'newswire-dead-letter-hold',
                subscription + 'newswire-enriched-mine_maps-sub',
                subscription + 'newswire-enriched-peace_treaty-sub'}
    assert expected <= _subscriptions(name)
    for path in expected:
        assert path in printed


def test_a_record_published_before_any_reader_is_kept(project):
    name, _ = project
    _, enriched, _ = pipeline_topics(name)
    publisher_client().publish(enriched, json.dumps({'id': 'early'}).encode(),
                               language='en').result(timeout=30)
    done = _newswire('subscribe', '--topic', enriched, '--subscription',
                     f'projects/{name}/subscriptions/newswire-enriched-all', '--max-messages', '1')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {'id': 'early'}


def test_subscribe_deletes_the_subscription_it_made_for_the_session(project):
    name, _ = project
    _, enriched, _ = pipeline_topics(name)
    before = _subscriptions(name)
    done = _newswire('subscribe', '--topic', enriched, '--language', 'az', '--idle-seconds', '1')
    assert done.returncode == 0, done.stderr
    assert 'deleted on exit' in done.stderr
    assert _subscriptions(name) == before


def test_subscribe_keeps_a_named_subscription(project):
    name, _ = project
    _, enriched, _ = pipeline_topics(name)
    durable = f'projects/{name}/subscriptions/my-service'
    done = _newswire('subscribe', '--topic', enriched, '--subscription', durable,
                     '--idle-seconds', '1')
    assert done.returncode == 0, done.stderr
    assert durable in _subscriptions(name)


def test_a_misspelt_subscription_is_named_at_once(project):
    name, _ = project
    raw, enriched, dead = pipeline_topics(name)
    done = _newswire('run', '--streaming', '--input-subscription',
                     f'projects/{name}/subscriptions/newswire-raw-pipelin', '--output-topic',
                     enriched, '--dead-letter-topic', dead, timeout=60)
    assert done.returncode == 2
    assert 'Traceback' not in done.stderr
    assert f'subscription projects/{name}/subscriptions/newswire-raw-pipelin does not exist' \
        in done.stderr
    assert f'newswire topics create --project {name}' in done.stderr

