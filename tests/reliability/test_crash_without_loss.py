"""Crash without loss (issue 8, item 4): a local streaming run killed with SIGKILL at about 20%, 50%
and 80% of 1,000 messages, and started again each time, loses none of them.

Every message ends on the enriched topic (canonical or flagged as a duplicate) or, for the poison
ones, on the dead-letter topic. Beam's own local Pub/Sub read acknowledges on pull, so the messages in
flight at each kill would be gone; `pubsub_local.LeasingReader` acknowledges after publishing.
"""

import os
import signal
import subprocess
import sys
import uuid

import pytest

from newswire.pipeline.commands.pubsub_admin import ensure_subscription, subscriber_client
from tests.conftest import REPO, pipeline_topics, poll, stop_with_ctrl_c
from tests.pubsub_capture import CapturedOutputs, seed_vocabulary_bodies

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']
MESSAGES = 1000
POISON_EVERY = 100  # binary bodies: dead letters, which count as much as records
KILL_AT = (0.2, 0.5, 0.8)


@pytest.mark.slow
def test_kill_9_at_20_50_and_80_percent_loses_no_message(pubsub_emulator, tmp_path):
    from google.cloud import pubsub_v1

    project = f'crash-{uuid.uuid4().hex[:8]}'
    raw, enriched, dead = pipeline_topics(project)
    subprocess.run(NEWSWIRE + ['topics', 'create', '--project', project], check=True,
                   capture_output=True, cwd=REPO, timeout=120)
    subscriber = subscriber_client()
    outputs = CapturedOutputs(subscriber, f'projects/{project}/subscriptions/capture-enriched',
                       f'projects/{project}/subscriptions/capture-dead')
    ensure_subscription(subscriber, outputs.enriched, enriched)
    ensure_subscription(subscriber, outputs.dead, dead)

    bodies = seed_vocabulary_bodies(MESSAGES, POISON_EVERY, words_per_text=150, seed=8)
    publisher = pubsub_v1.PublisherClient()
    for future in [publisher.publish(raw, body, source_id=source_id)
                   for source_id, body in bodies.items()]:
        future.result(timeout=60)

    # A short lease, so that what a killed run held is delivered again within seconds.
    settings = tmp_path / 'settings.yaml'
    settings.write_text('local_pubsub:\n  lease_seconds: 10\n')
    command = NEWSWIRE + ['run', '--streaming', '--runner=DirectRunner',
                          '--input-subscription', f'projects/{project}/subscriptions/'
                                                  'newswire-raw-pipeline',
                          '--output-topic', enriched, '--dead-letter-topic', dead,
                          '--settings', str(settings)]

    def start(run):
        log = open(tmp_path / f'run-{run}.log', 'w')
        return subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    killed_at = []
    for run, share in enumerate(KILL_AT):
        process = start(run)
        try:
            poll(lambda: outputs.pull() >= share * MESSAGES, 600, interval=0.2,
                 what=f'{share:.0%} of the messages out (run {run})')
        finally:  # killed on time or not: a run left behind would keep the test's messages
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        killed_at.append(len(outputs.records) + len(outputs.letters))

    process = start(len(KILL_AT))
    try:
        poll(lambda: outputs.pull() >= MESSAGES, 900, interval=0.5,
             what='every message out after the last restart')
    finally:
        stop_with_ctrl_c(process)
        subscriber.close()

    assert all(killed < MESSAGES for killed in killed_at), killed_at  # each kill was mid-run
    poison = {s for s in bodies if bodies[s].startswith(b'\x00')}
    assert set(outputs.records) == set(bodies) - poison
    assert set(outputs.letters) == poison
    assert all(letter['reason'] == 'binary'
               for letters in outputs.letters.values() for letter in letters)
    # Each message is in the output as a canonical record or a flagged duplicate; a record
    # published just before a kill may come out twice (at least once), never zero times.
    for source_id, records in outputs.records.items():
        tiers = [r['dedup']['tier'] for r in records]
        assert None in tiers or all(t in ('exact', 'near_copy', 'same_story') for t in tiers), (
            source_id, tiers)
    extra = sum(len(r) for r in outputs.records.values()) - len(outputs.records)
    print(f'killed at {killed_at} of {MESSAGES}; {extra} record(s) published twice')
