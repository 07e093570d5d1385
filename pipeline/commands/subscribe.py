"""`newswire subscribe --topic T`: print enriched records as JSON lines, acknowledging each after it
is printed.

It reads a subscription whose Pub/Sub filter selects the tags, language and duplicate status asked
for, and applies the same filter itself: the emulator stores filters but does not apply them, and a
reused subscription may predate the filter. Records published while no subscription exists are kept
for none, so which subscription matters:

- `--subscription S` names a durable one (made if missing, never deleted), e.g. the
  `newswire-enriched-all` that `newswire topics create` makes, which holds every record since then;
- without it, a subscription is made for this session, named after the topic and the filter, and
  deleted on exit (it sees only what is published while it exists)."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from typing import Optional, Sequence

from newswire.pipeline.commands.pubsub_admin import (PubSubSetupError, check_pubsub_reachable,
                                                     ensure_subscription, parse_subscription, parse_topic,
                                                     publisher_client, require_topic, subscriber_client)


def filter_expression(tags: Sequence[str], language: Optional[str], skip_duplicates: bool) -> str:
    """The Pub/Sub subscription filter for the options ('' selects everything)."""
    terms = [f'attributes:topic_{tag}' for tag in tags]
    if language:
        terms.append(f'attributes.language = "{language}"')
    if skip_duplicates:
        terms.append('attributes.duplicate = "0"')
    return ' AND '.join(terms)


def matches(attributes, tags: Sequence[str], language: Optional[str], skip_duplicates: bool) -> bool:
    """The filter applied on this side: the same test as `filter_expression`."""
    if any(f'topic_{tag}' not in attributes for tag in tags):
        return False
    if language and attributes.get('language') != language:
        return False
    return not (skip_duplicates and attributes.get('duplicate') != '0')


def default_subscription(topic: str, expression: str) -> str:
    project, name = parse_topic(topic)
    suffix = hashlib.sha1(expression.encode()).hexdigest()[:8] if expression else 'all'
    return f'projects/{project}/subscriptions/{name}-newswire-{suffix}'


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog='newswire subscribe', description=__doc__)
    parser.add_argument('--topic', required=True, help='the enriched topic, projects/P/topics/T')
    parser.add_argument('--subscription', default=None,
                        help='a durable subscription, projects/P/subscriptions/S, to read (made if '
                             'missing, kept on exit). Default: one made for this session and '
                             'deleted on exit')
    parser.add_argument('--tag', action='append', default=[], help='tag id; repeatable (AND)')
    parser.add_argument('--language', default=None, help='ISO 639-1 code, e.g. en')
    parser.add_argument('--skip-duplicates', action='store_true',
                        help='leave out exact duplicates and near copies')
    parser.add_argument('--max-messages', type=int, default=None,
                        help='stop after printing this many records (default: run until Ctrl-C)')
    parser.add_argument('--idle-seconds', type=float, default=None,
                        help='stop after this many seconds without a message (default: never)')
    args = parser.parse_args(argv)
    expression = filter_expression(args.tag, args.language, args.skip_duplicates)
    try:
        parse_topic(args.topic)
        subscription = args.subscription or default_subscription(args.topic, expression)
        parse_subscription(subscription)
    except ValueError as error:
        print(f'newswire subscribe: {error}', file=sys.stderr)
        return 2
    from google.api_core.exceptions import DeadlineExceeded

    try:
        check_pubsub_reachable()
        require_topic(publisher_client(), args.topic)
    except PubSubSetupError as error:
        print(f'newswire subscribe: {error}', file=sys.stderr)
        return 2
    subscriber = subscriber_client()
    made = ensure_subscription(subscriber, subscription, args.topic, expression)
    temporary = made and args.subscription is None
    if temporary:
        print(f'newswire: reading {subscription}, made for this session and deleted on exit; '
              f'it sees only records published from now on (--subscription names a durable one)',
              file=sys.stderr)
    else:
        print(f'newswire: reading {subscription}', file=sys.stderr)
    printed, last_message = 0, time.monotonic()
    try:
        while args.max_messages is None or printed < args.max_messages:
            wait = 10.0
            if args.idle_seconds is not None:
                wait = args.idle_seconds - (time.monotonic() - last_message)
                if wait <= 0:
                    break
            try:
                received_messages = subscriber.pull(
                    request={'subscription': subscription, 'max_messages': 10},
                    timeout=max(1.0, min(wait, 10.0)), retry=None).received_messages
            except DeadlineExceeded:  # an idle subscription: pull again until --idle-seconds
                received_messages = []
            if received_messages:
                last_message = time.monotonic()
            for received in received_messages:
                message = received.message
                wanted = (args.max_messages is None or printed < args.max_messages) and matches(
                    message.attributes, args.tag, args.language, args.skip_duplicates)
                if wanted:
                    sys.stdout.write(json.dumps(json.loads(message.data), ensure_ascii=False,
                                                sort_keys=True) + '\n')
                    sys.stdout.flush()
                    printed += 1
                    subscriber.acknowledge(request={'subscription': subscription,
                                                    'ack_ids': [received.ack_id]})
                elif not matches(message.attributes, args.tag, args.language,
                                 args.skip_duplicates):
                    # Not for this subscriber (the emulator ignores filters): acknowledge it away.
                    subscriber.acknowledge(request={'subscription': subscription,
                                                    'ack_ids': [received.ack_id]})
                # A wanted record beyond --max-messages is left unacknowledged for the next reader.
    except KeyboardInterrupt:
        pass
    finally:
        if temporary:
            subscriber.delete_subscription(request={'subscription': subscription})
        subscriber.close()
    return 0
