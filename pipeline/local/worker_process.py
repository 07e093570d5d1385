"""The per-document steps in a Python worker process of their own, on Prism.

Prism gives each environment of a pipeline one SDK worker, and a LOOPBACK worker is threads of the
`newswire` process: reading, enriching, the dedup index and publishing share one GIL, and a
stream's throughput stops at one core (bench/README.md, round 11). The per-document steps,
parsing a subscription's messages (`portable_pubsub`) and extraction to signing, need nothing of
this process, so `--enrichment-process` runs them in a second one:

    the per-document steps        marked with the `newswire_worker: process` resource hint, so
                                  Beam gives them an environment of their own (a copy of the
                                  default one with that hint)
    PrismRunnerWithWorkerProcess  serves that environment from a `ProcessWorkerPool`, which starts
                                  `python -m newswire.pipeline.local.worker_process` per worker
    everything else               LOOPBACK, in this process: the subscription's reader and its
                                  acknowledgements (`portable_pubsub` needs both here), the one-key
                                  dedup index, the sinks

Prism fuses only transforms of one environment; the marked steps follow one another, so they
stay one fused stage, and the stage boundaries are the ones the pipeline had.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import os
import signal
import subprocess
import sys
import threading
from typing import Optional

from apache_beam.runners.portability.prism_runner import PrismRunner
from apache_beam.transforms.resources import ResourceHint

HINT_NAME = 'newswire_worker'
HINT_URN = 'newswire:resources:worker:v1'
PROCESS = 'process'
# The worker process stops this long after it is asked to before it is killed.
STOP_GRACE_SECONDS = 5
# The pool's process id, for a worker process to check it is still its parent.
PARENT_VARIABLE = 'NEWSWIRE_WORKER_POOL_PID'


class WorkerHint(ResourceHint):
    """Which worker runs a transform (`process`: the enrichment worker process). Applied only
    when the runner is `PrismRunnerWithWorkerProcess` (`hints_for`)."""

    urn = HINT_URN


ResourceHint.register_resource_hint(HINT_NAME, WorkerHint)


class EnrichmentProcessError(ValueError):
    """--enrichment-process asked of a run that cannot have it."""


def wanted(options, cpu_count: Optional[int] = None) -> bool:
    """Whether this run puts the per-document steps in a worker process: `--enrichment-process`
    true, or `auto` (the default) for a stream on Prism with LOOPBACK workers on a machine with two
    or more CPUs.

    Raises:
        EnrichmentProcessError: true on another runner or with other workers.
    """
    from apache_beam.options.pipeline_options import StandardOptions

    from newswire.pipeline.job.options import AUTO, NewswireOptions
    from newswire.pipeline.local.portable_pubsub import runs_in_process

    setting = options.view_as(NewswireOptions).enrichment_process
    runner = str(options.view_as(StandardOptions).runner or '').rsplit('.', 1)[-1]
    possible = runner == 'PrismRunner' and runs_in_process(options)
    if setting is True and not possible:
        raise EnrichmentProcessError(
            f'--enrichment-process runs on PrismRunner with its default LOOPBACK workers, not '
            f'{runner or "DirectRunner"}'
            f'{" with these workers" if runner == "PrismRunner" else ""}: drop it, or run with '
            f'--runner=PrismRunner')
    if setting != AUTO:
        return bool(setting)
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return possible and bool(options.view_as(StandardOptions).streaming) and cores >= 2


def hints_for(pipeline) -> dict:
    """The resource hints for `pipeline`'s per-document steps: the worker process's on
    `PrismRunnerWithWorkerProcess`, none on any other runner."""
    if isinstance(pipeline.runner, PrismRunnerWithWorkerProcess):
        return {HINT_NAME: PROCESS}
    return {}


class PrismRunnerWithWorkerProcess(PrismRunner):
    """PrismRunner, with the environment of the transforms hinted `newswire_worker: process`
    served by a `ProcessWorkerPool`; every other environment as Beam's PrismRunner serves it."""

    def start_and_replace_loopback_environments(self, pipeline, options):
        from apache_beam.portability import common_urns, python_urns
        from apache_beam.portability.api import beam_runner_api_pb2, endpoints_pb2

        cleanups = []
        for environment in pipeline.components.environments.values():
            if (environment.urn == python_urns.EMBEDDED_PYTHON_LOOPBACK
                    and environment.resource_hints.get(HINT_URN) == PROCESS.encode()):
                pool = ProcessWorkerPool()
                cleanups.append(pool.stop)
                environment.urn = common_urns.environments.EXTERNAL.urn
                environment.payload = beam_runner_api_pb2.ExternalPayload(
                    endpoint=endpoints_pb2.ApiServiceDescriptor(url=pool.start())
                ).SerializeToString()
        return cleanups + PrismRunner.start_and_replace_loopback_environments(pipeline, options)


class ProcessWorkerPool:
    """Beam's external worker pool service on 127.0.0.1: each StartWorker starts a worker process
    (`main`) for the runner's endpoints; StopWorker or `stop` ends it."""

    def __init__(self, command: Optional[list] = None):
        self._command = command or [sys.executable, '-m', __name__]
        self._processes: dict = {}
        self._lock = threading.Lock()
        self._server = None

    def start(self) -> str:
        """Serves the pool; returns its address."""
        import grpc
        from apache_beam.portability.api import beam_fn_api_pb2_grpc

        self._server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
        beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
            _PoolServicer(self), self._server)
        port = self._server.add_insecure_port('127.0.0.1:0')
        self._server.start()
        return f'127.0.0.1:{port}'

    def start_worker(self, request) -> None:
        command = self._command + [f'--id={request.worker_id}',
                                   f'--control_endpoint={request.control_endpoint.url}',
                                   f'--provision_endpoint={request.provision_endpoint.url}']
        # A session of its own: a terminal's Ctrl-C reaches newswire, which cancels the job, and
        # the runner then stops this worker; the worker itself dies with this process (`main`).
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True,
                                   env={**os.environ, PARENT_VARIABLE: str(os.getpid())})
        with self._lock:
            self._processes[request.worker_id] = process

    def stop_worker(self, worker_id: str) -> None:
        with self._lock:
            process = self._processes.pop(worker_id, None)
        if process is not None:
            _end(process)

    def running(self) -> list:
        """The worker processes started and not stopped (tests)."""
        with self._lock:
            return [p for p in self._processes.values() if p.poll() is None]

    def stop(self) -> None:
        with self._lock:
            processes, self._processes = list(self._processes.values()), {}
        for process in processes:
            _end(process)
        if self._server is not None:
            self._server.stop(1)


def _end(process) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _PoolServicer:
    def __init__(self, pool: ProcessWorkerPool):
        self._pool = pool

    def StartWorker(self, request, context):
        from apache_beam.portability.api import beam_fn_api_pb2
        try:
            self._pool.start_worker(request)
        except OSError as error:
            return beam_fn_api_pb2.StartWorkerResponse(error=f'cannot start a worker: {error}')
        return beam_fn_api_pb2.StartWorkerResponse()

    def StopWorker(self, request, context):
        from apache_beam.portability.api import beam_fn_api_pb2
        self._pool.stop_worker(request.worker_id)
        return beam_fn_api_pb2.StopWorkerResponse()


def _die_with_parent() -> None:
    """On Linux, SIGTERM to this process when the pool's process dies (even by SIGKILL); exits at
    once if it died before this was set. Linux sends it when the *thread* that started this
    process ends: the pool's server threads live until the pool stops, which stops the workers
    first."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # elsewhere the runner's closed control stream ends the worker
    parent = os.environ.get(PARENT_VARIABLE)
    if parent is not None and os.getppid() != int(parent):
        sys.exit(1)


def main(argv=None) -> None:
    """An SDK worker for the runner's endpoints, set up from its provision service as Beam's
    container boot program sets one up (no artifacts: this process has newswire installed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ('id', 'control_endpoint', 'provision_endpoint'):
        parser.add_argument(f'--{name}', required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # newswire's Ctrl-C stops the job, then this
    _die_with_parent()

    import grpc
    from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc
    from apache_beam.runners.worker import sdk_worker, sdk_worker_main, worker_id_interceptor
    from google.protobuf import json_format

    from newswire.pipeline.cli import LOG_FORMAT
    from newswire.pipeline.job.stream_end import is_disconnect, quiet_disconnects

    with grpc.insecure_channel(args.provision_endpoint) as channel:
        info = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel).GetProvisionInfo(
            beam_provision_api_pb2.GetProvisionInfoRequest(),
            metadata=[('worker_id', args.id)]).info
    # No LOGGING_API_SERVICE_DESCRIPTOR: the steps' logs go to this process's stderr, which is
    # newswire's, as the LOOPBACK worker's do, not through the runner, whose log stream prints
    # "Logging client failed" again and again once the runner is gone.
    os.environ.update(
        WORKER_ID=args.id,
        PIPELINE_OPTIONS=json_format.MessageToJson(info.pipeline_options),
        CONTROL_API_SERVICE_DESCRIPTOR=f'url: "{args.control_endpoint}"',
        RUNNER_CAPABILITIES=' '.join(info.runner_capabilities),
    )
    # Beam's interceptor read WORKER_ID when it was imported, before it was set above.
    worker_id_interceptor.WorkerIdInterceptor._worker_id = args.id
    # Prism keeps one table of metric short ids per job, not per worker, and each Python worker
    # numbers its metrics from 1, so this worker's ids would name the LOOPBACK worker's metrics
    # (Prism fails the job decoding one as another: prism's jobservices/metrics.go,
    # shortIDsToKeys; not reported upstream). Numbered from 2**40 here, the two cannot meet.
    sdk_worker.SHORT_ID_CACHE._last_short_id = 1 << 40
    # Warnings and errors to stderr as `newswire` prints them (the harness sets the root
    # logger's level, INFO, from the options; the handler's level is what shows). The harness's
    # start-up notes, which the LOOPBACK worker never shows, stay out: that it has no main
    # session (newswire needs none) and that it discards the options only the launcher knows.
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    for name in ('apache_beam.runners.worker.sdk_worker_main', 'apache_beam.options'):
        logging.getLogger(name).setLevel(logging.ERROR)
    # A terminal's Ctrl-C ends Prism at once: this worker then loses its runner, which is how it
    # ends, not an error (newswire says how the run ended).
    quiet_disconnects()
    try:
        sdk_worker_main.main([])
    except Exception as error:  # noqa: BLE001 - re-raised unless the runner is gone
        if not is_disconnect(error):
            raise


if __name__ == '__main__':
    main()
