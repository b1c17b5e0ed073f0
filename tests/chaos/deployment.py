"""Three real region processes, a dedicated Kafka broker and a proxy: what the faults hit.

The broker gets a second listener, ``CUT``, whose advertised address is the
proxy's; ap-southeast-2 bootstraps through the proxy, so cutting the proxy cuts
that region (and only it) off from Kafka.  The broker is the suite's own (not the
session's shared one) because the faults stop and restart it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from globaltables import kafka_broker
from regions.kafka_security import KafkaSecurity
from tests.chaos.load import wait_for
from tests.chaos.proxy import TcpProxy
from tests.fixtures.regions import (
    ADMIN_KEY_ID,
    ADMIN_SECRET,
    REPO,
    RegionProcess,
    free_port,
    free_ports,
)

__all__ = ["CUT_REGION", "NAMES", "Deployment"]

NAMES = ("us-east-1", "eu-west-1", "ap-southeast-2")
#: the region that reaches Kafka through the proxy
CUT_REGION = "ap-southeast-2"


@dataclass
class Deployment:
    root: Path
    broker_port: int = field(default_factory=free_port)
    cut_port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    proxy_port: int = field(default_factory=free_port)
    regions: dict[str, RegionProcess] = field(default_factory=dict)
    proxy: TcpProxy | None = None

    @property
    def broker_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def _broker_properties(self) -> dict[str, str]:
        return {
            "listeners": f"CLIENT://127.0.0.1:{self.broker_port},"
            f"CUT://127.0.0.1:{self.cut_port},CONTROLLER://127.0.0.1:{self.controller_port}",
            # clients of the CUT listener are told to come back through the proxy
            "advertised.listeners": f"CLIENT://127.0.0.1:{self.broker_port},"
            f"CUT://127.0.0.1:{self.proxy_port}",
            # SASL/SCRAM on both, as `kafka start` runs the broker (kafka_broker gives the
            # CUT listener the client listener's SCRAM settings)
            "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,"
            "CLIENT:SASL_PLAINTEXT,CUT:SASL_PLAINTEXT",
        }

    @property
    def kafka_security(self) -> KafkaSecurity:
        """The admin credentials of this deployment's own broker (not the session's)."""
        return kafka_broker.admin_security(self.broker_dir)

    def kafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of a test's aiokafka client of this broker."""
        return self.kafka_security.client_kwargs()

    def start_broker(self) -> None:
        kafka_broker.start(
            self.broker_dir,
            port=self.broker_port,
            controller_port=self.controller_port,
            extra_properties=self._broker_properties(),
        )

    def stop_broker(self) -> None:
        kafka_broker.stop(self.broker_dir)

    def start(self) -> Deployment:
        # the proxy first: the broker's readiness probe may follow the CUT address
        self.proxy = TcpProxy(self.cut_port, self.proxy_port).start()
        self.start_broker()
        ports = dict(zip(NAMES, free_ports(len(NAMES)), strict=True))
        for n in NAMES:
            self.regions[n] = RegionProcess(
                n,
                ports[n],
                f"sqlite:///{self.root}/{n}.db",
                kafka=self.proxy.address if n == CUT_REGION else self.bootstrap,
                peers={p: f"http://127.0.0.1:{ports[p]}" for p in NAMES if p != n},
                log_dir=self.root,
                # this broker's credentials, over whatever the session exported
                env=self.kafka_security.env(),
            )
        for proc in self.regions.values():
            proc.start(timeout=60)
        return self

    def close(self) -> None:
        for proc in self.regions.values():
            if proc.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    proc.proc.send_signal(signal.SIGCONT)  # a paused region cannot exit
            with contextlib.suppress(Exception):
                proc.stop()
            _reap(proc)
        with contextlib.suppress(Exception):
            self.stop_broker()
        if self.proxy is not None:
            self.proxy.close()

    # ----------------------------------------------------------------- faults

    def kill(self, name: str) -> None:
        self.regions[name].kill(signal.SIGKILL)

    def restart(self, name: str, extra_args: list[str] | None = None) -> None:
        proc = self.regions[name]
        if proc.proc is not None:
            try:
                proc.stop()
            except subprocess.TimeoutExpired:
                # a region must exit on SIGTERM; kill it so the deployment stays usable
                _reap(proc)
                raise AssertionError(f"{name} did not exit within 30 s of SIGTERM") from None
        proc.extra_args = list(extra_args or [])
        proc.start(timeout=60)

    def pause(self, name: str) -> None:
        proc = self.regions[name].proc
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        proc = self.regions[name].proc
        assert proc is not None
        proc.send_signal(signal.SIGCONT)

    # ----------------------------------------------------------------- observing

    def health(self, name: str) -> dict[str, Any] | None:
        try:
            return self.regions[name].health()
        except (httpx.HTTPError, ValueError):
            return None

    def replication_idle(self) -> bool:
        """Every publisher's outbox empty and every applier at the end of its topics."""
        for name in NAMES:
            h = self.health(name)
            if h is None or h.get("replication") is None:
                return False
            rep = h["replication"]
            if rep["publisher"]["backlog"] != 0:
                return False
            if any(p["records_behind"] for p in rep["lag"].values()):
                return False
        return True

    def replication_idle_except(self, skip: str) -> Callable[[], bool]:
        """A check: every region but ``skip`` has published its whole outbox."""

        def check() -> bool:
            for name in NAMES:
                if name == skip:
                    continue
                h = self.health(name)
                if h is None or h.get("replication") is None:
                    return False
                if h["replication"]["publisher"]["backlog"] != 0:
                    return False
            return True

        return check

    def records_behind(self, name: str) -> int:
        h = self.health(name)
        if h is None or h.get("replication") is None:
            return -1
        return sum(int(p["records_behind"]) for p in h["replication"]["lag"].values())

    def verify(self, table: str) -> tuple[int, str]:
        """``globaltables verify`` over the three regions: (exit status, output)."""
        cmd = [sys.executable, "-m", "globaltables.cli", "verify", "--table", table]
        for name, proc in self.regions.items():
            cmd += ["--endpoint", f"{name}={proc.url}"]
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": ADMIN_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        out = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        return out.returncode, (out.stdout + out.stderr)[-3000:]

    def probe_lag(self, table: str, bound_s: float) -> float:
        """Seconds until a fresh write in each region is readable in every other one
        (the worst of the three); ``bound_s`` + 1 if some write did not arrive in time."""
        worst = 0.0
        clients: dict[str, Any] = {n: p.client() for n, p in self.regions.items()}
        for name in NAMES:
            key = f"probe-{name}-{time.time_ns()}"
            started = time.monotonic()
            clients[name].put_item(TableName=table, Item={"id": {"S": key}, "v": {"S": key}})

            def arrived(key: str = key) -> bool:
                return all(
                    "Item" in clients[o].get_item(TableName=table, Key={"id": {"S": key}})
                    for o in NAMES
                )

            if not wait_for(arrived, bound_s, interval=0.05):
                return bound_s + 1
            worst = max(worst, time.monotonic() - started)
        return worst


def _reap(proc: RegionProcess) -> None:
    """SIGKILL a region process that is still there (a failed stop), and forget it."""
    if proc.proc is not None and proc.proc.poll() is None:
        proc.proc.kill()
        proc.proc.wait(timeout=30)
    proc.proc = None
