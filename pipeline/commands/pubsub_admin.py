"""Pub/Sub resource names and idempotent creation, shared by the publish, subscribe and topics
commands. The clients honour PUBSUB_EMULATOR_HOST, so the same code serves the emulator and Pub/Sub."""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from typing import Optional

_TOPIC = re.compile(r'^projects/(?P<project>[^/]+)/topics/(?P<name>[^/]+)$')
_SUBSCRIPTION = re.compile(r'^projects/(?P<project>[^/]+)/subscriptions/(?P<name>[^/]+)$')


def parse_topic(path: str) -> tuple[str, str]:
    """'projects/P/topics/T' -> ('P', 'T'); ValueError naming what was expected otherwise."""
    match = _TOPIC.match(path or '')
    if not match:
        raise ValueError(f'expected a topic as projects/PROJECT/topics/NAME, got {path!r}')
    return match.group('project'), match.group('name')


def parse_subscription(path: str) -> tuple[str, str]:
    match = _SUBSCRIPTION.match(path or '')
    if not match:
        raise ValueError(
            f'expected a subscription as projects/PROJECT/subscriptions/NAME, got {path!r}')
    return match.group('project'), match.group('name')


class PubSubSetupError(Exception):
    """Pub/Sub cannot be used as set up (no emulator or credentials, a resource that does not exist);
    the message is one line that names the fix. Commands print it and exit 2."""


NO_CREDENTIALS = (
    'no Pub/Sub to talk to: PUBSUB_EMULATOR_HOST is not set and no Google credentials were found. '
    'For the local emulator, export PUBSUB_EMULATOR_HOST=127.0.0.1:8085 in this terminal too '
    '(docs/streaming.md); for real Pub/Sub, run gcloud auth application-default login')


def check_pubsub_reachable(timeout_seconds: float = 3.0) -> None:
    """Raises `PubSubSetupError` unless an emulator answers at PUBSUB_EMULATOR_HOST or, without it,
    Google's application default credentials exist. Checked before any client is made: the clients
    would otherwise fail with a credentials traceback, or retry a dead emulator for minutes."""
    host = os.environ.get('PUBSUB_EMULATOR_HOST')
    if not host:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            google.auth.default()
        except DefaultCredentialsError:
            raise PubSubSetupError(NO_CREDENTIALS) from None
        return
    try:
        with urllib.request.urlopen(f'http://{host}/', timeout=timeout_seconds) as response:
            answer = response.read(64)
    except (OSError, ValueError) as error:
        raise PubSubSetupError(
            f'nothing answers at PUBSUB_EMULATOR_HOST={host} ({error}): start the emulator '
            f'(docs/streaming.md) or point the variable at it') from None
    if answer.strip() != b'Ok':
        raise PubSubSetupError(f'PUBSUB_EMULATOR_HOST={host} answers, but not as the Pub/Sub '
                               f'emulator does (expected "Ok", got {answer[:40]!r})')


def _project_of(path: str) -> str:
    return path.split('/')[1] if path.count('/') >= 3 else 'PROJECT'


def require_topic(publisher, topic: str) -> None:
    """`PubSubSetupError` naming how to create `topic` when it does not exist."""
    from google.api_core.exceptions import NotFound

    try:
        publisher.get_topic(request={'topic': topic})
    except NotFound:
        raise PubSubSetupError(
            f'topic {topic} does not exist: newswire topics create --project {_project_of(topic)} '
            f'makes the default ones, or gcloud pubsub topics create {topic}') from None


def require_subscription(subscriber, subscription: str) -> None:
    """`PubSubSetupError` naming how to create `subscription` when it does not exist."""
    from google.api_core.exceptions import NotFound

    try:
        subscriber.get_subscription(request={'subscription': subscription})
    except NotFound:
        project = _project_of(subscription)
        raise PubSubSetupError(
            f'subscription {subscription} does not exist: newswire topics create --project '
            f'{project} makes projects/{project}/subscriptions/newswire-raw-pipeline, or gcloud '
            f'pubsub subscriptions create {subscription} --topic TOPIC') from None


def publisher_client():
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient()


def subscriber_client():
    from google.cloud import pubsub_v1

    return pubsub_v1.SubscriberClient()


def ensure_topic(publisher, topic: str) -> bool:
    """Creates the topic unless it exists; True when it was created."""
    from google.api_core.exceptions import AlreadyExists

    try:
        publisher.create_topic(request={'name': topic})
        return True
    except AlreadyExists:
        return False


def ensure_subscription(subscriber, subscription: str, topic: str,
                        filter_expression: str = '', ack_deadline_seconds: int = 60,
                        dead_letter_topic: Optional[str] = None) -> bool:
    """Creates the subscription unless it exists; True when it was created."""
    from google.api_core.exceptions import AlreadyExists

    request = {'name': subscription, 'topic': topic,
               'ack_deadline_seconds': ack_deadline_seconds}
    if filter_expression:
        request['filter'] = filter_expression
    if dead_letter_topic:
        request['dead_letter_policy'] = {'dead_letter_topic': dead_letter_topic,
                                         'max_delivery_attempts': 5}
    try:
        subscriber.create_subscription(request=request)
        return True
    except AlreadyExists:
        return False
