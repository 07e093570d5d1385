"""A child process run to completion while the summed RSS of its whole process tree is sampled
(Beam's multi-processing workers are its children), read from /proc: Linux only, no dependency."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Optional, Sequence


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat', 'rb') as handle:
                fields = handle.read().rsplit(b')', 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _rss_bytes(pid: int) -> int:
    try:
        with open(f'/proc/{pid}/statm', 'rb') as handle:
            return int(handle.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_bytes(root: int) -> int:
    """RSS of `root` and all its descendants, summed."""
    children, total, stack = _children(), 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_bytes(pid)
        stack.extend(children.get(pid, ()))
    return total


class TreeMemorySampler:
    """Samples a process tree's RSS every `interval` seconds in a thread; `samples` are
    (seconds since start, bytes)."""

    def __init__(self, pid: int, interval: float = 0.25):
        self.pid, self.interval, self.samples = pid, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self._started, tree_rss_bytes(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_bytes(self) -> int:
        return max((b for _, b in self.samples), default=0)


def run_measured(command: Sequence[str], cwd: str, timeout: Optional[float] = None,
                 env: Optional[dict] = None) -> tuple[str, str, int]:
    """Runs `command`; returns (stdout, stderr, peak tree RSS in bytes). Raises on a failure."""
    process = subprocess.Popen(list(command), cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    with TreeMemorySampler(process.pid) as sampler:
        stdout, stderr = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f'{command[:4]} exited with {process.returncode}:\n{stderr[-3000:]}')
    return stdout, stderr, sampler.peak_bytes
