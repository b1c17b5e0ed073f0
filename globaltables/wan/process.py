"""The WAN injector in a process of its own, driven over a pipe.

The Python proxies move every replicated byte; in the benchmark's or the chaos
suite's own process they would compete with its load generator for the GIL and
blur both measurements.  :class:`WanProcess` starts ``python -m globaltables.wan``,
sends it the spec (regions, profile, backend, the ports behind every link) as one
JSON line on stdin, reads back the ports it listens on, then sends one JSON command
per line (``{"call": "cut", "args": ["us-east-1", "eu-west-1"]}``) and waits for
``{"ok": ...}`` or ``{"error": "..."}``.  The child exits when its stdin closes, so
it never outlives its parent by more than its own shutdown.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from globaltables.wan.network import Backend, Wan, broker_properties
from globaltables.wan.topology import LAN, WanProfile

__all__ = ["WanError", "WanProcess", "serve"]

#: the calls a parent may make, each a method of :class:`Wan`
_CALLS = frozenset({"cut", "heal", "isolate", "rejoin", "kafka_cut", "kafka_heal", "set_profile"})


class WanError(RuntimeError):
    """The WAN process refused a call or died."""


class WanProcess:
    def __init__(
        self,
        regions: Iterable[str],
        api_ports: Mapping[str, int],
        kafka_listener_ports: Mapping[str, int] | None = None,
        profile: WanProfile = LAN,
        *,
        backend: Backend = "python",
        seed: int | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.regions = tuple(regions)
        self.backend = backend
        self.profile = profile
        self._spec = {
            "regions": list(self.regions),
            "api_ports": dict(api_ports),
            "kafka_listener_ports": dict(kafka_listener_ports or {}),
            "profile": profile.to_json(),
            "backend": backend,
            "seed": seed,
            "workdir": str(workdir) if workdir else None,
        }
        self.workdir = workdir
        self.proc: subprocess.Popen[str] | None = None
        self._peers: dict[tuple[str, str], int] = {}
        self._kafka: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def start(self, timeout: float = 60.0) -> WanProcess:
        log: IO[str] | int = subprocess.DEVNULL
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            log = open(self.workdir / "wan.log", "a")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "globaltables.wan"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the parent, which closes us
        )
        if not isinstance(log, int):
            log.close()
        try:
            ports = self._send(self._spec, timeout)
        except WanError:
            self.close()
            raise
        self._peers = {(s, d): int(p) for s, d, p in ports["peers"]}
        self._kafka = {r: (int(a), int(b)) for r, (a, b) in ports["kafka"].items()}
        return self

    def _send(self, doc: Mapping[str, Any], timeout: float = 60.0) -> Any:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise WanError("the WAN process is not running")
        with self._lock:
            try:
                proc.stdin.write(json.dumps(doc) + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise WanError(f"the WAN process is gone ({exc})") from None
            line = _readline(proc.stdout, timeout)
        if not line:
            if proc.poll() is None:
                raise WanError(f"the WAN process did not answer within {timeout:.0f} s")
            raise WanError(f"the WAN process exited (status {proc.returncode})")
        reply = json.loads(line)
        if "error" in reply:
            raise WanError(str(reply["error"]))
        return reply.get("ok")

    def _call(self, name: str, *args: Any) -> None:
        self._send({"call": name, "args": list(args)})

    # ------------------------------------------------------------------ WanControl

    def peer_url(self, src: str, dst: str) -> str:
        return f"http://127.0.0.1:{self._peers[(src, dst)]}"

    def peers_of(self, src: str) -> dict[str, str]:
        return {d: self.peer_url(src, d) for d in self.regions if d != src}

    def kafka_address(self, region: str) -> str:
        return f"127.0.0.1:{self._kafka[region][1]}"

    def broker_properties(
        self, client_port: int, controller_port: int, protocol: str = "SASL_PLAINTEXT"
    ) -> dict[str, str]:
        return broker_properties(self._kafka, client_port, controller_port, protocol)

    def kafka_cut(self, region: str) -> None:
        self._call("kafka_cut", region)

    def kafka_heal(self, region: str) -> None:
        self._call("kafka_heal", region)

    def set_profile(self, profile: WanProfile) -> None:
        self._send({"call": "set_profile", "args": [profile.to_json()]})
        self.profile = profile

    def cut(self, a: str, b: str) -> None:
        self._call("cut", a, b)

    def heal(self, a: str, b: str) -> None:
        self._call("heal", a, b)

    def isolate(self, region: str) -> None:
        self._call("isolate", region)

    def rejoin(self, region: str) -> None:
        self._call("rejoin", region)

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> WanProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _readline(stream: IO[str], timeout: float) -> str:
    """One line from the child, or "" if none came within ``timeout`` seconds."""
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return out[0] if out else ""


def serve(stdin: IO[str], stdout: IO[str]) -> int:
    """The child's side: build the WAN from the first line, then answer calls until
    stdin closes."""
    spec = json.loads(stdin.readline() or "{}")
    if not spec:
        return 0
    workdir = spec.get("workdir")
    wan = Wan(
        spec["regions"],
        WanProfile.from_json(spec["profile"]),
        backend=spec["backend"],
        seed=spec.get("seed"),
        workdir=Path(workdir) if workdir else None,
    )

    def reply(doc: Mapping[str, Any]) -> None:
        stdout.write(json.dumps(doc) + "\n")
        stdout.flush()

    try:
        wan.start()
        if spec["api_ports"]:
            wan.add_peer_links({k: int(v) for k, v in spec["api_ports"].items()})
        if spec["kafka_listener_ports"]:
            wan.add_kafka_paths({k: int(v) for k, v in spec["kafka_listener_ports"].items()})
        reply({"ok": wan.ports()})
        for line in stdin:
            cmd = json.loads(line)
            name, args = cmd.get("call"), list(cmd.get("args") or [])
            if name not in _CALLS:
                reply({"error": f"no such call: {name!r}"})
                continue
            if name == "set_profile":
                args = [WanProfile.from_json(args[0])]
            try:
                getattr(wan, name)(*args)
            except Exception as exc:  # the parent decides; the WAN keeps running
                reply({"error": f"{name}{tuple(args)}: {exc.__class__.__name__}: {exc}"})
                continue
            reply({"ok": None})
    except Exception as exc:
        reply({"error": f"{exc.__class__.__name__}: {exc}"})
        return 1
    finally:
        wan.close()
    return 0
