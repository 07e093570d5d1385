"""Pub/Sub resource names and idempotent creation, shared by the publish, subscribe and topics
commands. The clients honour PUBSUB_EMULATOR_HOST, so the same code serves the emulator and Pub/Sub."""

from __future__ import annotations

import re
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
