"""A real S3-compatible server on 127.0.0.1 for development and the tests: the Versity
S3 Gateway (versitygw, github.com/versity/versitygw) over a directory.

Built from source through the Go module proxy with the local Go toolchain, at one
pinned version, into ``.tools/bin`` of the checkout (never committed, never a
downloaded release binary): ``make s3-tools`` or :func:`build`.  Its ``posix``
backend keeps each bucket as a directory and each object as a file below it, so the
data survives restarts; metadata goes to a sidecar directory, so any file system
works (no extended attributes needed).  Requests are SigV4-authenticated against one
root key pair, path-style (``http://127.0.0.1:PORT/bucket/key``).

Why versitygw (issue #19, docs/regions.md "Backups in S3"): a real, separate server
process with persistent storage that builds from a cold Go cache in about two minutes
on two cores (SeaweedFS, the other candidate, pulls several times the dependencies).

:class:`LocalS3` starts and stops one server; ``globaltables s3 start|stop`` runs one
detached (globaltables/cli_s3.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from globaltables.go_tools import GoBuildFailed, GoProgram, tools_dir
from globaltables.wan.ports import free_port
from regions.s3_settings import S3Settings

__all__ = [
    "MODULE",
    "VERSION",
    "LocalS3",
    "S3Unavailable",
    "binary",
    "build",
    "default_data_dir",
    "ensure",
    "tools_dir",
]

#: the pinned release, fetched as a Go module (proxy.golang.org), built here
VERSION = "v1.8.0"
MODULE = "github.com/versity/versitygw/cmd/versitygw"
_REPO = Path(__file__).resolve().parents[1]
#: the key pair of a server started without one (local use only: 127.0.0.1)
_ACCESS_KEY = "globaltables-local"


class S3Unavailable(GoBuildFailed):
    """No versitygw binary and none can be built here, or the server did not start."""


#: how this checkout builds the server (``make s3-tools``)
PROGRAM = GoProgram(MODULE, VERSION, "versitygw", "versitygw", "s3-tools", "1.25", S3Unavailable)
#: the binary's path, and the binary built first if it is not there
binary = PROGRAM.binary
build = PROGRAM.build


def ensure(timeout: float = 900.0) -> Path:
    """The binary, built first if missing (the tests' and the CLI's entry point)."""
    return build(timeout)


def default_data_dir() -> Path:
    """``<repo>/.data/s3`` in a checkout (git-ignored); else ``$XDG_DATA_HOME``
    (default ``~/.local/share``) ``/globaltables/s3``."""
    if (_REPO / "pyproject.toml").is_file():
        return _REPO / ".data" / "s3"
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "globaltables" / "s3"


@dataclass
class LocalS3:
    """One versitygw process serving ``workdir/data`` on 127.0.0.1.

    The secret is ``secret_key``, else the one saved in ``workdir/secret`` (mode
    0600) at the first start, so a restarted server keeps its key pair."""

    workdir: Path
    port: int | None = None
    access_key: str = _ACCESS_KEY
    secret_key: str | None = None
    region: str = "us-east-1"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, bucket: str | None = None) -> S3Settings:
        """What a region (or :class:`~regions.protection.s3_objects.S3Objects`) needs."""
        assert self.secret_key is not None, "start() first"
        return S3Settings(
            endpoint_url=self.endpoint_url,
            region=self.region,
            access_key_id=self.access_key,
            secret_access_key=self.secret_key,
            bucket=bucket,
        )

    def _secret(self) -> str:
        if self.secret_key is not None:
            return self.secret_key
        path = self.workdir / "secret"
        if path.is_file():
            return path.read_text().strip()
        secret = secrets.token_urlsafe(30)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        return secret

    def start(self, timeout: float = 30.0, *, detach: bool = False) -> LocalS3:
        """Start the server and wait until it answers HTTP; ``detach``: it outlives
        this process (``globaltables s3 start``; :meth:`stop_pid` ends it)."""
        exe = binary()
        if not exe.is_file():
            raise S3Unavailable(f"{exe} is missing: run `make s3-tools`")
        self.workdir.mkdir(parents=True, exist_ok=True)
        data, meta = self.workdir / "data", self.workdir / "meta"
        data.mkdir(exist_ok=True)
        meta.mkdir(exist_ok=True)
        self.secret_key = self._secret()
        if self.port is None:
            self.port = free_port()
        log = open(self.workdir / "versitygw.log", "ab")  # noqa: SIM115 - owned by the child
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("VGW_", "ROOT_"))},
            # the key pair in the environment, not on the command line (ps shows that)
            "ROOT_ACCESS_KEY_ID": self.access_key,
            "ROOT_SECRET_ACCESS_KEY": self.secret_key,
        }
        self.proc = subprocess.Popen(
            [
                str(exe),
                "--port",
                f"127.0.0.1:{self.port}",
                "--region",
                self.region,
                "--quiet",
                "posix",
                "--sidecar",
                str(meta),
                str(data),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C in the caller's terminal is ours to handle
        )
        log.close()
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as http:
            while True:
                if self.proc.poll() is not None:
                    raise S3Unavailable(f"versitygw exited: {self._log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    # any S3 answer (403 to an unsigned request) means it serves
                    if http.get(self.endpoint_url + "/").status_code in (200, 403):
                        break
                if time.monotonic() > deadline:
                    self.stop()
                    raise S3Unavailable(f"versitygw not answering: {self._log_tail()}")
                time.sleep(0.05)
        if detach:
            (self.workdir / "server.json").write_text(
                json.dumps({"pid": self.proc.pid, "port": self.port, "access_key": self.access_key})
            )
        return self

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "versitygw.log").read_text(errors="replace")[-1500:]
        return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    # -- a detached server (globaltables s3 start/stop) ----------------------

    @classmethod
    def running(cls, workdir: Path) -> LocalS3 | None:
        """The detached server of ``workdir`` if it is still running."""
        try:
            state = json.loads((workdir / "server.json").read_text())
            pid = int(state["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not _alive(pid, binary().name):
            return None
        server = cls(workdir, port=int(state["port"]), access_key=str(state["access_key"]))
        server.secret_key = server._secret()
        return server

    @staticmethod
    def stop_pid(workdir: Path, timeout: float = 10.0) -> bool:
        """Stop the detached server of ``workdir``; False if none was running."""
        try:
            pid = int(json.loads((workdir / "server.json").read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        with contextlib.suppress(OSError):
            (workdir / "server.json").unlink()
        if not _alive(pid, binary().name):
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid, binary().name):
                return True
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        return True


def _alive(pid: int, name: str) -> bool:
    """Is ``pid`` a running process of ``name`` (not a recycled pid)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return name.encode() in cmdline
