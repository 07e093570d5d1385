"""docs/streaming.md's walk-through, run as written there (the emulator from the session fixture; a
fresh project name in place of `demo`, the fixture's port in place of 8085)."""

import json
import os
import re
import shlex
import subprocess
import sys
import uuid

import pytest

from tests.conftest import REPO, stop_with_ctrl_c

pytestmark = pytest.mark.slow

NEWSWIRE = [sys.executable, '-m', 'newswire.pipeline.cli']


def walkthrough_commands() -> list[str]:
    text = (REPO / 'docs' / 'streaming.md').read_text(encoding='utf-8')
    block = re.search(r'```sh\n(.+?)\n```', text, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith('#')]


def test_the_walkthrough_is_emulator_topics_run_publish_subscribe():
    commands = walkthrough_commands()
    assert 'cloud-pubsub-emulator --host=127.0.0.1 --port=8085' in commands[0]
    newswire = [shlex.split(c)[1] for c in commands if c.startswith('.venv/bin/newswire ')]
    assert newswire == ['topics', 'run', 'publish', 'subscribe']
    # Every terminal that talks to the emulator has the export before its first newswire command.
    assert sum(c == 'export PUBSUB_EMULATOR_HOST=127.0.0.1:8085' for c in commands) == 3


def test_the_walkthrough_as_written_delivers_the_seeds(pubsub_emulator):
    project = f'walk-{uuid.uuid4().hex[:8]}'
    env = {**os.environ, 'PUBSUB_EMULATOR_HOST': pubsub_emulator}
    pipeline, printed = None, None
    try:
        for command in walkthrough_commands()[1:]:
            if command.startswith('export '):
                assert command.split('=', 1)[1] == '127.0.0.1:8085'
                continue
            argv = shlex.split(command.replace('projects/demo/', f'projects/{project}/')
                               .replace('--project demo', f'--project {project}'))
            assert argv[0] == '.venv/bin/newswire'
            if argv[1] == 'run':
                pipeline = subprocess.Popen(NEWSWIRE + argv[1:], cwd=REPO, env=env, text=True,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                continue
            done = subprocess.run(NEWSWIRE + argv[1:], cwd=REPO, env=env, capture_output=True,
                                  text=True, timeout=240)
            assert done.returncode == 0, (command, done.stderr[-2000:])
            if argv[1] == 'topics':
                assert f'projects/{project}/subscriptions/newswire-enriched-all' in done.stdout
            printed = done.stdout
    finally:
        if pipeline is not None:
            stop_with_ctrl_c(pipeline)
    records = [json.loads(line) for line in printed.splitlines()]
    assert sorted(r['source']['id'][:3] for r in records) == ['000', '001', '002', '003', '004']
