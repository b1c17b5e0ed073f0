"""Three real region processes, a dedicated Kafka broker and the WAN between them:
what the faults hit.

Every region reaches the others through the WAN injector (globaltables/wan): its
``--peer`` URLs are links of the injector, and its ``--kafka`` is its local Kafka
path, a proxy in front of a broker listener of its own whose advertised address is
that proxy; it fetches each other region's topic over a path of its own to that
region (globaltables/wan/shapers.py), so all of its Kafka traffic passes through the
injector.  Cutting ap-southeast-2's Kafka (``Deployment.proxy``) cuts that region,
and only it, off from the broker.  The broker is the suite's own (not the session's shared one)
because the faults stop and restart it.

By default the links add no latency (the LAN profile).  ``GLOBALTABLES_CHAOS_WAN=1``
(``make chaos-wan``) starts the deployment with issue #18's round trips on every
link (us-east-1 <-> eu-west-1 75 ms, <-> ap-southeast-2 215 ms, eu-west-1 <->
ap-southeast-2 230 ms, jitter ±10 %), and :meth:`Deployment.wan` switches a running
deployment's profile (the one fault `make test` runs under WAN).
``GLOBALTABLES_WAN_BACKEND`` picks the peer links' proxy: ``python`` (default),
``toxiproxy`` or ``auto`` (Toxiproxy when ``make wan-tools`` built it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from globaltables import kafka_broker
from globaltables.wan import LAN, REALISTIC, Switch, WanProcess, WanProfile, resolve_backend
from regions.kafka_security import KafkaSecurity
from tests.chaos.load import wait_for
from tests.fixtures.regions import (
    ADMIN_KEY_ID,
    ADMIN_SECRET,
    REPO,
    RegionProcess,
    free_port,
    free_ports,
)

__all__ = ["CUT_REGION", "NAMES", "WAN", "Deployment"]

NAMES = ("us-east-1", "eu-west-1", "ap-southeast-2")
#: the region whose Kafka path the faults cut
CUT_REGION = "ap-southeast-2"
#: the whole suite under WAN latency (`make chaos-wan`)
WAN = os.environ.get("GLOBALTABLES_CHAOS_WAN", "0") not in ("", "0")


@dataclass
class Deployment:
    root: Path
    broker_port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    regions: dict[str, RegionProcess] = field(default_factory=dict)
    #: the injector every link goes through, and the profile it starts with
    wan_process: WanProcess | None = None
    profile: WanProfile = field(default_factory=lambda: REALISTIC if WAN else LAN)
    #: ap-southeast-2's Kafka path: ``proxy.cut()`` / ``proxy.heal()``
    proxy: Switch | None = None

    @property
    def broker_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def _broker_properties(self) -> dict[str, str]:
        # a listener per region, advertised as that region's Kafka path, SASL/SCRAM on
        # all as `kafka start` runs the broker
        assert self.wan_process is not None
        return self.wan_process.broker_properties(self.broker_port, self.controller_port)

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
        ports = free_ports(2 * len(NAMES))
        api = dict(zip(NAMES, ports[: len(NAMES)], strict=True))
        listeners = dict(zip(NAMES, ports[len(NAMES) :], strict=True))
        # the WAN first: the broker advertises its Kafka paths
        self.wan_process = WanProcess(
            NAMES,
            api,
            listeners,
            self.profile,
            backend=resolve_backend(os.environ.get("GLOBALTABLES_WAN_BACKEND", "python")),
            seed=18,
            workdir=self.root / "wan",
        ).start()
        self.proxy = Switch(self.wan_process, CUT_REGION)
        self.start_broker()
        for n in NAMES:
            self.regions[n] = RegionProcess(
                n,
                api[n],
                f"sqlite:///{self.root}/{n}.db",
                kafka=self.wan_process.kafka_address(n),
                peers=self.wan_process.peers_of(n),
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
        if self.wan_process is not None:
            self.wan_process.close()

    @contextlib.contextmanager
    def wan(self, profile: WanProfile) -> Iterator[None]:
        """Every link under ``profile`` inside the block, then back to the deployment's."""
        assert self.wan_process is not None
        self.wan_process.set_profile(profile)
        try:
            yield
        finally:
            self.wan_process.set_profile(self.profile)

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
