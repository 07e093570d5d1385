"""pubsub_admin: resource names parsed with the expected form in the error, and the set-up checks a
command makes before it builds a client (one line naming the fix, never a credentials traceback)."""

import http.server
import threading
import uuid

import pytest

from newswire.pipeline.commands.pubsub_admin import (NO_CREDENTIALS, PubSubSetupError,
                                                     check_pubsub_reachable, ensure_subscription,
                                                     ensure_topic, parse_subscription, parse_topic,
                                                     publisher_client, require_subscription,
                                                     require_topic, subscriber_client)


def test_a_topic_path_is_split_into_project_and_name():
    assert parse_topic('projects/wire-desk/topics/raw') == ('wire-desk', 'raw')
    assert parse_subscription('projects/wire-desk/subscriptions/raw-pipeline') == (
        'wire-desk', 'raw-pipeline')


@pytest.mark.parametrize('path', ['', 'raw', 'projects/wire-desk/subscriptions/raw',
                                  'projects//topics/raw', 'projects/wire-desk/topics/'])
def test_a_malformed_topic_says_the_form_expected(path):
    with pytest.raises(ValueError, match='expected a topic as projects/PROJECT/topics/NAME'):
        parse_topic(path)


def test_a_topic_is_not_a_subscription():
    with pytest.raises(ValueError, match='projects/PROJECT/subscriptions/NAME'):
        parse_subscription('projects/wire-desk/topics/raw')


def test_no_emulator_and_no_credentials_names_both_fixes(monkeypatch, tmp_path):
    monkeypatch.delenv('PUBSUB_EMULATOR_HOST', raising=False)
    # google.auth's first place to look, named and missing: it gives up there.
    monkeypatch.setenv('GOOGLE_APPLICATION_CREDENTIALS', str(tmp_path / 'absent.json'))
    monkeypatch.setenv('CLOUDSDK_CONFIG', str(tmp_path / 'gcloud'))
    monkeypatch.setenv('GCE_METADATA_HOST', '127.0.0.1:9')
    monkeypatch.setenv('GCE_METADATA_IP', '127.0.0.1:9')
    with pytest.raises(PubSubSetupError) as raised:
        check_pubsub_reachable()
    assert str(raised.value) == NO_CREDENTIALS


def test_nothing_listening_at_the_emulator_address_is_named(monkeypatch):
    monkeypatch.setenv('PUBSUB_EMULATOR_HOST', '127.0.0.1:9')  # the discard port: nothing there
    with pytest.raises(PubSubSetupError, match='nothing answers at PUBSUB_EMULATOR_HOST=127.0.0.1:9'):
        check_pubsub_reachable(timeout_seconds=1)


class _NotTheEmulator(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'<html>a web server</html>'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_another_server_at_the_emulator_address_is_told_apart(monkeypatch):
    server = http.server.HTTPServer(('127.0.0.1', 0), _NotTheEmulator)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv('PUBSUB_EMULATOR_HOST', f'127.0.0.1:{server.server_port}')
        with pytest.raises(PubSubSetupError, match='not as the Pub/Sub emulator does'):
            check_pubsub_reachable()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow  # the emulator
def test_topics_and_subscriptions_are_made_once_and_then_required(pubsub_emulator):
    check_pubsub_reachable()
    project = f'admin-{uuid.uuid4().hex[:8]}'
    topic = f'projects/{project}/topics/enriched'
    subscription = f'projects/{project}/subscriptions/enriched-all'
    publisher, subscriber = publisher_client(), subscriber_client()
    try:
        with pytest.raises(PubSubSetupError, match='does not exist'):
            require_topic(publisher, topic)
        with pytest.raises(PubSubSetupError, match='does not exist'):
            require_subscription(subscriber, subscription)
        assert ensure_topic(publisher, topic) is True
        assert ensure_topic(publisher, topic) is False  # already there
        assert ensure_subscription(subscriber, subscription, topic) is True
        assert ensure_subscription(subscriber, subscription, topic) is False
        require_topic(publisher, topic)
        require_subscription(subscriber, subscription)
    finally:
        subscriber.close()
