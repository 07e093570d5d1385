"""What the kill tests publish and what they read back: wire messages of seed vocabulary, and the
records and dead letters a run put on its topics, by source id."""

import json
import random

from tests.conftest import SEEDS


def seed_vocabulary_bodies(count: int, poison_every: int, words_per_text: int,
                           seed: int) -> dict[str, bytes]:
    """`count` distinct JSON articles of seed words (a fixed random draw), by source id; every
    `poison_every`-th body is binary, which the pipeline dead-letters."""
    words = sorted({w for path in SEEDS.glob('*.txt')
                    for w in path.read_text(encoding='utf-8').split() if w.isalpha()})
    draw = random.Random(seed)
    bodies = {}
    for index in range(count):
        source_id = f'msg-{index:04d}'
        if index % poison_every == poison_every - 1:
            bodies[source_id] = b'\x00\x01binary\x00' + index.to_bytes(2, 'big')
        else:
            text = ' '.join(draw.choice(words) for _ in range(words_per_text)) + '.'
            bodies[source_id] = json.dumps({'id': source_id, 'text': text}).encode()
    return bodies


class CapturedOutputs:
    """Pulls the capture subscriptions of the enriched and dead-letter topics: `records` and
    `letters` map a source id to every message that came out for it (the parsed body, or
    (body, attributes) with `with_attributes`)."""

    def __init__(self, subscriber, enriched: str, dead: str, with_attributes: bool = False):
        self.subscriber, self.enriched, self.dead = subscriber, enriched, dead
        self.with_attributes = with_attributes
        self.records, self.letters = {}, {}

    def pull(self) -> int:
        """Takes what is waiting; returns how many source ids have come out so far."""
        from google.api_core.exceptions import DeadlineExceeded
        for subscription, into in ((self.enriched, self.records), (self.dead, self.letters)):
            try:
                response = self.subscriber.pull(
                    request={'subscription': subscription, 'max_messages': 500},
                    timeout=2, retry=None)
            except DeadlineExceeded:
                continue
            for received in response.received_messages:
                body = json.loads(received.message.data)
                kept = (body, dict(received.message.attributes)) if self.with_attributes else body
                into.setdefault(body['source']['id'], []).append(kept)
            if response.received_messages:
                self.subscriber.acknowledge(request={
                    'subscription': subscription,
                    'ack_ids': [r.ack_id for r in response.received_messages]})
        return len(self.records) + len(self.letters)
