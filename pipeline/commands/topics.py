"""`newswire topics create`: the Pub/Sub topics and subscriptions a deployment needs (idempotent).

Creates the raw topic and the pipeline's subscription to it (`<raw>-pipeline`), the enriched topic,
the dead-letter topic, one route topic `<enriched>-<topic id>` per taxonomy topic (for
`--route-topics`), and a durable subscription on each topic the pipeline writes: `<enriched>-all`,
`<dead-letter>-hold` and `<route>-sub`. Pub/Sub keeps a message only for the subscriptions that exist
when it is published (a topic with none drops it), so these hold every record from the first one on,
whenever a downstream service starts reading. The names match deploy/terraform's defaults."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from newswire.pipeline.commands.pubsub_admin import (PubSubSetupError, check_pubsub_reachable,
                                                     ensure_subscription, ensure_topic, publisher_client,
                                                     subscriber_client)
from newswire.transforms.pubsub import route_topic
from newswire.transforms.tagging import load_taxonomy


def plan(project: str, raw: str, enriched: str, dead_letters: str, tag_ids: Sequence[str]):
    """(topics, subscriptions as (subscription, topic)) for a deployment."""
    topic = f'projects/{project}/topics/'
    topics = [topic + raw, topic + enriched, topic + dead_letters]
    routes = [route_topic(topic + enriched, tag_id) for tag_id in tag_ids]
    subscription = f'projects/{project}/subscriptions/'
    subscriptions = [(subscription + f'{raw}-pipeline', topic + raw),
                     (subscription + f'{enriched}-all', topic + enriched),
                     (subscription + f'{dead_letters}-hold', topic + dead_letters)]
    subscriptions += [(subscription + route.rsplit('/', 1)[1] + '-sub', route) for route in routes]
    return topics + routes, subscriptions


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog='newswire topics', description=__doc__)
    parser.add_argument('action', choices=['create'])
    parser.add_argument('--project', required=True, help='the Google Cloud project id')
    parser.add_argument('--raw-topic', default='newswire-raw', help='default: newswire-raw')
    parser.add_argument('--output-topic', default='newswire-enriched',
                        help='default: newswire-enriched')
    parser.add_argument('--dead-letter-topic', default='newswire-dead-letter',
                        help='default: newswire-dead-letter')
    parser.add_argument('--taxonomy', default=None, help='taxonomy whose tag ids get route topics')
    args = parser.parse_args(argv)
    try:
        taxonomy = load_taxonomy(args.taxonomy)
    except (ValueError, OSError) as error:
        print(f'newswire topics: {error}', file=sys.stderr)
        return 2
    topics, subscriptions = plan(args.project, args.raw_topic, args.output_topic,
                                 args.dead_letter_topic, [t.id for t in taxonomy.tags])
    try:
        check_pubsub_reachable()
    except PubSubSetupError as error:
        print(f'newswire topics: {error}', file=sys.stderr)
        return 2
    publisher, subscriber = publisher_client(), subscriber_client()
    for topic in topics:
        print(f'{"created" if ensure_topic(publisher, topic) else "exists "}  {topic}')
    for subscription, topic in subscriptions:
        created = ensure_subscription(subscriber, subscription, topic)
        print(f'{"created" if created else "exists "}  {subscription} -> {topic}')
    subscriber.close()
    return 0
