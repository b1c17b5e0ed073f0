"""The WAN between regions on one machine: every link a proxy with the pair's latency.

:class:`Wan` owns one event loop in a daemon thread and the proxies on it, all on
127.0.0.1 with ports the kernel picks:

* **peer links**: for each ordered pair (src, dst), a proxy to dst's HTTP API; src's
  ``--peer dst=URL`` points at it.  Backend ``python`` (:class:`DelayProxy` with a
  :class:`LinkShaper`) or ``toxiproxy`` (the real thing, ``toxiproxy.py``).
* **Kafka paths**: for each region, in front of a broker listener of its own, a local
  path (its ``--kafka``, the listener's advertised address, no delay) and a path to
  each other region (that pair's delay), each a :class:`DelayProxy` with a
  :class:`KafkaShaper` that rewrites Metadata so the region's client fetches each
  remote region's topic over the path to that region (``shapers.py``).  Always the
  Python proxy: Toxiproxy forwards bytes and cannot rewrite Metadata.

Latency comes from a :class:`~globaltables.wan.topology.WanProfile`, switchable at
run time (:meth:`Wan.set_profile`: the LAN baseline and the WAN run of ``bench
replication --wan`` share one deployment).  :meth:`Wan.cut` / :meth:`Wan.heal`
partition one pair of regions (the peer links and Kafka paths between them, both
ways); :meth:`Wan.isolate` / :meth:`Wan.rejoin` do it for every pair of one region;
:meth:`Wan.kafka_cut` cuts one region off from the broker altogether.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import tempfile
import threading
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from globaltables.wan import toxiproxy
from globaltables.wan.proxy import DelayProxy
from globaltables.wan.shapers import KafkaShaper, LinkShaper, WanState
from globaltables.wan.topology import LAN, WanProfile

__all__ = [
    "Backend",
    "Switch",
    "Wan",
    "WanControl",
    "broker_properties",
    "listener_name",
    "resolve_backend",
]

_T = TypeVar("_T")
Backend = Literal["python", "toxiproxy"]


def listener_name(region: str) -> str:
    """The broker listener that carries ``region``'s Kafka traffic."""
    return "WAN_" + "".join(c if c.isalnum() else "_" for c in region.upper())


def resolve_backend(choice: str) -> Backend:
    """``auto``: Toxiproxy when it is built (``make wan-tools``), else the Python proxy."""
    if choice == "python":
        return "python"
    if choice == "toxiproxy":
        if not toxiproxy.binary().is_file():
            raise toxiproxy.ToxiproxyUnavailable(
                f"{toxiproxy.binary()} is missing: run `make wan-tools`"
            )
        return "toxiproxy"
    if choice == "auto":
        return "toxiproxy" if toxiproxy.binary().is_file() else "python"
    raise ValueError(f"WAN backend {choice!r}: python, toxiproxy or auto")


def broker_properties(
    kafka_paths: Mapping[str, tuple[int, int]],
    client_port: int,
    controller_port: int,
    protocol: str = "SASL_PLAINTEXT",
) -> dict[str, str]:
    """``kafka_broker.start(extra_properties=...)``: the client listener, and for each
    region of ``kafka_paths`` (region -> (listener port, its local Kafka path's port))
    a listener whose advertised address is that path, so the broker's metadata sends
    the region's clients back through it.  ``protocol`` is the security protocol of
    all of them (kafka_broker gives an added SASL listener the client listener's
    SCRAM settings)."""
    listen = [f"CLIENT://127.0.0.1:{client_port}"]
    advertised = [f"CLIENT://127.0.0.1:{client_port}"]
    protocols = [f"CONTROLLER:{protocol}", f"CLIENT:{protocol}"]
    for region, (listener_port, path_port) in kafka_paths.items():
        name = listener_name(region)
        listen.append(f"{name}://127.0.0.1:{listener_port}")
        advertised.append(f"{name}://127.0.0.1:{path_port}")
        protocols.append(f"{name}:{protocol}")
    listen.append(f"CONTROLLER://127.0.0.1:{controller_port}")
    return {
        "listeners": ",".join(listen),
        "advertised.listeners": ",".join(advertised),
        "listener.security.protocol.map": ",".join(protocols),
    }


class WanControl(Protocol):
    """What callers use of a WAN, in this process (:class:`Wan`) or in a child
    process (:class:`~globaltables.wan.process.WanProcess`)."""

    regions: tuple[str, ...]

    def peer_url(self, src: str, dst: str) -> str: ...

    def peers_of(self, src: str) -> dict[str, str]: ...

    def kafka_address(self, region: str) -> str: ...

    def kafka_cut(self, region: str) -> None: ...

    def kafka_heal(self, region: str) -> None: ...

    def broker_properties(
        self, client_port: int, controller_port: int, protocol: str = "SASL_PLAINTEXT"
    ) -> dict[str, str]: ...

    def set_profile(self, profile: WanProfile) -> None: ...

    def cut(self, a: str, b: str) -> None: ...

    def heal(self, a: str, b: str) -> None: ...

    def isolate(self, region: str) -> None: ...

    def rejoin(self, region: str) -> None: ...

    def close(self) -> None: ...


class Switch:
    """Cut and heal one region's Kafka altogether (every path reset, new connections
    black-holed): the chaos suite's "cut one region off from Kafka"."""

    def __init__(self, control: WanControl, region: str) -> None:
        self._control = control
        self.region = region

    @property
    def address(self) -> str:
        return self._control.kafka_address(self.region)

    def cut(self) -> None:
        self._control.kafka_cut(self.region)

    def heal(self) -> None:
        self._control.kafka_heal(self.region)


class Wan:
    def __init__(
        self,
        regions: Iterable[str],
        profile: WanProfile = LAN,
        *,
        backend: Backend = "python",
        seed: int | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.regions = tuple(regions)
        self.backend = backend
        self.state = WanState(self.regions, profile, seed)
        self.workdir = workdir
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wan", daemon=True)
        #: (src, dst) -> the peer link's port, and its Python proxy (python backend)
        self._link_ports: dict[tuple[str, str], int] = {}
        self._links: dict[tuple[str, str], DelayProxy] = {}
        self._toxi: toxiproxy.ToxiproxyServer | None = None
        #: (region, home) -> the region's Kafka path to home (home == region: local)
        self._kafka: dict[tuple[str, str], DelayProxy] = {}
        self._closed = False

    @property
    def profile(self) -> WanProfile:
        return self.state.profile

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def start(self) -> Wan:
        self._thread.start()
        if self.backend == "toxiproxy":
            where = self.workdir or Path(tempfile.mkdtemp(prefix="gt-wan-"))
            self._toxi = toxiproxy.ToxiproxyServer(where).start()
        return self

    # ------------------------------------------------------------------ peer links

    def add_peer_links(self, api_ports: Mapping[str, int]) -> None:
        """A link from every region to every other one's HTTP API at ``api_ports``."""
        for src in self.regions:
            for dst in self.regions:
                if src == dst:
                    continue
                if self._toxi is not None:
                    port = self._toxi.create_proxy(f"{src}__{dst}", api_ports[dst])
                else:
                    shaper = functools.partial(LinkShaper, self.state, src, dst)
                    proxy = DelayProxy(f"{src}->{dst}", api_ports[dst], shaper)
                    self._links[(src, dst)] = self._run(proxy.start())
                    port = proxy.listen_port
                self._link_ports[(src, dst)] = port
        self._apply_latency()

    def peer_url(self, src: str, dst: str) -> str:
        return f"http://127.0.0.1:{self._link_ports[(src, dst)]}"

    def peers_of(self, src: str) -> dict[str, str]:
        """``--peer`` values of region ``src``: every other region through its link."""
        return {d: self.peer_url(src, d) for d in self.regions if d != src}

    # ------------------------------------------------------------------ Kafka paths

    def add_kafka_paths(self, listener_ports: Mapping[str, int]) -> None:
        """Each region's Kafka paths (local and one per other region), all to the
        broker listener at ``listener_ports[region]``."""
        for region in self.regions:
            for home in self.regions:
                shaper = functools.partial(KafkaShaper, self.state, region, home)
                proxy = DelayProxy(f"kafka:{region}->{home}", listener_ports[region], shaper)
                self._kafka[(region, home)] = self._run(proxy.start())

        async def publish() -> None:
            for (region, home), proxy in self._kafka.items():
                if region != home:
                    self.state.kafka_paths.setdefault(region, {})[home] = proxy.listen_port

        self._run(publish())

    def kafka_address(self, region: str) -> str:
        """``--kafka`` of ``region``: its local Kafka path."""
        return self._kafka[(region, region)].address

    def _kafka_of(self, region: str) -> list[DelayProxy]:
        return [p for (r, _), p in self._kafka.items() if r == region]

    def kafka_cut(self, region: str) -> None:
        """Every Kafka path of ``region`` reset and black-holed: it reaches no broker."""
        for proxy in self._kafka_of(region):
            self._run(proxy.cut())

    def kafka_heal(self, region: str) -> None:
        for proxy in self._kafka_of(region):
            self._run(proxy.heal())

    def broker_properties(
        self, client_port: int, controller_port: int, protocol: str = "SASL_PLAINTEXT"
    ) -> dict[str, str]:
        return broker_properties(self._local_paths(), client_port, controller_port, protocol)

    def _local_paths(self) -> dict[str, tuple[int, int]]:
        return {r: (p.upstream_port, p.listen_port) for (r, h), p in self._kafka.items() if r == h}

    def ports(self) -> dict[str, Any]:
        """What a :class:`~globaltables.wan.process.WanProcess` parent needs to know."""
        return {
            "peers": [[s, d, port] for (s, d), port in self._link_ports.items()],
            "kafka": {r: list(ports) for r, ports in self._local_paths().items()},
        }

    # ------------------------------------------------------------------ shaping

    def _apply_latency(self) -> None:
        if self._toxi is None:
            return
        p = self.state.profile
        for src, dst in self._link_ports:
            self._toxi.set_latency(
                f"{src}__{dst}", p.rtt(src, dst) / 2, p.rtt(dst, src) / 2, p.jitter
            )

    def set_profile(self, profile: WanProfile) -> None:
        async def swap() -> None:
            self.state.profile = profile

        self._run(swap())
        self._apply_latency()

    def cut(self, a: str, b: str) -> None:
        """Partition ``a`` and ``b``: the peer links and the Kafka paths between them
        reset and black-holed, both ways."""
        self._partition(a, b, True)

    def heal(self, a: str, b: str) -> None:
        self._partition(a, b, False)

    def isolate(self, region: str) -> None:
        for other in self.regions:
            if other != region:
                self.cut(region, other)

    def rejoin(self, region: str) -> None:
        for other in self.regions:
            if other != region:
                self.heal(region, other)

    def _partition(self, a: str, b: str, cut: bool) -> None:
        if a == b:
            raise ValueError(f"a region is not partitioned from itself ({a})")
        for link in ((a, b), (b, a)):
            kafka = self._kafka.get(link)
            if kafka is not None:
                self._run(kafka.cut() if cut else kafka.heal())
            if link not in self._link_ports:
                continue
            if self._toxi is not None:
                name = f"{link[0]}__{link[1]}"
                if cut:
                    self._toxi.cut(name)
                else:
                    self._toxi.heal(name)
            else:
                proxy = self._links[link]
                self._run(proxy.cut() if cut else proxy.heal())

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            for proxy in [*self._links.values(), *self._kafka.values()]:
                with contextlib.suppress(Exception):
                    self._run(proxy.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if self._toxi is not None:
            self._toxi.stop()

    def __enter__(self) -> Wan:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
