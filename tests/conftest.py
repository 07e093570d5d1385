"""Shared fixtures: the repository's paths and a DirectRunner test pipeline."""

import json
import os
import pathlib
import signal

import jsonschema
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

REPO = pathlib.Path(__file__).resolve().parent.parent
SEEDS = REPO / 'seeds'

# A background job of a non-interactive shell (`.ci/run &` in a script, nohup ... &) starts with
# Ctrl-C (SIGINT) ignored, every process it starts inherits that, and Python then installs no
# KeyboardInterrupt handler: the streaming runs these tests stop with Ctrl-C ignored it and were
# killed after 90 s (three tests). With Python's handler here, the processes the tests start get the
# default disposition, as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _shared_eval() -> pathlib.Path:
    """../shared/eval next to the repository (a worktree sits one level deeper); NEWSWIRE_SHARED_EVAL
    overrides."""
    if os.environ.get('NEWSWIRE_SHARED_EVAL'):
        return pathlib.Path(os.environ['NEWSWIRE_SHARED_EVAL'])
    for parent in (REPO.parent, REPO.parent.parent):
        if (parent / 'shared' / 'eval').is_dir():
            return parent / 'shared' / 'eval'
    return REPO.parent / 'shared' / 'eval'


SHARED_EVAL = _shared_eval()
# The bench's corpora are built from ECB+ in ../shared/eval (beside the clone in CI): a test that
# writes one is skipped, with the reason, in a clone without it.
needs_bench_corpus = pytest.mark.skipif(
    not (SHARED_EVAL / 'same-story-ecbplus' / 'docs.jsonl').is_file(),
    reason=f'no {SHARED_EVAL}/same-story-ecbplus beside this checkout (the bench corpus comes '
           f'from it)')


def direct_pipeline() -> TestPipeline:
    # The runner is named: left to its default, Beam first tries to download the Prism runner.
    return TestPipeline(runner='DirectRunner')


def seed_path(prefix: str) -> pathlib.Path:
    (path,) = SEEDS.glob(f'{prefix}_*.txt')
    return path


@pytest.fixture(scope='session')
def enriched_validator():
    schema = json.loads((REPO / 'pipeline' / 'schemas' / 'enriched_record.schema.json').read_text())
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope='session')
def dead_letter_validator():
    schema = json.loads((REPO / 'pipeline' / 'schemas' / 'dead_letter.schema.json').read_text())
    return jsonschema.Draft202012Validator(schema)


def missing_tool(message: str):
    """A test's tool is not installed: a skip that says so on a developer's machine, a failure in CI
    (CI=true), where .ci/run must have installed it."""
    __tracebackhide__ = True  # the skip is reported at the test's line, not here
    if os.environ.get('CI'):
        pytest.fail(f'.ci/run should have installed it: {message}')
    pytest.skip(message)


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def poll(condition, deadline_seconds: float, interval: float = 0.2, what: str = 'condition'):
    """Calls `condition` until it returns something truthy (returned) or the deadline passes."""
    import time
    deadline = time.monotonic() + deadline_seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f'{what} not met within {deadline_seconds} s')
        time.sleep(interval)


class FakeClock:
    """A clock for code that takes one (`clock=`): seconds, moved by the test through `now`."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def stop_with_ctrl_c(process, timeout: float = 90, group: bool = False) -> None:
    """Sends a process SIGINT (Ctrl-C) and waits; kills its process group when it does not stop
    within `timeout` seconds (then its exit status is not 0). With `group`, SIGINT goes to the
    process's whole group, as a terminal's Ctrl-C does (the process must lead its group:
    `start_new_session=True`), so a runner it started gets it too."""
    import signal
    import subprocess

    if group:
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def pipeline_topics(project: str) -> tuple[str, str, str]:
    """The raw, enriched and dead-letter topics `newswire topics create --project` makes."""
    topics = f'projects/{project}/topics/'
    return topics + 'newswire-raw', topics + 'newswire-enriched', topics + 'newswire-dead-letter'


class PubSubEmulator:
    """The Cloud SDK's Pub/Sub emulator on 127.0.0.1:`port` (a free one by default); `start()` returns
    once it answers Ok, `stop()` ends it (SIGTERM to its process group, the launcher starts Java)."""

    def __init__(self, port=None):
        self.port = port or _free_port()
        self.host = f'127.0.0.1:{self.port}'
        self.process = None

    def start(self):
        import shutil
        import subprocess
        import urllib.request

        gcloud = shutil.which('gcloud')
        if gcloud is None:
            missing_tool('the Google Cloud SDK (gcloud) is needed for the Pub/Sub emulator tests')
        root = subprocess.run([gcloud, 'info', '--format=value(installation.sdk_root)'],
                              capture_output=True, text=True, check=True).stdout.strip()
        launcher = (pathlib.Path(root) / 'platform' / 'pubsub-emulator' / 'bin'
                    / 'cloud-pubsub-emulator')
        if not launcher.exists():
            missing_tool(f'no Pub/Sub emulator at {launcher}: gcloud components install '
                         'pubsub-emulator (or apt-get install google-cloud-cli-pubsub-emulator)')
        log_path = pathlib.Path(os.environ.get('TMPDIR', '/tmp')) / f'pubsub-emulator-{self.port}.log'
        with open(log_path, 'ab') as log:
            self.process = subprocess.Popen(
                [str(launcher), '--host=127.0.0.1', f'--port={self.port}'],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def ready():
            if self.process.poll() is not None:
                raise RuntimeError(f'the emulator exited with {self.process.returncode}; '
                                   f'see {log_path}')
            try:
                with urllib.request.urlopen(f'http://{self.host}/', timeout=1) as response:
                    return response.read().strip() == b'Ok'
            except OSError:
                return False

        poll(ready, 60, what='the Pub/Sub emulator answering Ok')
        return self

    def stop(self):
        import signal
        import subprocess

        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope='session')
def pubsub_emulator():
    """The Pub/Sub emulator for the whole session; yields its host:port and sets
    PUBSUB_EMULATOR_HOST for this process and its children."""
    emulator = PubSubEmulator()
    previous = os.environ.get('PUBSUB_EMULATOR_HOST')
    try:
        emulator.start()
        os.environ['PUBSUB_EMULATOR_HOST'] = emulator.host
        yield emulator.host
    finally:
        if previous is None:
            os.environ.pop('PUBSUB_EMULATOR_HOST', None)
        else:
            os.environ['PUBSUB_EMULATOR_HOST'] = previous
        emulator.stop()


def first_of_each(values, key):
    """`values` as pytest parameters where the first value of each `key(value)` runs in the fast
    subset (`-m "not slow"`) and the others are marked slow: a family of many examples keeps one
    of each kind in the fast loop, and the full run (.ci/run) still runs them all. Test ids are
    those of the plain values."""
    seen = set()
    params = []
    for value in values:
        kind = key(value)
        marks = () if kind not in seen else (pytest.mark.slow,)
        seen.add(kind)
        params.append(pytest.param(*value if isinstance(value, tuple) else (value,), marks=marks))
    return params
