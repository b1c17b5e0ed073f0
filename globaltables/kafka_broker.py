"""Run a real single-node Apache Kafka broker (KRaft, no ZooKeeper) from Maven Central jars.

Why this module exists: the replication tests and the demo must run against real Apache Kafka
(idempotent producer, consumer groups, committed offsets, data that survives a restart), but
our machines have no Docker engine and reach only package registries. No registry ships the
Kafka release tarball, so we let Maven fetch the broker's runtime classpath once
(``globaltables/kafka/pom.xml``) and start ``java -cp "<lib>/*" kafka.Kafka server.properties``
as a detached background process. Everything a broker needs lives in one data directory:

    <data_dir>/server.properties   rendered from kafka/server.properties.tmpl
    <data_dir>/kraft/              Kafka's log and metadata (formatted once, kept on restart)
    <data_dir>/broker.log          the JVM's stdout/stderr (broker.log.1: the previous run)
    <data_dir>/broker.json         pid, ports and bootstrap address of the last start
    <data_dir>/admin.password      the admin (super user) password, mode 0600

so several brokers can run side by side as long as each has its own directory and ports.
A three-broker cluster (:func:`start_cluster`, ``kafka start --brokers 3``) is a data
directory holding ``cluster.json`` (node ids and ports), ``admin.password`` and one such
broker directory per node, ``broker-1/`` to ``broker-3/``.
POSIX only (process groups, ``fcntl`` locks, ``/proc`` or ``ps``).

Security (docs/security.md, "Kafka: authentication and ACLs"): by default the client
listener speaks SASL_PLAINTEXT with SCRAM-SHA-512 only, and KRaft's StandardAuthorizer
denies whatever no ACL allows. The super user ``User:admin`` has its SCRAM credential
written into the metadata when the storage is formatted (``--add-scram``); the broker
talks to itself as that user (inter-broker: SCRAM on the client listener; controller:
SASL/PLAIN on the loopback controller listener, whose only user is admin). Regions get
principals of their own with :func:`grant_regions` (``globaltables kafka grant``).
``secure=False`` (``kafka start --insecure-plaintext``) is the old plaintext broker
without authentication or ACLs.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from regions.kafka_security import KafkaSecurity

__all__ = [
    "ADMIN_PASSWORD_ENV",
    "ADMIN_USER",
    "CLUSTER_BROKERS",
    "CLUSTER_PROPERTIES",
    "KAFKA_VERSION",
    "BrokerInfo",
    "ClusterInfo",
    "ClusterNode",
    "KafkaBrokerError",
    "PortInUseError",
    "admin_password",
    "admin_password_file",
    "admin_security",
    "cluster_size_problem",
    "cluster_status",
    "default_data_dir",
    "ensure_jars",
    "grant_regions",
    "is_cluster",
    "jar_dir",
    "region_principal",
    "start",
    "start_broker",
    "start_cluster",
    "status",
    "stop",
    "stop_broker",
    "stop_cluster",
    "wait_ready",
]

# Must match <kafka.version> in kafka/pom.xml; ensure_jars() checks that the fetched
# kafka_2.13-<KAFKA_VERSION>.jar exists, so a mismatch fails loudly instead of running a
# different broker than the one we claim.
KAFKA_VERSION = "3.9.2"

_PKG_DIR = Path(__file__).resolve().parent
_RESOURCES = _PKG_DIR / "kafka"
_POM = _RESOURCES / "pom.xml"
_LOG4J = _RESOURCES / "log4j.properties"
_TEMPLATE = _RESOURCES / "server.properties.tmpl"
_GRANT_SOURCE = _RESOURCES / "GrantRegions.java"

_MARKER = ".globaltables-complete"
_RECORD = "broker.json"
_LOG = "broker.log"
_PROPS = "server.properties"
_PASSWORD_FILE = "admin.password"
# written next to Kafka's meta.properties once the storage is formatted: "sasl" or "plaintext"
_SECURITY_MARKER = ".globaltables-security"

#: the super user: the broker itself (inter-broker and controller connections) and the
#: operator's admin principal (``kafka grant``)
ADMIN_USER = "admin"
#: the admin password, instead of ``<data_dir>/admin.password`` (read when the storage is
#: formatted and at every start: it must stay the same for a data directory)
ADMIN_PASSWORD_ENV = "GLOBALTABLES_KAFKA_ADMIN_PASSWORD"
#: SCRAM iterations of the credentials we create (Kafka's minimum is 4096)
_SCRAM_ITERATIONS = 8192
# what may stand inside a double-quoted JAAS option value and a --add-scram argument
_SAFE_PASSWORD = re.compile(r"^[A-Za-z0-9_.~+/@%^*()!?:;-]{8,200}$")

_logger = logging.getLogger("globaltables.kafka_broker")
_MAIN_CLASS = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"
_HOST = "127.0.0.1"  # loopback only, and never "localhost" so ::1 is never tried

# Always cap the heap: without -Xmx the JVM may take a quarter of the machine's RAM. Serial GC
# because on a 2-core box the parallel/G1 collectors' extra threads compete with the broker's
# own. ExitOnOutOfMemoryError so an exhausted broker dies visibly (and start()/status() notice)
# instead of limping on.
_JVM_FLAGS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# Formatting is a short-lived JVM; it needs far less.
_TOOL_JVM_FLAGS = (
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)

_T = TypeVar("_T")

# Brokers started by this Python process. Kept so we can poll() them: a child that exits
# stays a zombie until its parent reaps it, and a zombie still "exists" for os.kill(pid, 0).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class KafkaBrokerError(RuntimeError):
    """The broker (or the tooling needed to run it: java, mvn, jars) failed."""


class PortInUseError(KafkaBrokerError):
    """A requested port on 127.0.0.1 is already taken; callers may retry with another."""


@dataclass(frozen=True)
class BrokerInfo:
    """A running broker: where clients connect, its JVM pid, its data dir and client port,
    and the admin (super user) credentials clients of this broker can use."""

    bootstrap: str
    pid: int
    data_dir: Path
    port: int
    #: admin SASL/SCRAM credentials, or plaintext for a broker started insecure
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    @property
    def secure(self) -> bool:
        return self.security.sasl


# --------------------------------------------------------------------------- locations


def _repo_root() -> Path | None:
    # A checkout has pyproject.toml next to the package dir; an installed wheel does not.
    root = _PKG_DIR.parent
    return root if (root / "pyproject.toml").is_file() else None


def jar_dir() -> Path:
    """Directory holding the broker's jars (a cache, never committed).

    ``$GLOBALTABLES_KAFKA_LIB`` if set; else ``<repo>/.kafka/lib`` in a checkout (git-ignored);
    else ``$XDG_CACHE_HOME`` (default ``~/.cache``) ``/globaltables/kafka-<version>/lib``.
    """
    override = os.environ.get("GLOBALTABLES_KAFKA_LIB")
    if override:
        return Path(override).expanduser().resolve()
    root = _repo_root()
    if root is not None:
        return root / ".kafka" / "lib"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "globaltables" / f"kafka-{KAFKA_VERSION}" / "lib"


def default_data_dir() -> Path:
    """Data dir the CLI uses when ``--data`` is not given.

    ``<repo>/.data/kafka`` in a checkout (git-ignored); else ``$XDG_DATA_HOME`` (default
    ``~/.local/share``) ``/globaltables/kafka``.
    """
    root = _repo_root()
    if root is not None:
        return root / ".data" / "kafka"
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "globaltables" / "kafka"


# --------------------------------------------------------------------------- jars


def _pom_digest() -> str:
    return hashlib.sha256(_POM.read_bytes()).hexdigest()


def _jars_complete(lib: Path) -> bool:
    # The marker is written last, inside the directory that is then renamed into place, so
    # its presence means the whole fetch succeeded. Recording the pom's digest makes an edited
    # pom (e.g. a version bump) trigger a fresh fetch instead of silently reusing old jars.
    try:
        marker = json.loads((lib / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("kafka_version") == KAFKA_VERSION
        and marker.get("pom_sha256") == _pom_digest()
        and (lib / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file()
    )


def _which(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise KafkaBrokerError(f"`{tool}` not found on PATH: {hint}")
    return path


def _java() -> str:
    # Prefer $JAVA_HOME like Kafka's own scripts do, so a user can pick the JDK explicitly.
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return _which(
        "java",
        "the Kafka broker needs a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`)",
    )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Serialises concurrent fetches/starts across processes (pytest-xdist workers, a CLI run
    # next to a test run); flock is released by the kernel even if we crash.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _say(progress: bool, message: str) -> None:
    # Progress goes to stderr so a CLI's stdout stays machine-readable.
    if progress:
        print(f"globaltables: {message}", file=sys.stderr, flush=True)


def ensure_jars(progress: bool = True) -> Path:
    """Make sure the broker's jars are in :func:`jar_dir` and return that directory.

    The first call runs ``mvn -B -q dependency:copy-dependencies -DincludeScope=runtime`` on a
    copy of ``kafka/pom.xml`` into a temp dir next to the target, then renames it into place,
    so an interrupted fetch never leaves a half-filled directory that looks usable. Later calls
    are no-ops (marker file). A ``$GLOBALTABLES_KAFKA_LIB`` that already holds
    ``kafka_2.13-*.jar`` is trusted as is (e.g. the ``libs/`` of a Kafka release tarball).
    """
    lib = jar_dir()
    if _jars_complete(lib):
        return lib
    if os.environ.get("GLOBALTABLES_KAFKA_LIB") and any(lib.glob("kafka_2.13-*.jar")):
        return lib

    mvn = _which("mvn", "fetching the Kafka jars needs Apache Maven (e.g. `apt-get install maven`)")
    _java()  # Maven itself runs on Java; fail with our message rather than Maven's

    lib.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(lib.parent / f".{lib.name}.lock"):
        if _jars_complete(lib):  # another process finished the fetch while we waited
            return lib
        _say(
            progress,
            f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central into {lib} "
            "(one-time, about 50 MB)...",
        )
        # Same parent dir as the target, so the final rename stays on one filesystem.
        work = Path(tempfile.mkdtemp(prefix=f".{lib.name}.fetch-", dir=lib.parent))
        try:
            # Work on a copy so Maven never writes (target/, etc.) into the installed package.
            pom = work / "pom.xml"
            shutil.copyfile(_POM, pom)
            out = work / "lib"
            cmd = [
                mvn,
                "-B",
                "-q",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={out}",
            ]
            started = time.monotonic()
            proc = subprocess.run(
                cmd, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                output = (proc.stdout + proc.stderr).strip().splitlines()
                raise KafkaBrokerError(
                    f"Maven could not fetch the Kafka {KAFKA_VERSION} jars (exit {proc.returncode}); "
                    "is Maven Central reachable?\n$ "
                    + " ".join(cmd)
                    + "\n"
                    + "\n".join(output[-40:])
                )
            if not (out / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
                raise KafkaBrokerError(
                    f"Maven succeeded but kafka_2.13-{KAFKA_VERSION}.jar is missing in {out}; "
                    "is KAFKA_VERSION in kafka_broker.py in sync with kafka/pom.xml?"
                )
            (out / _MARKER).write_text(
                json.dumps({"kafka_version": KAFKA_VERSION, "pom_sha256": _pom_digest()}) + "\n"
            )
            if lib.exists():
                # A stale or partial directory: move it aside (rename over a non-empty dir is
                # not allowed) and delete it with the work dir.
                lib.rename(work / "old")
            out.rename(lib)
            jars = list(lib.glob("*.jar"))
            size_mb = sum(j.stat().st_size for j in jars) / 1e6
            _say(
                progress,
                f"fetched {len(jars)} jars ({size_mb:.0f} MB) in {time.monotonic() - started:.1f}s",
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return lib


# --------------------------------------------------------------------------- processes


def _proc_cmdline(pid: int) -> list[str] | None:
    if Path("/proc/self/cmdline").exists():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    # No /proc (macOS): ps gives the joined command line, good enough for a substring check.
    out = subprocess.run(
        ["ps", "-ww", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return out.stdout.split() if out.returncode == 0 and out.stdout.strip() else None


def _pid_running(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists but belongs to someone else; _is_our_broker() rejects it
    # A zombie (dead, not yet reaped by its parent) still answers kill(0).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_our_broker(pid: int, data_dir: Path) -> bool:
    # A pid from broker.json may have been reused by an unrelated process after a reboot or
    # crash; only trust it if it is a Kafka JVM running *this* data dir's server.properties.
    if pid <= 0 or not _pid_running(pid):
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        # Launched by this process, so it is ours; and right after Popen() returns,
        # /proc/<pid>/cmdline can still read as empty while the kernel finishes the exec.
        return True
    cmdline = _proc_cmdline(pid)
    if not cmdline:
        return False
    return _MAIN_CLASS in cmdline and str(data_dir / _PROPS) in cmdline


def _read_record(data_dir: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((data_dir / _RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _write_record(data_dir: Path, record: dict[str, Any]) -> None:
    # Write-then-rename so a concurrent status() never reads a half-written file.
    tmp = data_dir / f".{_RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(data_dir / _RECORD)


def status(data_dir: Path) -> BrokerInfo | None:
    """The broker started from ``data_dir`` if its JVM is alive, else None.

    This only checks the process (alive, and it is our ``kafka.Kafka`` JVM for this data dir);
    use :func:`wait_ready` to know whether it answers requests yet.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    record = _read_record(data_dir)
    if record is None:
        return None
    try:
        pid = int(record["pid"])
        port = int(record["port"])
        bootstrap = str(record["bootstrap"])
    except (KeyError, TypeError, ValueError):
        return None
    if not _is_our_broker(pid, data_dir):
        return None
    security = KafkaSecurity.insecure()
    if record.get("sasl", False):
        # a cluster's node: the one admin password is the cluster's, one directory up
        owner = data_dir.parent if "node_id" in record else data_dir
        try:
            security = admin_security(owner)
        except KafkaBrokerError:
            pass  # the password file went away: callers see a plaintext view and fail to auth
    return BrokerInfo(bootstrap=bootstrap, pid=pid, data_dir=data_dir, port=port, security=security)


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the broker running from ``data_dir``; False if none was running.

    SIGTERM lets Kafka run its shutdown hook (controlled shutdown, flushed logs, clean
    shutdown marker so the next start skips log recovery); SIGKILL only after ``timeout``.
    """
    info = status(data_dir)
    if info is None:
        return False
    pid = info.pid
    try:
        os.kill(pid, signal.SIGTERM)
        if not _wait_exit(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            _wait_exit(pid, 10.0)
    except ProcessLookupError:
        pass  # it exited on its own between status() and kill()
    _CHILDREN.pop(pid, None)
    return True


# --------------------------------------------------------------------------- ports


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The JVM binds with SO_REUSEADDR, so a port whose old connections sit in TIME_WAIT
        # (e.g. right after restarting a broker) is usable; mimic that to avoid false alarms.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
    return True


def _free_port(exclude: set[int]) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((_HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port
    raise KafkaBrokerError("could not find a free port on 127.0.0.1")


def _choose_controller_port(port: int, requested: int | None, previous: Any) -> int:
    if requested is not None:
        if requested == port:
            raise KafkaBrokerError(f"controller port must differ from the client port {port}")
        if not _port_free(requested):
            raise PortInUseError(f"controller port {requested} on {_HOST} is already in use")
        return requested
    # Reuse the last run's controller port when possible: not required (static voters come
    # from server.properties, not the metadata log) but it keeps broker.json/logs comparable.
    if (
        isinstance(previous, int)
        and previous != port
        and 0 < previous < 65536
        and _port_free(previous)
    ):
        return previous
    return _free_port(exclude={port})


# --------------------------------------------------------------------------- readiness


def _run_sync(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    # start()/wait_ready() are blocking APIs, but may be called from code that already runs an
    # event loop (an async fixture, the service itself); asyncio.run() refuses to nest, so use
    # a private loop in a worker thread in that case.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


async def _probe(
    bootstrap: str,
    timeout: float,
    security: KafkaSecurity | None,
    want: frozenset[int] = frozenset(),
) -> None:
    # A real Kafka request (Metadata via the admin client), not just a TCP connect: the KRaft
    # broker binds its port before it has caught up with the metadata log and serves requests.
    from aiokafka.admin import AIOKafkaAdminClient  # heavy import, only needed here

    request_ms = max(1000, int(timeout * 1000))
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="globaltables-readiness-probe",
        request_timeout_ms=request_ms,
        **(security or KafkaSecurity.insecure()).client_kwargs(),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout)
        if not cluster.get("brokers"):
            raise KafkaBrokerError(f"{bootstrap} answered Metadata but lists no brokers yet")
        # KRaft lists only unfenced brokers, so a node is listed once it has registered
        # with the quorum and caught up with the metadata log
        listed = {int(broker["node_id"]) for broker in cluster["brokers"]}
        if not want <= listed:
            raise KafkaBrokerError(
                f"{bootstrap} lists brokers {sorted(listed)}, waiting for {sorted(want - listed)}"
            )
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def _addresses(bootstrap: str) -> list[tuple[str, int]]:
    addrs = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bad bootstrap address {item!r}; expected host:port")
        addrs.append((host.strip("[]"), int(port)))
    return addrs


def _tcp_open(addrs: list[tuple[str, int]], timeout: float) -> bool:
    for host, port in addrs:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


class _BrokerExited(Exception):
    pass


def _wait_ready(
    bootstrap: str,
    timeout: float,
    alive: Callable[[], bool] | None,
    security: KafkaSecurity | None = None,
    want: frozenset[int] = frozenset(),
) -> None:
    addrs = _addresses(bootstrap)
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        if alive is not None and not alive():
            raise _BrokerExited
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"Kafka at {bootstrap} not ready after {timeout:.0f}s: {last!r}")
        # Cheap TCP check first: while the JVM boots the port is closed, and letting aiokafka
        # fail to bootstrap would log a connection ERROR every attempt.
        if _tcp_open(addrs, min(1.0, remaining)):
            try:
                _run_sync(
                    functools.partial(
                        _probe, bootstrap, min(5.0, max(remaining, 1.0)), security, want
                    )
                )
                return
            except Exception as exc:  # not ready yet: connection refused/reset, timeouts
                last = exc
        else:
            last = ConnectionRefusedError(f"nothing listening at {bootstrap}")
        time.sleep(min(0.3, max(deadline - time.monotonic(), 0)))


def wait_ready(bootstrap: str, timeout: float, security: KafkaSecurity | None = None) -> None:
    """Block until the Kafka at ``bootstrap`` answers a Metadata request listing a broker.

    ``security``: the credentials to ask with (None: plaintext, unauthenticated). Raises
    TimeoutError after ``timeout`` seconds.
    """
    _wait_ready(bootstrap, timeout, alive=None, security=security)


# --------------------------------------------------------------------------- start


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _scram_jaas(password: str) -> str:
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN_USER}" password="{password}";'
    )


def _security_properties(port: int, controller_port: int, password: str | None) -> dict[str, str]:
    """Listeners and, unless ``password`` is None (insecure), SASL and the authorizer."""
    if password is None:
        return {
            "listeners": f"PLAINTEXT://{_HOST}:{port},CONTROLLER://{_HOST}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{_HOST}:{port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        }
    return {
        # CLIENT: regions, tools and the broker itself (inter-broker), SCRAM-SHA-512 only
        "listeners": f"CLIENT://{_HOST}:{port},CONTROLLER://{_HOST}:{controller_port}",
        "advertised.listeners": f"CLIENT://{_HOST}:{port}",
        "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name": "CLIENT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.client.scram-sha-512.sasl.jaas.config": _scram_jaas(password),
        # CONTROLLER: the broker half of this JVM registering with the controller half.
        # SCRAM credentials live in the metadata the controller serves, so the
        # controller listener uses PLAIN with its one user defined right here.
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{ADMIN_USER}" password="{password}" user_{ADMIN_USER}="{password}";'
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN_USER}",
    }


def _override_lines(text: str, overrides: dict[str, str]) -> str:
    """``text`` with the line of each key in ``overrides`` replaced by its new value, and
    the keys the template lacks appended: the rendered file holds every key once, so
    what a cluster node runs with reads as plainly as the single broker's file."""
    left = dict(overrides)
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line and not line.startswith("#") else None
        if key is not None and key in left:
            line = f"{key}={left.pop(key)}"
        lines.append(line)
    if left:
        lines += ["", "# cluster settings (kafka_broker.start_cluster)"]
        lines += [f"{key}={value}" for key, value in left.items()]
    return "\n".join(lines) + "\n"


def _render_properties(
    data_dir: Path,
    port: int,
    controller_port: int,
    extra: dict[str, str] | None = None,
    password: str | None = None,
    overrides: dict[str, str] | None = None,
) -> Path:
    """Write ``<data_dir>/server.properties``; ``overrides`` replace the template's own
    lines (a cluster node's id, quorum and replication settings), ``extra`` is appended."""
    # Properties-file escaping: a backslash would start an escape sequence in the value.
    backslash = "\\"
    data = str(data_dir).replace(backslash, backslash * 2)
    props = _security_properties(port, controller_port, password)
    extra = dict(extra or {})
    if password is not None:
        # Another SASL listener passed in extra (the chaos tests' proxied one) takes
        # SCRAM as the client listener does, unless extra configures it itself.
        protocols = (
            extra.get("listener.security.protocol.map") or props["listener.security.protocol.map"]
        )
        for entry in protocols.split(","):
            name, _, protocol = entry.strip().partition(":")
            if name in ("CLIENT", "CONTROLLER") or not protocol.startswith("SASL_"):
                continue
            prefix = f"listener.name.{name.lower()}."
            extra.setdefault(prefix + "sasl.enabled.mechanisms", "SCRAM-SHA-512")
            extra.setdefault(prefix + "scram-sha-512.sasl.jaas.config", _scram_jaas(password))
    block = "".join(f"{key}={value}\n" for key, value in props.items())
    text = (
        _TEMPLATE.read_text()
        .replace("@SECURITY@\n", block)
        .replace("@PORT@", str(port))
        .replace("@CONTROLLER_PORT@", str(controller_port))
        .replace("@DATA_DIR@", data)
    )
    if overrides:
        text = _override_lines(text, overrides)
    if extra:
        # appended: java.util.Properties keeps the last value of a repeated key, so an
        # override (e.g. advertised.listeners) wins over the template's line
        text += "\n# extra_properties passed to kafka_broker.start()\n"
        for key, value in extra.items():
            text += f"{key}={value.replace(backslash, backslash * 2)}\n"
    target = data_dir / _PROPS
    _write_private(target, text)  # holds the admin password
    return target


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner only (0600), also if it existed before."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)


# --------------------------------------------------------------------------- credentials


def admin_password_file(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve() / _PASSWORD_FILE


def _check_password(password: str, where: str) -> str:
    if not _SAFE_PASSWORD.match(password):
        raise KafkaBrokerError(
            f"the Kafka admin password from {where} must be 8 to 200 characters out of "
            "letters, digits and _.~+/@%^*()!?:;- (it is written into JAAS options)"
        )
    return password


def admin_password(data_dir: Path, *, create: bool = False) -> str:
    """The broker's admin (super user) password.

    ``$GLOBALTABLES_KAFKA_ADMIN_PASSWORD`` if set; else ``<data_dir>/admin.password``;
    else, with ``create``, a new random one written there with mode 0600. It must stay
    the same for the life of the data directory: the storage was formatted with it.
    """
    env = os.environ.get(ADMIN_PASSWORD_ENV)
    if env:
        return _check_password(env, f"${ADMIN_PASSWORD_ENV}")
    path = admin_password_file(data_dir)
    try:
        return _check_password(path.read_text().strip(), str(path))
    except FileNotFoundError:
        if not create:
            raise KafkaBrokerError(
                f"no Kafka admin password: {path} does not exist and "
                f"${ADMIN_PASSWORD_ENV} is not set"
            ) from None
    except OSError as exc:
        raise KafkaBrokerError(f"cannot read the Kafka admin password {path}: {exc}") from None
    password = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, password + "\n")
    return password


def admin_security(data_dir: Path) -> KafkaSecurity:
    """Admin credentials (SASL_PLAINTEXT, SCRAM-SHA-512) of the broker in ``data_dir``."""
    return KafkaSecurity.sasl_scram(ADMIN_USER, admin_password(data_dir))


def _cluster_id() -> str:
    # Kafka's own format: 16 random bytes, URL-safe base64 without padding (22 chars).
    # Like Kafka's Uuid.randomUuid(), avoid a leading "-": the StorageTool's argument parser
    # would read "-t -xyz" as an option.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _formatted_as(data_dir: Path) -> str | None:
    """ "sasl" or "plaintext" if the storage is formatted (a storage formatted before
    this marker existed counts as plaintext: it has no admin credential), else None."""
    kraft = data_dir / "kraft"
    if not (kraft / "meta.properties").is_file():
        return None
    try:
        return (kraft / _SECURITY_MARKER).read_text().strip() or "plaintext"
    except OSError:
        return "plaintext"


def _format_storage(
    java: str,
    classpath: str,
    props: Path,
    data_dir: Path,
    password: str | None,
    cluster_id: str | None = None,
) -> None:
    """Format ``data_dir/kraft`` once; every node of a cluster gets the same
    ``cluster_id`` (a single broker: a new random one)."""
    if _formatted_as(data_dir) is not None:
        return  # already formatted: keep the cluster id and every message
    scram = []
    if password is not None:
        # the super user's SCRAM credential goes into the bootstrap metadata, so the
        # broker can authenticate to itself (and the operator to it) from the first start
        scram = [
            "--add-scram",
            f"SCRAM-SHA-512=[name={ADMIN_USER},password={password},iterations={_SCRAM_ITERATIONS}]",
        ]
    cmd = [
        java,
        *_TOOL_JVM_FLAGS,
        f"-Dlog4j.configuration={_LOG4J.as_uri()}",
        "-cp",
        classpath,
        _STORAGE_TOOL,
        "format",
        "-t",
        cluster_id or _cluster_id(),
        "-c",
        str(props),
        *scram,
    ]
    proc = subprocess.run(
        cmd, cwd=data_dir, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        if password is not None:
            output = output.replace(password, "***")
        raise KafkaBrokerError(
            f"formatting Kafka storage in {data_dir / 'kraft'} failed (exit {proc.returncode}):\n"
            + output
        )
    (data_dir / "kraft" / _SECURITY_MARKER).write_text(
        ("sasl" if password is not None else "plaintext") + "\n"
    )


def start(
    data_dir: Path,
    port: int = 9092,
    controller_port: int | None = None,
    timeout: float = 120.0,
    extra_properties: dict[str, str] | None = None,
    *,
    secure: bool = True,
) -> BrokerInfo:
    """Start a broker from ``data_dir`` in the background and return once it serves requests.

    The directory is formatted on first use and reused afterwards, so a restart keeps topics,
    messages and committed offsets. The JVM runs in its own session (Ctrl-C in the caller's
    terminal does not reach it) with output in ``<data_dir>/broker.log``. If a broker from this
    data dir is already running, its info is returned (after it answers requests) and the
    ports asked for are ignored. ``controller_port=None`` picks a free port, so several brokers
    can run side by side. Raises :class:`PortInUseError` if a port is taken, and
    :class:`KafkaBrokerError` (with the tail of broker.log) if the broker dies or is not ready
    within ``timeout`` seconds, in which case it is stopped.

    ``extra_properties`` are added to (and override) ``server.properties``, e.g. a second
    listener whose advertised address is a TCP proxy the chaos tests can cut; pass them
    again on every restart, the file is rendered anew each time. With ``secure``, any
    SASL listener they add takes SCRAM-SHA-512 like the client listener.

    ``secure`` (the default): SASL/SCRAM-SHA-512 and ACLs, the admin password from
    :func:`admin_password` (created on the first start); the returned info carries the
    admin credentials. ``secure=False``: plaintext without authentication, which only a
    data directory formatted that way accepts (and the reverse).
    """
    data_dir = Path(data_dir).expanduser().resolve()
    started = time.monotonic()

    if is_cluster(data_dir):
        raise KafkaBrokerError(
            f"{data_dir} holds a multi-broker cluster: start it with start_cluster() "
            "(`globaltables kafka start --brokers 3`), or use another data directory"
        )
    existing = status(data_dir)
    if existing is not None:
        _ready_or_raise(existing, data_dir, timeout, owned=False)
        return existing

    lib = ensure_jars()
    java = _java()
    data_dir.mkdir(parents=True, exist_ok=True)

    # Held until the JVM is launched and broker.json written, so two concurrent start() calls
    # on one data dir cannot both launch a JVM; the loser sees status() and just waits.
    owned = False
    with _file_lock(data_dir / ".broker.lock"):
        existing = status(data_dir)
        if existing is None:
            owned = True
            if not _port_free(port):
                raise PortInUseError(
                    f"port {port} on {_HOST} is already in use (another Kafka broker?)"
                )
            formatted = _formatted_as(data_dir)
            wanted = "sasl" if secure else "plaintext"
            if formatted is not None and formatted != wanted:
                raise KafkaBrokerError(
                    f"the Kafka storage in {data_dir} was formatted "
                    + (
                        "with SASL/SCRAM and ACLs: start it without --insecure-plaintext"
                        if formatted == "sasl"
                        else "without authentication: start it with --insecure-plaintext, "
                        "or use a new data directory for a broker with SASL and ACLs"
                    )
                )
            password = admin_password(data_dir, create=formatted is None) if secure else None
            if not secure:
                _logger.warning(
                    "Kafka broker in %s runs WITHOUT authentication or ACLs: whoever reaches "
                    "127.0.0.1:%d can read and write every region's changes",
                    data_dir,
                    port,
                )
            previous = (_read_record(data_dir) or {}).get("controller_port")
            cport = _choose_controller_port(port, controller_port, previous)
            props = _render_properties(data_dir, port, cport, extra_properties, password)
            classpath = f"{lib}{os.sep}*"  # the JVM expands the wildcard to every jar in lib
            _format_storage(java, classpath, props, data_dir, password)
            pid = _launch(
                java, classpath, props, _JVM_FLAGS, port=port, controller_port=cport, secure=secure
            )
            existing = BrokerInfo(
                bootstrap=f"{_HOST}:{port}",
                pid=pid,
                data_dir=data_dir,
                port=port,
                security=_security_of(password),
            )

    remaining = max(timeout - (time.monotonic() - started), 1.0)
    _ready_or_raise(existing, data_dir, remaining, owned=owned)
    return existing


def _security_of(password: str | None) -> KafkaSecurity:
    if password is None:
        return KafkaSecurity.insecure()
    return KafkaSecurity.sasl_scram(ADMIN_USER, password)


def _launch(
    java: str,
    classpath: str,
    props: Path,
    jvm_flags: tuple[str, ...],
    *,
    port: int,
    controller_port: int,
    secure: bool,
    node_id: int | None = None,
) -> int:
    """Start the JVM of the broker whose server.properties is ``props`` (its data dir is
    the file's directory) without waiting for it, record it in broker.json; its pid."""
    data_dir = props.parent
    log_path = data_dir / _LOG
    if log_path.exists():
        log_path.replace(data_dir / f"{_LOG}.1")  # keep one previous run for debugging
    cmd = [
        java,
        *jvm_flags,
        f"-Dlog4j.configuration={_LOG4J.as_uri()}",
        "-cp",
        classpath,
        _MAIN_CLASS,
        str(props),
    ]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Detached: the broker must outlive a CLI invocation and must not get the
            # terminal's SIGINT; stop() ends it explicitly.
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    record: dict[str, Any] = {
        "pid": proc.pid,
        "port": port,
        "controller_port": controller_port,
        "bootstrap": f"{_HOST}:{port}",
        "kafka_version": KAFKA_VERSION,
        "sasl": secure,
        "data_dir": str(data_dir),
        "started_at": time.time(),
    }
    if node_id is not None:
        record["node_id"] = node_id
    _write_record(data_dir, record)
    return proc.pid


def _ready_or_raise(info: BrokerInfo, data_dir: Path, timeout: float, *, owned: bool) -> None:
    log_path = data_dir / _LOG
    try:
        _wait_ready(
            info.bootstrap,
            timeout,
            alive=lambda: _is_our_broker(info.pid, data_dir),
            security=info.security,
        )
    except _BrokerExited:
        child = _CHILDREN.pop(info.pid, None)
        code = f" with code {child.returncode}" if child is not None else ""
        tail = _log_tail(log_path)
        # A port grabbed by someone else between our free-port check and the JVM's bind:
        # surface it as PortInUseError so callers that picked a random port can retry.
        error = PortInUseError if "Address already in use" in tail else KafkaBrokerError
        raise error(
            f"Kafka broker (pid {info.pid}) exited{code} during start-up; "
            f"last lines of {log_path}:\n{tail}"
        ) from None
    except BaseException as exc:
        # Timed out or interrupted while starting it ourselves: don't leave a half-started JVM
        # holding the ports. A broker someone else started is left alone.
        if owned:
            stop(data_dir, timeout=10.0)
        if isinstance(exc, TimeoutError):
            what = "broker stopped" if owned else "broker left running"
            raise KafkaBrokerError(
                f"{exc}; {what}. Last lines of {log_path}:\n{_log_tail(log_path)}"
            ) from exc
        raise


# --------------------------------------------------------------------------- cluster
#
# A cluster is a data directory holding cluster.json, the admin password and one single
# broker's directory per node (broker-1/, broker-2/, broker-3/). Every node is a combined
# broker+controller JVM and a voter of one static 3-voter KRaft quorum (Kafka 3.9 docs,
# "KRaft > Process Roles / Controllers": a majority of the controllers must be alive,
# so 3 of them survive the loss of 1). The ports are chosen once and kept in
# cluster.json: the voters' addresses are in every node's server.properties, so a node
# restarted while the others run must come back on the same ports.

_CLUSTER_RECORD = "cluster.json"
_CLUSTER_LOCK = ".cluster.lock"
#: the one multi-broker size (`kafka start --brokers 3`): replication factor 3 over a
#: 3-voter quorum, which loses no data and keeps serving when any one broker dies
CLUSTER_BROKERS = 3

#: what every node of a cluster runs with besides the template: every partition on all
#: three brokers (internal topics included), and an acks=all write acknowledged only once
#: two of them hold it, so the loss of any one broker loses no acknowledged record.
CLUSTER_PROPERTIES: dict[str, str] = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    # Kafka's own defaults, written out because they set how long a dead broker stalls
    # the partitions it led: the active controller fences a broker (moving its leaderships
    # and shrinking ISRs) once it has not heard a heartbeat for the session timeout.
    # tests/integration/test_kafka_cluster.py bounds that stall.
    "broker.session.timeout.ms": "9000",
    "broker.heartbeat.interval.ms": "2000",
}

# Three JVMs share the machine: each gets a smaller heap than the single broker's.
_CLUSTER_JVM_FLAGS = tuple("-Xmx384m" if f.startswith("-Xmx") else f for f in _JVM_FLAGS)


def cluster_size_problem(brokers: int) -> str | None:
    """Why ``brokers`` is no size for a local Kafka, or None for 1 and 3."""
    if brokers in (1, CLUSTER_BROKERS):
        return None
    if brokers == 2:
        return (
            "2 brokers cannot hold replication factor 3, and a 2-voter KRaft quorum stops "
            "when either broker stops: use --brokers 1 or --brokers 3"
        )
    if brokers < 1:
        return f"--brokers {brokers} makes no sense: use --brokers 1 or --brokers 3"
    return (
        f"--brokers {brokers} is not supported: 3 brokers already hold every partition "
        "three times and survive the loss of one; use --brokers 1 or --brokers 3"
    )


@dataclass(frozen=True)
class ClusterNode:
    """One broker of a cluster: its node id, ports, data dir and JVM pid (None: down)."""

    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    pid: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"{_HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.pid is not None


@dataclass(frozen=True)
class ClusterInfo:
    """A cluster's data dir, every node (running or not) and the admin credentials."""

    data_dir: Path
    nodes: tuple[ClusterNode, ...]
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    @property
    def bootstrap(self) -> str:
        """Every broker, so a client bootstraps from whichever is up."""
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def secure(self) -> bool:
        return self.security.sasl

    @property
    def running(self) -> tuple[ClusterNode, ...]:
        return tuple(node for node in self.nodes if node.running)

    def node(self, node_id: int) -> ClusterNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KafkaBrokerError(
            f"the cluster in {self.data_dir} has no broker {node_id} "
            f"(its brokers: {', '.join(str(n.node_id) for n in self.nodes)})"
        )


def is_cluster(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds a multi-broker cluster (:func:`start_cluster`)."""
    return (Path(data_dir).expanduser().resolve() / _CLUSTER_RECORD).is_file()


def _read_cluster(data_dir: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((data_dir / _CLUSTER_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _nodes_of(data_dir: Path, record: dict[str, Any]) -> tuple[ClusterNode, ...]:
    try:
        return tuple(
            ClusterNode(
                node_id=int(n["node_id"]),
                port=int(n["port"]),
                controller_port=int(n["controller_port"]),
                data_dir=data_dir / f"broker-{int(n['node_id'])}",
            )
            for n in record["nodes"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise KafkaBrokerError(f"{data_dir / _CLUSTER_RECORD} is damaged: {exc!r}") from None


def _cluster_security(data_dir: Path, record: dict[str, Any]) -> KafkaSecurity:
    if not record.get("sasl", False):
        return KafkaSecurity.insecure()
    try:
        return admin_security(data_dir)
    except KafkaBrokerError:
        return KafkaSecurity.insecure()  # password file gone: clients fail to authenticate


def cluster_status(data_dir: Path) -> ClusterInfo | None:
    """The cluster in ``data_dir`` with each node's JVM pid (None if it is not running),
    or None if ``data_dir`` holds no cluster. Like :func:`status`, this checks processes
    only; :func:`start_cluster` is what waits for the brokers to serve."""
    data_dir = Path(data_dir).expanduser().resolve()
    record = _read_cluster(data_dir)
    if record is None:
        return None
    nodes = []
    for node in _nodes_of(data_dir, record):
        info = status(node.data_dir)
        nodes.append(
            ClusterNode(
                node.node_id,
                node.port,
                node.controller_port,
                node.data_dir,
                info.pid if info is not None else None,
            )
        )
    return ClusterInfo(data_dir, tuple(nodes), _cluster_security(data_dir, record))


def _pick_ports(given: Sequence[int] | None, count: int, taken: set[int], what: str) -> list[int]:
    if given is None:
        ports: list[int] = []
        for _ in range(count):
            ports.append(_free_port(exclude=taken | set(ports)))
        return ports
    ports = [int(p) for p in given]
    if len(ports) != count:
        raise KafkaBrokerError(f"a {count}-broker cluster needs {count} {what} ports, not {ports}")
    if len(set(ports)) != count or taken & set(ports):
        raise KafkaBrokerError(f"the {what} ports {ports} must differ from each other and {taken}")
    if not all(0 < p < 65536 for p in ports):
        raise KafkaBrokerError(f"the {what} ports {ports} must be within 1..65535")
    return ports


def _new_cluster(
    brokers: int,
    ports: Sequence[int] | None,
    controller_ports: Sequence[int] | None,
    secure: bool,
) -> dict[str, Any]:
    client = _pick_ports(ports, brokers, set(), "client")
    controller = _pick_ports(controller_ports, brokers, set(client), "controller")
    return {
        "brokers": brokers,
        "cluster_id": _cluster_id(),
        "sasl": secure,
        "kafka_version": KAFKA_VERSION,
        "nodes": [
            {"node_id": i + 1, "port": client[i], "controller_port": controller[i]}
            for i in range(brokers)
        ],
    }


def _check_cluster(
    data_dir: Path,
    record: dict[str, Any],
    brokers: int | None,
    ports: Sequence[int] | None,
    controller_ports: Sequence[int] | None,
    secure: bool | None,
) -> None:
    """Refuse a start that asks for another cluster than the one ``data_dir`` holds."""
    nodes = _nodes_of(data_dir, record)
    if brokers is not None and brokers != len(nodes):
        raise KafkaBrokerError(
            f"{data_dir} holds a {len(nodes)}-broker cluster, not {brokers}: start it with "
            f"--brokers {len(nodes)}, or use another data directory"
        )
    for given, have, what in (
        (ports, [n.port for n in nodes], "client"),
        (controller_ports, [n.controller_port for n in nodes], "controller"),
    ):
        if given is not None and [int(p) for p in given] != have:
            raise KafkaBrokerError(
                f"the cluster in {data_dir} was created with {what} ports {have}: its "
                "quorum's addresses are fixed, so start it on those (or use another data "
                "directory)"
            )
    sasl = bool(record.get("sasl", False))
    if secure is not None and secure != sasl:
        raise KafkaBrokerError(
            f"the Kafka cluster in {data_dir} was formatted "
            + (
                "with SASL/SCRAM and ACLs: start it without --insecure-plaintext"
                if sasl
                else "without authentication: start it with --insecure-plaintext, "
                "or use a new data directory for a cluster with SASL and ACLs"
            )
        )


def start_cluster(
    data_dir: Path,
    brokers: int = CLUSTER_BROKERS,
    ports: Sequence[int] | None = None,
    controller_ports: Sequence[int] | None = None,
    timeout: float = 180.0,
    extra_properties: dict[str, str] | None = None,
    *,
    secure: bool = True,
) -> ClusterInfo:
    """Start a ``brokers``-node KRaft cluster (only 3: :func:`cluster_size_problem`) from
    ``data_dir`` and return once the metadata lists every broker.

    The first start picks the ports (``ports``/``controller_ports``: one per node, None:
    free ones), formats every node with one cluster id and records the layout in
    ``cluster.json``; later starts reuse it and start only the nodes that are not running
    (keeping their topics, messages and offsets). Security as :func:`start`, one admin
    password for the whole cluster in ``<data_dir>/admin.password``. Raises
    :class:`PortInUseError` if a port is taken, :class:`KafkaBrokerError` if a node dies
    or the cluster is not ready within ``timeout`` (the nodes it started are stopped).
    """
    problem = cluster_size_problem(brokers)
    if problem is not None or brokers == 1:
        raise KafkaBrokerError(problem or "a cluster has 3 brokers; one broker is start()")
    return _start_nodes(
        Path(data_dir),
        only=None,
        timeout=timeout,
        extra_properties=extra_properties,
        create=(brokers, ports, controller_ports, secure),
    )


def start_broker(
    data_dir: Path,
    node_id: int,
    timeout: float = 120.0,
    extra_properties: dict[str, str] | None = None,
) -> ClusterInfo:
    """Start broker ``node_id`` of the cluster in ``data_dir`` again (a no-op if it runs)
    and return once the metadata lists it and every other running broker."""
    return _start_nodes(
        Path(data_dir),
        only=frozenset({node_id}),
        timeout=timeout,
        extra_properties=extra_properties,
        create=None,
    )


def _start_nodes(
    data_dir: Path,
    *,
    only: frozenset[int] | None,
    timeout: float,
    extra_properties: dict[str, str] | None,
    create: tuple[int, Sequence[int] | None, Sequence[int] | None, bool] | None,
) -> ClusterInfo:
    data_dir = data_dir.expanduser().resolve()
    started = time.monotonic()
    _refuse_single_broker(data_dir)  # again under the lock; here to leave no lock file
    lib = ensure_jars()
    java = _java()
    data_dir.mkdir(parents=True, exist_ok=True)
    launched: list[ClusterNode] = []
    created: list[ClusterNode] = []  # the nodes of a cluster this call created
    try:
        # Held until every JVM is launched, so two starts cannot both launch a node.
        with _file_lock(data_dir / _CLUSTER_LOCK):
            todo, voters, password, cluster_id = _nodes_to_start(data_dir, only, create, created)
            classpath = f"{lib}{os.sep}*"
            props = {
                n.node_id: _render_properties(
                    _mkdir(n.data_dir),
                    n.port,
                    n.controller_port,
                    extra_properties,
                    password,
                    overrides={
                        "node.id": str(n.node_id),
                        "controller.quorum.voters": voters,
                        **CLUSTER_PROPERTIES,
                    },
                )
                for n in todo
            }
            # One StorageTool JVM per node side by side: they share only the cluster id.
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(len(todo), 1)) as pool:
                formats = [
                    pool.submit(
                        _format_storage,
                        java,
                        classpath,
                        props[n.node_id],
                        n.data_dir,
                        password,
                        cluster_id,
                    )
                    for n in todo
                ]
                for done in formats:
                    done.result()
            for n in todo:
                pid = _launch(
                    java,
                    classpath,
                    props[n.node_id],
                    _CLUSTER_JVM_FLAGS,
                    port=n.port,
                    controller_port=n.controller_port,
                    secure=password is not None,
                    node_id=n.node_id,
                )
                launched.append(ClusterNode(n.node_id, n.port, n.controller_port, n.data_dir, pid))
        info = cluster_status(data_dir)
        if info is None:
            raise KafkaBrokerError(f"{data_dir / _CLUSTER_RECORD} disappeared")
        _wait_cluster(info, launched, max(timeout - (time.monotonic() - started), 1.0))
    except BaseException:
        # not started, not ready or interrupted: leave no JVM of ours holding the ports,
        # and no half-made cluster whose ports a retry could not change
        for n in launched:
            stop(n.data_dir, timeout=10.0)
        if created:
            (data_dir / _CLUSTER_RECORD).unlink(missing_ok=True)
            for n in created:
                shutil.rmtree(n.data_dir, ignore_errors=True)
        raise
    final = cluster_status(data_dir)
    if final is None:
        raise KafkaBrokerError(f"{data_dir / _CLUSTER_RECORD} disappeared")
    return final


def _refuse_single_broker(data_dir: Path) -> None:
    if _formatted_as(data_dir) is not None or (data_dir / _RECORD).exists():
        raise KafkaBrokerError(
            f"{data_dir} holds a single broker: start it without --brokers, or use "
            "another data directory for a cluster"
        )


def _nodes_to_start(
    data_dir: Path,
    only: frozenset[int] | None,
    create: tuple[int, Sequence[int] | None, Sequence[int] | None, bool] | None,
    created: list[ClusterNode],
) -> tuple[list[ClusterNode], str, str | None, str]:
    """Under the cluster lock: the layout (made and recorded if new, then listed in
    ``created``); the nodes to launch (asked for and not running), the quorum's voters,
    the admin password (None: plaintext) and the cluster id."""
    _refuse_single_broker(data_dir)
    record = _read_cluster(data_dir)
    if record is None:
        if create is None:
            raise KafkaBrokerError(f"no Kafka cluster in {data_dir}")
        record = _new_cluster(*create)
        tmp = data_dir / f".{_CLUSTER_RECORD}.tmp"
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(data_dir / _CLUSTER_RECORD)
        created.extend(_nodes_of(data_dir, record))
    elif create is not None:
        _check_cluster(data_dir, record, *create)
    nodes = _nodes_of(data_dir, record)
    known = {n.node_id for n in nodes}
    if only is not None and not only <= known:
        raise KafkaBrokerError(
            f"the cluster in {data_dir} has no broker {sorted(only - known)} "
            f"(its brokers: {sorted(known)})"
        )
    todo = [n for n in nodes if (only is None or n.node_id in only) and status(n.data_dir) is None]
    for n in todo:
        for port in (n.port, n.controller_port):
            if not _port_free(port):
                raise PortInUseError(
                    f"port {port} of broker {n.node_id} on {_HOST} is already in use"
                )
    password = admin_password(data_dir, create=True) if record.get("sasl") else None
    if password is None and todo:
        _logger.warning(
            "Kafka cluster in %s runs WITHOUT authentication or ACLs: whoever reaches "
            "127.0.0.1:%s can read and write every region's changes",
            data_dir,
            ",".join(str(n.port) for n in todo),
        )
    voters = ",".join(f"{n.node_id}@{_HOST}:{n.controller_port}" for n in nodes)
    return todo, voters, password, str(record["cluster_id"])


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _wait_cluster(info: ClusterInfo, launched: list[ClusterNode], timeout: float) -> None:
    """Wait until the metadata lists every running node of ``info``."""
    dead: list[ClusterNode] = []

    def alive() -> bool:
        for n in launched:
            if n.pid is None or not _is_our_broker(n.pid, n.data_dir):
                dead.append(n)
                return False
        return True

    running = info.running
    want = frozenset(n.node_id for n in running)
    bootstrap = ",".join(n.bootstrap for n in running)
    try:
        _wait_ready(bootstrap, timeout, alive, info.security, want)
    except _BrokerExited:
        node = dead[0]
        child = _CHILDREN.pop(node.pid or 0, None)
        code = f" with code {child.returncode}" if child is not None else ""
        tail = _log_tail(node.data_dir / _LOG)
        error = PortInUseError if "Address already in use" in tail else KafkaBrokerError
        raise error(
            f"Kafka broker {node.node_id} (pid {node.pid}) exited{code} during start-up; "
            f"last lines of {node.data_dir / _LOG}:\n{tail}"
        ) from None
    except TimeoutError as exc:
        tails = "\n".join(
            f"--- broker {n.node_id}: {n.data_dir / _LOG}\n{_log_tail(n.data_dir / _LOG, 15)}"
            for n in running
        )
        raise KafkaBrokerError(f"{exc}; brokers stopped.\n{tails}") from exc


def stop_broker(data_dir: Path, node_id: int, *, kill: bool = False, timeout: float = 30.0) -> bool:
    """Stop broker ``node_id`` of the cluster in ``data_dir``; False if it was not running.

    ``kill``: SIGKILL at once (a crash: no controlled shutdown, no flushed log), the way
    the failover test loses a broker; else SIGTERM as :func:`stop`.
    """
    info = cluster_status(data_dir)
    if info is None:
        raise KafkaBrokerError(f"no Kafka cluster in {data_dir}")
    node = info.node(node_id)
    if not kill:
        return stop(node.data_dir, timeout=timeout)
    if node.pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(node.pid, signal.SIGKILL)
        _wait_exit(node.pid, 10.0)
    _CHILDREN.pop(node.pid, None)
    return True


def stop_cluster(data_dir: Path, timeout: float = 30.0) -> list[int]:
    """Stop every running broker of the cluster in ``data_dir`` (data is kept); the node
    ids stopped, [] if none ran.

    All get SIGTERM at once: stopped one after the other, the last ones would lose the
    quorum their controlled shutdown asks and sit out the whole ``timeout``.
    """
    info = cluster_status(data_dir)
    if info is None:
        return []
    running = info.running
    for node in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(node.pid or 0, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for node in running:
        pid = node.pid or 0
        if not _wait_exit(pid, max(deadline - time.monotonic(), 0.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                _wait_exit(pid, 10.0)
        _CHILDREN.pop(pid, None)
    return [node.node_id for node in running]


# --------------------------------------------------------------------------- regions

_REGION_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def region_principal(region: str) -> str:
    """The SCRAM user of a region: ``region-<name>`` (principal ``User:region-<name>``)."""
    return f"region-{region}"


def _admin_client_config(bootstrap: str, admin: KafkaSecurity) -> dict[str, str]:
    config = {
        "bootstrap.servers": bootstrap,
        "security.protocol": admin.protocol,
        "request.timeout.ms": "30000",
        "default.api.timeout.ms": "60000",
    }
    if admin.sasl:
        module = (
            "org.apache.kafka.common.security.plain.PlainLoginModule"
            if admin.mechanism == "PLAIN"
            else "org.apache.kafka.common.security.scram.ScramLoginModule"
        )
        for value in (admin.username or "", admin.password or ""):
            if any(c in value for c in '"\\\t\n'):
                raise KafkaBrokerError(
                    "the admin credentials cannot hold quotes, backslashes or tabs"
                )
        config["sasl.mechanism"] = admin.mechanism
        config["sasl.jaas.config"] = (
            f'{module} required username="{admin.username}" password="{admin.password}";'
        )
    if admin.ca_file is not None:
        config["ssl.truststore.type"] = "PEM"
        config["ssl.truststore.location"] = str(Path(admin.ca_file).expanduser().resolve())
    return config


def grant_regions(
    bootstrap: str,
    admin: KafkaSecurity,
    passwords: dict[str, str],
    timeout: float = 120.0,
) -> None:
    """Create (or reset) the SCRAM user ``region-<name>`` of each region with its password,
    and the ACLs that let it write only its own change topic (the table in
    ``kafka/GrantRegions.java`` and docs/security.md), in one JVM run through Kafka's
    Admin API. ``admin``: a super user's credentials (:func:`admin_security`)."""
    if not passwords:
        raise ValueError("no region to grant")
    for region, password in passwords.items():
        if not _REGION_NAME.match(region):
            raise ValueError(f"region name must be lowercase letters, digits and '-': {region!r}")
        if not password or any(c in password for c in "\t\r\n"):
            raise ValueError(f"the Kafka password of {region} must be non-empty, without tabs")
    lib = ensure_jars()
    java = _java()
    lines = [f"config\t{k}\t{v}" for k, v in _admin_client_config(bootstrap, admin).items()]
    lines += [f"region\t{region}\t{password}" for region, password in passwords.items()]
    cmd = [
        java,
        *_TOOL_JVM_FLAGS,
        f"-Dlog4j.configuration={_LOG4J.as_uri()}",
        "-cp",
        f"{lib}{os.sep}*",
        str(_GRANT_SOURCE),
    ]
    try:
        proc = subprocess.run(
            cmd,
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise KafkaBrokerError(
            f"granting Kafka access to {', '.join(passwords)} at {bootstrap} timed out "
            f"after {timeout:.0f}s"
        ) from None
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        for secret in [admin.password, *passwords.values()]:
            if secret:
                output = output.replace(secret, "***")
        hint = ""
        if "jdk.compiler" in output or "compiler" in output.lower():
            hint = "\n(running GrantRegions.java needs a JDK, e.g. openjdk-17-jdk-headless)"
        raise KafkaBrokerError(
            f"granting Kafka access to {', '.join(passwords)} at {bootstrap} failed "
            f"(exit {proc.returncode}):\n{output[-3000:]}{hint}"
        )
