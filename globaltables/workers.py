"""Worker processes: one region served by several processes (``--workers N``).

This module is process management: starting, watching, restarting and stopping the
worker processes, the pipe and report files they talk to the primary through, and
the listening sockets they share.  It lives in ``globaltables/``, next to the
worker's entry point (``globaltables.region_worker``) and the CLI that creates the
pool (``globaltables region``), not in ``api/``, which translates HTTP and decides
nothing about processes; it imports nothing from ``api/`` at run time.  ``api/``
holds only the HTTP side of the division of work: which requests a worker serves
(``api.forwarding.served_by_worker``, from the operation registry
``api.dynamodb.operations``) and the relay of the rest (``api.forwarding.Forwarder``,
which ``api.app.create_app`` gives a worker's app).

A region's request path is Python on one event loop, so one process uses one core.
With ``--workers N`` the region process (the *primary*) starts N-1 *workers*, and all
N accept connections on the region's port (:func:`listen`).  Each connection stays with
the process that accepted it.

- A worker serves the item operations itself (those the operation registry marks
  ``worker=True``), over the same
  store: PutItem's change record commits in the worker's transaction exactly as in the
  primary (invariant 1), and versions stay ordered per item across processes
  (``DataPlane.commit``).
- Everything else (the catalog, streams, admin, REST, metrics, the dashboard) is relayed
  to the primary's private listener (``api.forwarding``), so every control-plane
  decision is still made in one process.  The replicator, TTL, housekeeping and the
  identity sync run in the primary only.
- The primary tells the workers when their cached copies are stale through
  :mod:`regions.process_signals`; a worker tells the primary about new local changes
  (for the publisher) by a byte on a pipe, and reports its request metrics and write
  counts in a small JSON file that the primary adds to its own.

The workers die with the primary (``PR_SET_PDEATHSIG``), so a killed region leaves no
process behind that still holds its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from regions.process_signals import ProcessSignals

if TYPE_CHECKING:
    from api.metrics import RegionMetrics, WorkerSample
    from regions.region import Region
    from regions.settings import RegionSettings

__all__ = ["WorkerLink", "WorkerPool", "listen"]

log = logging.getLogger("globaltables.workers")

#: seconds between two reports of a worker's counters to the primary
REPORT_INTERVAL_S = 0.5
#: restarts of crashed workers, at most, over the primary's life
_MAX_RESTARTS = 10


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket, as uvicorn opens one for ``--host``/``--port``.

    ``reuse_port``: every process of the region binds the port with SO_REUSEPORT and
    the kernel spreads new connections over them.  One inherited socket would not do:
    an idle process accepts every pending connection in one go, so the first process
    to wake up takes a whole burst of new connections and the others get none."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _report_path(directory: str, index: int) -> str:
    return os.path.join(directory, f"worker-{index}.json")


# --------------------------------------------------------------------------- primary side


class WorkerPool:
    """The primary's side: starts, watches and stops the workers."""

    def __init__(
        self,
        count: int,
        *,
        host: str,
        port: int,
        primary_url: str,
        settings: RegionSettings,
        extra_args: list[str],
    ) -> None:
        self.count = count
        self.host = host
        self.port = port
        self.primary_url = primary_url
        self.settings = settings
        self.extra_args = extra_args
        self.directory = tempfile.mkdtemp(prefix="globaltables-workers-")
        self.signals = ProcessSignals(os.path.join(self.directory, "signals"), create=True)
        self._notify_r, self._notify_w = os.pipe()
        os.set_blocking(self._notify_r, False)
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._restarts = 0
        self._stopping = False
        self._watch: asyncio.Task[None] | None = None
        self._region: Region | None = None
        self._reports: tuple[float, list[dict[str, Any]]] = (0.0, [])

    # -- lifecycle

    def start(self, region: Region, metrics: RegionMetrics) -> None:
        """After the region opened (the system tables exist): start the workers."""
        self._region = region
        metrics.worker_samples = self.samples
        asyncio.get_running_loop().add_reader(self._notify_r, self._on_notify)
        for index in range(1, self.count):
            self._spawn(index)
        self._watch = asyncio.create_task(self._supervise())
        log.info("serving with %d processes (the primary and %d workers)", self.count, self.count - 1)

    def _spawn(self, index: int) -> None:
        cmd = [
            sys.executable,
            "-m",
            "globaltables.region_worker",
            "--index", str(index),
            "--host", self.host,
            "--port", str(self.port),
            "--notify-fd", str(self._notify_w),
            "--directory", self.directory,
            "--primary", self.primary_url,
            "--parent", str(os.getpid()),
            *self.extra_args,
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, pass_fds=(self._notify_w,)
        )
        assert proc.stdin is not None
        # the settings (secrets included) go through a pipe, not argv or the environment
        proc.stdin.write(pickle.dumps(self.settings))
        proc.stdin.close()
        self._procs[index] = proc

    async def _supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.5)
            for index, proc in list(self._procs.items()):
                code = proc.poll()
                if code is None or self._stopping:
                    continue
                if self._restarts >= _MAX_RESTARTS:
                    log.error("worker %d exited (%s); not restarted (too many restarts)", index, code)
                    del self._procs[index]
                    continue
                self._restarts += 1
                log.error("worker %d exited (%s); restarting it", index, code)
                self._spawn(index)

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while any(p.poll() is None for p in self._procs.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self._notify_r)
        self._on_notify()  # the changes of the workers' last writes reach the publisher
        os.close(self._notify_r)
        os.close(self._notify_w)
        self.signals.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- what the workers tell

    def _on_notify(self) -> None:
        try:
            while os.read(self._notify_r, 65536):
                pass
        except (BlockingIOError, OSError):
            pass
        if self._region is not None:
            self._region.changes_available.set()

    def _latest(self) -> list[dict[str, Any]]:
        # read at most every 0.1 s: a scrape and a dashboard poll may ask together
        at, reports = self._reports
        now = time.monotonic()
        if now - at < 0.1:
            return reports
        reports = []
        for index in range(1, self.count):
            with contextlib.suppress(OSError, ValueError):
                reports.append(orjson.loads(Path(_report_path(self.directory, index)).read_bytes()))
        self._reports = (now, reports)
        return reports

    def status(self) -> list[dict[str, Any]]:
        """Each worker's pid, whether it runs, and the requests it has served."""
        reports = {r.get("index"): r for r in self._latest()}
        out = []
        for index, proc in sorted(self._procs.items()):
            report = reports.get(index, {})
            out.append(
                {
                    "index": index,
                    "pid": proc.pid,
                    "running": proc.poll() is None,
                    # its first report is written once it serves
                    "ready": bool(report),
                    "requests": report.get("requests", 0),
                }
            )
        return out

    def writes(self) -> tuple[int, int]:
        reports = self._latest()
        return sum(r["writes"] for r in reports), sum(r["noop"] for r in reports)

    def samples(self) -> list[WorkerSample]:
        return [
            (family, name, labels, value)
            for r in self._latest()
            for family, name, labels, value in r["samples"]
        ]


# --------------------------------------------------------------------------- worker side


class WorkerLink:
    """A worker's side: signals changes, reports counters.  What it does not serve goes
    to ``primary_url`` (``api.app.create_app`` relays it there)."""

    def __init__(self, index: int, *, primary_url: str, notify_fd: int, directory: str) -> None:
        self.index = index
        self.primary_url = primary_url
        self.notify_fd = notify_fd
        self.directory = directory
        os.set_blocking(notify_fd, False)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, region: Region, metrics: RegionMetrics) -> None:
        self._write_report(region, metrics)
        self._tasks = [
            asyncio.create_task(self._notify(region)),
            asyncio.create_task(self._report(region, metrics)),
        ]

    async def stop(self, region: Region, metrics: RegionMetrics) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._write_report(region, metrics)
        self._signal()

    def _signal(self) -> None:
        try:
            os.write(self.notify_fd, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: the primary has a wake-up waiting already

    async def _notify(self, region: Region) -> None:
        while True:
            await region.changes_available.wait()
            region.changes_available.clear()
            self._signal()

    async def _report(self, region: Region, metrics: RegionMetrics) -> None:
        while True:
            await asyncio.sleep(REPORT_INTERVAL_S)
            self._write_report(region, metrics)

    def _write_report(self, region: Region, metrics: RegionMetrics) -> None:
        writes, noop = region.write_counts()
        samples = metrics.request_samples()
        requests = sum(v for family, _, _, v in samples if family == "globaltables_requests")
        body = {
            "index": self.index,
            "requests": int(requests),
            "writes": writes,
            "noop": noop,
            "samples": samples,
        }
        path = _report_path(self.directory, self.index)
        # written whole, then renamed: the primary never reads half a report
        with open(path + ".tmp", "wb") as f:
            f.write(orjson.dumps(body))
        os.replace(path + ".tmp", path)
