"""The servers a benchmark runs against, each a real OS process on 127.0.0.1.

* ``gt-sqlite`` / ``gt-pg``: a globaltables region started as a user starts one
  (``globaltables region --name ... --port ... --store ...``), SQLite with
  ``--sqlite-synchronous FULL`` (an fsync per commit) or a throwaway local PostgreSQL
  (``fsync = on``, ``synchronous_commit = on``, from :mod:`globaltables.postgres_local`).
* ``moto``: moto's standalone server (PyPI ``moto[server]``), in memory.
* ``dynalite-mem`` / ``dynalite-disk``: dynalite (npm) in memory, or on LevelDB with
  ``--path``.  dynalite writes through LevelDB without ``sync``: nothing is fsynced, so its
  on-disk numbers are not those of a durable store.
* ``trivial``: :mod:`bench.trivial`, for the load generator's own ceiling.
* ``asgi-floor``: :mod:`bench.asgi_floor`, uvicorn as a region runs it with an
  application that answers ``{}``: the fastest any Python server on uvicorn can be.

Every server can tell which processes do its work (:meth:`Server.processes`), so the harness
can charge CPU time to it: for ``gt-pg`` that is the region *and* the PostgreSQL cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx

from bench import procstat
from bench.sigv4 import BENCH_ACCESS_KEY, BENCH_SECRET_KEY

__all__ = [
    "DURABILITY",
    "EXTRA_SERVER_NAMES",
    "GT_SERVERS",
    "SERVER_NAMES",
    "STORELESS",
    "Server",
    "ServerUnavailable",
    "dynalite_cli",
    "free_port",
    "make_server",
    "region_cmd",
    "region_env",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SERVER_NAMES = ("moto", "dynalite-mem", "dynalite-disk", "gt-sqlite", "gt-sqlite-w2", "gt-pg")
#: a region served by two processes (``globaltables region --workers 2``): the same
#: store and durability, one core per process (docs/regions.md, "Worker processes")
WORKER_SUFFIX = "-w2"
#: globaltables servers that exist but are not in the standard set (time: < 10 min)
EXTRA_SERVER_NAMES = ("gt-pg-w2", "gt-pg-tcp")
#: gt-pg reaches its cluster (on this host) over the cluster's Unix socket, as a region
#: on the database's host would; gt-pg-tcp over loopback TCP, as from another host
TCP_SUFFIX = "-tcp"
#: the globaltables servers among them (ratios to the peers, the targets table)
GT_SERVERS = ("gt-sqlite", "gt-sqlite-w2", "gt-pg", "gt-pg-w2", "gt-pg-tcp")
#: what each server promises about an acknowledged write; printed next to its numbers
DURABILITY = {
    "moto": "memory only",
    "dynalite-mem": "memory only",
    "dynalite-disk": "LevelDB on disk, no fsync",
    "gt-sqlite": "SQLite WAL, synchronous=FULL (fsync per commit)",
    "gt-pg": "PostgreSQL, fsync=on, synchronous_commit=on",
    "gt-sqlite-w2": "SQLite WAL, synchronous=FULL (fsync per commit)",
    "gt-pg-w2": "PostgreSQL, fsync=on, synchronous_commit=on",
    "gt-pg-tcp": "PostgreSQL, fsync=on, synchronous_commit=on",
    "trivial": "none (answers {})",
    "asgi-floor": "none (uvicorn answering {})",
}
#: reference servers that store nothing (no preload, no ratios)
STORELESS = ("trivial", "asgi-floor")


class ServerUnavailable(RuntimeError):
    """The server's software is not installed here (the harness skips it and says why)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dynalite_cli() -> Path:
    """``cli.js`` of dynalite as installed by ``npm ci --prefix bench``."""
    override = os.environ.get("GLOBALTABLES_BENCH_DYNALITE")
    path = Path(override) if override else BENCH_DIR / "node_modules" / "dynalite" / "cli.js"
    if not path.is_file():
        raise ServerUnavailable(f"dynalite is not installed ({path}); run `npm ci --prefix bench`")
    if shutil.which("node") is None:
        raise ServerUnavailable("node is not installed")
    return path


def _globaltables_cmd() -> list[str]:
    # the console script a user runs; `python -m` only when the venv has no script
    script = Path(sys.executable).parent / "globaltables"
    return [str(script)] if script.exists() else [sys.executable, "-m", "globaltables.cli"]


@dataclass
class Server:
    """One server process (plus, for gt-pg, its PostgreSQL cluster)."""

    name: str
    cmd: list[str]
    port: int
    workdir: Path
    region: str = "us-east-1"
    health_path: str = "/"
    version: str = ""
    env: dict[str, str] = field(default_factory=dict)
    #: processes besides our child that do the server's work (PostgreSQL)
    extra_pids: list[int] = field(default_factory=list)
    #: run after the process stopped (stop PostgreSQL, remove its data)
    cleanup: list[tuple[str, object]] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def durability(self) -> str:
        return DURABILITY.get(self.name, "")

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self, timeout: float = 60.0) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                # own session: a Ctrl-C in the terminal reaches the harness, which stops us
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                # any HTTP answer means it listens (moto answers GET / with 404)
                answer = httpx.get(self.url + self.health_path, timeout=1.0)
                if self._ready(answer):
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def _ready(self, answer: httpx.Response) -> bool:
        """A region with workers (gt-*-w2) is ready once every worker serves too."""
        if not self.name.endswith(WORKER_SUFFIX):
            return True
        workers = answer.json().get("workers") or []
        return bool(workers) and all(w.get("ready") for w in workers)

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def processes(self) -> list[int]:
        """The pids doing this server's work, children included."""
        roots = ([self.proc.pid] if self.proc is not None else []) + self.extra_pids
        return [pid for root in roots for pid in procstat.tree(root)]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        for what, arg in reversed(self.cleanup):
            with contextlib.suppress(Exception):
                if what == "pg-stop":
                    from globaltables import postgres_local

                    postgres_local.stop(Path(str(arg)))
                elif what == "rmtree":
                    shutil.rmtree(str(arg), ignore_errors=True)
        self.cleanup.clear()


def region_env() -> dict[str, str]:
    """The region's bootstrap admin key, the way docs/regions.md tells users to pass it (the
    variables, not the command line), so that the load generator's signed requests verify.
    A region without authentication ignores them."""
    return {
        "GLOBALTABLES_ADMIN_ACCESS_KEY_ID": BENCH_ACCESS_KEY,
        "GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY": BENCH_SECRET_KEY,
        # the key that signs change records on Kafka (the bench's regions have no secret key)
        "GLOBALTABLES_REPLICATION_KEYS": "globaltables-bench-replication-key",
    }


def region_cmd(name: str, port: int, store: str, extra: list[str] | None = None) -> list[str]:
    return [
        *_globaltables_cmd(),
        "region",
        "--name", name,
        "--port", str(port),
        "--store", store,
        "--sqlite-synchronous", "FULL",
        "--log-level", "WARNING",
        *(extra or []),
    ]


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pg_version(data_dir: Path) -> str:
    try:
        return "PostgreSQL " + (data_dir / "PG_VERSION").read_text().strip()
    except OSError:
        return "PostgreSQL"


def _git_rev() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def make_server(name: str, workdir: Path) -> Server:
    """A not yet started server of kind ``name``; raises :class:`ServerUnavailable`."""
    port = free_port()
    if name in STORELESS:
        module = "bench." + name.replace("-", "_")
        return Server(name, [sys.executable, "-m", module, "--port", str(port)], port, workdir)
    if name == "moto":
        # metadata, not an import: moto is optional (the bench extra), so mypy must not need it
        try:
            version = metadata.version("moto")
        except metadata.PackageNotFoundError:
            raise ServerUnavailable("moto is not installed: pip install 'moto[server]'") from None
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        return Server(name, cmd, port, workdir, version=f"moto {version}")
    if name in ("dynalite-mem", "dynalite-disk"):
        cli = dynalite_cli()
        pkg = json.loads((cli.parent / "package.json").read_text())
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
        cmd = [
            "node", str(cli), "--host", "127.0.0.1", "--port", str(port),
            # no artificial CREATING/DELETING delays: we measure items, not table changes
            "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0",
        ]
        server = Server(name, cmd, port, workdir, version=f"dynalite {pkg['version']} (node {node.stdout.strip()})")
        if name == "dynalite-disk":
            path = workdir / "dynalite-leveldb"
            shutil.rmtree(path, ignore_errors=True)
            cmd += ["--path", str(path)]
            server.cleanup.append(("rmtree", path))
        return server
    workers: list[str] = []
    shown = ""
    if name.endswith(WORKER_SUFFIX):
        workers = ["--workers", "2"]
        shown = ", 2 processes"
    base = name.removesuffix(WORKER_SUFFIX)
    over_tcp = base.endswith(TCP_SUFFIX)
    base = base.removesuffix(TCP_SUFFIX)
    if base == "gt-sqlite":
        db = workdir / name / "us-east-1.db"
        shutil.rmtree(db.parent, ignore_errors=True)
        db.parent.mkdir(parents=True)
        server = Server(
            name,
            region_cmd("us-east-1", port, f"sqlite:///{db}", workers),
            port,
            workdir,
            health_path="/healthz",
            version=f"globaltables {_git_rev()} (SQLite{shown})",
            env=region_env(),
        )
        server.cleanup.append(("rmtree", db.parent))
        return server
    if base == "gt-pg":
        from globaltables import postgres_local

        try:
            postgres_local.find_bin_dir()
        except postgres_local.PostgresNotFoundError as exc:
            raise ServerUnavailable(str(exc)) from None
        # under the system temp dir: when we are root the cluster runs as `postgres`, which
        # must reach the directory (and short paths keep the socket under 107 bytes)
        data = Path(tempfile.mkdtemp(prefix="gt-bench-pg-"))
        try:
            cluster = postgres_local.start_on_a_free_port(data)
        except postgres_local.PostgresError:
            shutil.rmtree(data, ignore_errors=True)
            raise ServerUnavailable("could not start a local PostgreSQL cluster") from None
        store = cluster.store_url(unix_socket=not over_tcp)
        shown += ", over TCP" if over_tcp else ", over its Unix socket"
        server = Server(
            name,
            region_cmd("us-east-1", port, store, workers),
            port,
            workdir,
            health_path="/healthz",
            version=f"globaltables {_git_rev()} ({_pg_version(data)}{shown})",
            env=region_env(),
        )
        pid = _postmaster_pid(data)
        if pid is not None:
            server.extra_pids.append(pid)
        server.cleanup += [("rmtree", data), ("pg-stop", data)]
        return server
    raise ValueError(
        f"unknown server {name!r}; one of "
        f"{', '.join((*SERVER_NAMES, *EXTRA_SERVER_NAMES, *STORELESS))}"
    )
