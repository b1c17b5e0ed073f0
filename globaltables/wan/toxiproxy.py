"""Toxiproxy (github.com/Shopify/toxiproxy) as the WAN injector of the HTTP links.

Built from source through the Go module proxy with the local Go toolchain, at one
pinned version, into ``.tools/bin`` of the checkout (never committed, never a
downloaded release binary): ``make wan-tools`` or :func:`build`.  The server is
started by :class:`ToxiproxyServer`, its API and every proxy on 127.0.0.1, and driven
through its HTTP API (README "HTTP API": ``POST /proxies``, ``POST
/proxies/{proxy}/toxics``, ``POST /proxies/{proxy}`` to enable or disable).

What a link gets:

* latency: one ``latency`` toxic per direction (``upstream`` is the client's data,
  ``downstream`` the answers), each half the pair's round trip, ``jitter`` ±10 % of
  that (Toxiproxy draws a uniform ±jitter per chunk);
* a cut: the proxy is disabled (every open connection closes), a ``timeout`` toxic
  with timeout 0 is added (its documented meaning: the data is dropped and the
  connection stays open until the toxic is removed), and the proxy is enabled again,
  so connections opened during the cut are accepted and go nowhere, as with the
  chaos suite's own proxy.  Healing disables the proxy (closing those), removes the
  toxic and enables it.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from globaltables.go_tools import GoBuildFailed, GoProgram, tools_dir
from globaltables.wan.ports import free_port

__all__ = [
    "MODULE",
    "VERSION",
    "ToxiproxyServer",
    "ToxiproxyUnavailable",
    "binary",
    "build",
    "tools_dir",
]

#: the pinned release, fetched as a Go module (proxy.golang.org), built here
VERSION = "v2.12.0"
MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"


class ToxiproxyUnavailable(GoBuildFailed):
    """No Toxiproxy binary and none can be built here (no Go toolchain, no network)."""


#: how this checkout builds it (``make wan-tools``)
PROGRAM = GoProgram(MODULE, VERSION, "server", "toxiproxy-server", "wan-tools", "1.22", ToxiproxyUnavailable)
#: the binary's path, and the binary built first if it is not there
binary = PROGRAM.binary
build = PROGRAM.build


class ToxiproxyServer:
    """One ``toxiproxy-server`` process on 127.0.0.1 and a client of its API."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ToxiproxyServer:
        exe = binary()
        if not exe.is_file():
            raise ToxiproxyUnavailable(f"{exe} is missing: run `make wan-tools`")
        if self.port is None:
            self.port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "toxiproxy.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [str(exe), "-host", "127.0.0.1", "-port", str(self.port), "-seed", "18"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the caller's terminal is ours to handle
        )
        log.close()
        self._http = httpx.Client(base_url=self.api, timeout=10.0)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ToxiproxyUnavailable(f"toxiproxy-server exited: {self._log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if self._http.get("/version").status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise ToxiproxyUnavailable(f"toxiproxy-server not answering: {self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "toxiproxy.log").read_text(errors="replace")[-1500:]
        return ""

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    # ------------------------------------------------------------------ API

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self._http is not None, "toxiproxy-server is not started"
        resp = self._http.request(method, path, json=body)
        if resp.status_code >= 400:
            raise RuntimeError(f"toxiproxy {method} {path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    def create_proxy(self, name: str, upstream_port: int) -> int:
        """A proxy on a free 127.0.0.1 port to ``upstream_port``; returns its port."""
        doc = self._call(
            "POST",
            "/proxies",
            {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream_port}"},
        )
        return int(str(doc["listen"]).rsplit(":", 1)[1])

    def _toxics(self, proxy: str) -> set[str]:
        return {str(t["name"]) for t in self._call("GET", f"/proxies/{proxy}/toxics") or []}

    def set_latency(self, proxy: str, up_ms: float, down_ms: float, jitter: float) -> None:
        """Half the round trip on each direction (0: no toxic)."""
        have = self._toxics(proxy)
        for stream, ms in (("upstream", up_ms), ("downstream", down_ms)):
            name = f"wan_{stream}"
            attrs = {"latency": round(ms), "jitter": round(ms * jitter)}
            if ms <= 0:
                if name in have:
                    self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
            elif name in have:
                self._call("POST", f"/proxies/{proxy}/toxics/{name}", {"attributes": attrs})
            else:
                self._call(
                    "POST",
                    f"/proxies/{proxy}/toxics",
                    {"name": name, "type": "latency", "stream": stream, "attributes": attrs},
                )

    def _enable(self, proxy: str, enabled: bool) -> None:
        self._call("POST", f"/proxies/{proxy}", {"enabled": enabled})

    def cut(self, proxy: str) -> None:
        if "wan_cut" in self._toxics(proxy):
            return
        self._enable(proxy, False)
        self._call(
            "POST",
            f"/proxies/{proxy}/toxics",
            {
                "name": "wan_cut",
                "type": "timeout",
                "stream": "upstream",
                "attributes": {"timeout": 0},
            },
        )
        self._enable(proxy, True)

    def heal(self, proxy: str) -> None:
        if "wan_cut" not in self._toxics(proxy):
            return
        self._enable(proxy, False)
        self._call("DELETE", f"/proxies/{proxy}/toxics/wan_cut")
        self._enable(proxy, True)
