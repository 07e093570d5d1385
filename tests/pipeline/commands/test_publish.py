"""`newswire publish`: which messages files make (one per .txt/.html file, one per JSONL line, with
the attributes the pipeline reads), and the command against the emulator."""

import json
import subprocess
import sys
import uuid

import pytest

from newswire.pipeline.commands.publish import messages
from newswire.pipeline.commands.pubsub_admin import (ensure_subscription, ensure_topic,
                                                     publisher_client, subscriber_client)
from tests.conftest import REPO, SEEDS


def test_a_text_file_is_one_message_with_its_path_and_type(tmp_path):
    (tmp_path / 'desk').mkdir()
    (tmp_path / 'desk' / 'brief.txt').write_bytes('Demining resumed near Aghdam.\n'.encode())
    (tmp_path / 'page.html').write_bytes(b'<html><body><p>Talks in Almaty.</p></body></html>')
    got = list(messages([str(tmp_path)]))
    assert got == [
        (b'<html><body><p>Talks in Almaty.</p></body></html>',
         {'source_id': 'page.html', 'content_type': 'text/html'}),
        ('Demining resumed near Aghdam.\n'.encode(),
         {'source_id': 'desk/brief.txt', 'content_type': 'text/plain'}),
    ]  # a folder's own files before its subfolders', each in name order


def test_each_jsonl_line_is_a_message_keeping_its_id_and_date(tmp_path):
    wire = tmp_path / 'wire.jsonl'
    wire.write_text('\n'.join([
        json.dumps({'id': 'az-1', 'text': 'Mine maps handed over.', 'published': '2023-11-14'}),
        '',
        json.dumps({'text': 'No id on this one.'}),
        '{not json',
    ]) + '\n', encoding='utf-8')
    got = list(messages([str(wire)]))
    assert [attributes for _, attributes in got] == [
        {'source_id': 'az-1', 'content_type': 'application/json', 'published': '2023-11-14'},
        {'source_id': 'wire.jsonl:3', 'content_type': 'application/json'},
        {'source_id': 'wire.jsonl:4', 'content_type': 'application/json'},
    ]
    assert got[2][0] == b'{not json'  # published as it is: the pipeline dead-letters it


def test_a_file_of_another_kind_named_directly_is_refused(tmp_path):
    other = tmp_path / 'notes.pdf'
    other.write_bytes(b'%PDF-1.7')
    with pytest.raises(ValueError, match='expected .txt, .html, .htm or .jsonl'):
        list(messages([str(other)]))


@pytest.mark.slow  # the emulator and a subprocess
def test_the_seeds_arrive_as_five_messages(pubsub_emulator):
    project = f'publish-{uuid.uuid4().hex[:8]}'
    topic = f'projects/{project}/topics/raw'
    subscription = f'projects/{project}/subscriptions/raw-check'
    ensure_topic(publisher_client(), topic)
    subscriber = subscriber_client()
    try:
        ensure_subscription(subscriber, subscription, topic)
        done = subprocess.run([sys.executable, '-m', 'newswire.pipeline.cli', 'publish', str(SEEDS),
                               '--topic', topic], capture_output=True, text=True, timeout=120,
                              cwd=REPO)
        assert done.returncode == 0, done.stderr
        assert 'published 5 messages' in done.stdout + done.stderr
        received = {}
        while len(received) < 5:
            response = subscriber.pull(request={'subscription': subscription, 'max_messages': 10},
                                       timeout=30)
            assert response.received_messages, f'only {len(received)} of 5 arrived'
            for item in response.received_messages:
                received[item.message.attributes['source_id']] = item.message.data
    finally:
        subscriber.close()
    assert received == {path.name: path.read_bytes() for path in SEEDS.iterdir()}
