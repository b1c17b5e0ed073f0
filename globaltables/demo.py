"""``make demo``: Kafka plus three replicating regions with a small workload.

Everything runs on 127.0.0.1 and stops on Ctrl-C (or after ``--duration``).  Each
run starts from empty stores and an empty broker so that it always shows the same
story: one table made global from us-east-1, writers in every region, and now and
then the same key written in two regions at once so that last-writer-wins has
something to decide.

What a region needs to start is kept in ``DATA/config/REGION.toml`` (mode 0600; the
admin key, the secret key and the region's Kafka credentials) and passed with
``--config``, so a region's command line (``ps``) restarts it by hand as it is
(docs/regions.md#restarting-one-region-by-hand).  Those files survive the next run:
the secret key and the Kafka passwords are generated once, not per run.

The demo watches its regions: one that exits on its own (a crash, ``kill -9``) is
restarted, at most :data:`MAX_RESTARTS` times a minute with a growing pause; one
stopped on purpose (``kill``, i.e. SIGTERM, or exit code 0) is left stopped, and the
demo prints the command that starts it again.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from globaltables import kafka_broker
from globaltables.config_file import ConfigError, load_config
from globaltables.workload import CREDENTIALS, HOT_KEY, Workload, dynamodb_client

__all__ = ["MAX_RESTARTS", "REGIONS", "demo_settings", "region_config_path", "run_demo"]

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
TABLE = "Orders"
#: restarts of one region within :data:`RESTART_WINDOW_S` before the demo gives up on it
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
#: the pause before the n-th restart within the window: 0.5 s, 1 s, 2 s, 4 s, 8 s
_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
#: exit codes of a region stopped on purpose (SIGTERM and SIGINT end it cleanly, with 0)
_STOPPED_ON_PURPOSE = (0, -signal.SIGTERM, -signal.SIGINT)
#: what the config files hold; the region's own copy of these variables would win over
#: the file, so the demo's regions do not inherit them
_FILE_SETTINGS_ENV = (
    "GLOBALTABLES_ADMIN_ACCESS_KEY_ID",
    "GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY",
    "GLOBALTABLES_SECRET_KEY",
    "GLOBALTABLES_REPLICATION_KEYS",
)
CONFIG_DIR = "config"


def _say(msg: str) -> None:
    print(msg, flush=True)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"region at {url} exited; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"region at {url} did not start in {timeout}s; see {log}")


def _admin_key() -> dict[str, str]:
    """The admin key of the demo's regions: the environment's if it names one, else
    the fixed demo key (everything listens on 127.0.0.1 only)."""
    key_id = os.environ.get("GLOBALTABLES_ADMIN_ACCESS_KEY_ID")
    secret = os.environ.get("GLOBALTABLES_ADMIN_SECRET_ACCESS_KEY")
    if key_id and secret:
        return {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    return dict(CREDENTIALS)


# --------------------------------------------------------------------------- settings


def region_config_path(data: Path, region: str) -> Path:
    """The ``--config`` file of one of the demo's regions."""
    return data / CONFIG_DIR / f"{region}.toml"


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` by ``text``, readable by its owner only (0600) from the start."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)
    os.replace(tmp, path)


def demo_settings(data: Path, admin: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each region's settings, written to :func:`region_config_path` (mode 0600).

    The secret key (``GLOBALTABLES_SECRET_KEY`` if set) and each region's Kafka
    password are those of the files a previous run left, or new random ones: a store
    or a region restarted by hand keeps working with them.  The admin key is
    ``admin`` (the environment's or the demo key).
    """
    config_dir = data / CONFIG_DIR
    config_dir.mkdir(parents=True, exist_ok=True)
    config_dir.chmod(0o700)
    previous: dict[str, dict[str, str]] = {}
    for region in REGIONS:
        path = region_config_path(data, region)
        if path.exists():
            with contextlib.suppress(ConfigError):
                previous[region] = load_config(path)[0]
    secret_key = (
        os.environ.get("GLOBALTABLES_SECRET_KEY")
        or next((p["secret_key"] for p in previous.values() if p.get("secret_key")), None)
        or secrets.token_urlsafe(32)
    )
    settings: dict[str, dict[str, str]] = {}
    for region in REGIONS:
        values = {
            "admin_access_key_id": admin["aws_access_key_id"],
            "admin_secret_access_key": admin["aws_secret_access_key"],
            "secret_key": secret_key,
            "kafka_username": kafka_broker.region_principal(region),
            "kafka_password": previous.get(region, {}).get("kafka_password")
            or secrets.token_urlsafe(24),
        }
        if os.environ.get("GLOBALTABLES_REPLICATION_KEYS"):
            values["replication_keys"] = os.environ["GLOBALTABLES_REPLICATION_KEYS"]
        text = "# written by `globaltables demo`; kept across runs (docs/regions.md)\n" + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in values.items()
        )
        _write_private(region_config_path(data, region), text)
        settings[region] = values
    return settings


def _clear_data(data: Path) -> None:
    """Empty ``data`` but for the config files (the secrets a next run reuses)."""
    data.mkdir(parents=True, exist_ok=True)
    for entry in data.iterdir():
        if entry.name == CONFIG_DIR:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


# --------------------------------------------------------------------------- supervision


@dataclass
class _Region:
    name: str
    url: str
    cmd: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    #: "running", "restarting" (waiting out the pause), "stopped" (on purpose or
    #: taken over by hand) or "given up"
    state: str = "running"
    last_code: int | None = None
    restart_at: float = 0.0
    restarts: collections.deque[float] = field(default_factory=collections.deque)
    #: restarted, not yet answering /healthz
    coming_back: bool = False

    def hand_command(self) -> str:
        return f"{shlex.join(self.cmd)} >> {shlex.quote(str(self.log))} 2>&1 &"


def _region_name_at(url: str) -> str | None:
    """The name the region at ``url`` gives on /healthz, or None if nothing answers."""
    try:
        response = httpx.get(f"{url}/healthz", timeout=0.5)
        name = response.json().get("region") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


class _Supervisor:
    """Restarts a region process that exits on its own, and reaps every one."""

    def __init__(self, regions: dict[str, _Region], stop: threading.Event) -> None:
        self.regions = regions
        self._stop = stop
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="demo-supervisor", daemon=True)

    def spawn(self, region: _Region) -> None:
        with open(region.log, "ab") as log:
            region.proc = subprocess.Popen(
                region.cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=region.env,
                # its own process group: Ctrl-C reaches the demo, which stops the
                # regions itself, not the regions directly (that would look like crashes)
                start_new_session=True,
            )
        region.state = "running"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=10)

    def describe(self, name: str) -> str | None:
        """What the status line says of a region that does not answer."""
        with self._lock:
            region = self.regions[name]
            if region.state == "running":
                return "restarted, starting up" if region.coming_back else None
            return f"{region.state} (exited with code {region.last_code})"

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                for region in self.regions.values():
                    self._check(region)

    def _check(self, region: _Region) -> None:
        now = time.monotonic()
        if region.state == "running" and region.proc is not None:
            code = region.proc.poll()  # reaps it: no zombie
            if code is None:
                if region.coming_back and _region_name_at(region.url) == region.name:
                    region.coming_back = False
                    _say(f"{region.name} is serving again at {region.url}")
                return
            region.last_code = code
            region.coming_back = False
            if code in _STOPPED_ON_PURPOSE:
                region.state = "stopped"
                _say(
                    f"{region.name} exited (code {code}): stopped on purpose, not restarting it; "
                    f"to start it again by hand:\n  {region.hand_command()}"
                )
                return
            while region.restarts and now - region.restarts[0] > RESTART_WINDOW_S:
                region.restarts.popleft()
            if len(region.restarts) >= MAX_RESTARTS:
                region.state = "given up"
                _say(
                    f"{region.name} exited (code {code}); not restarting it, it was restarted "
                    f"{MAX_RESTARTS} times in the last {RESTART_WINDOW_S:.0f}s (see {region.log}); "
                    f"to start it by hand:\n  {region.hand_command()}"
                )
                return
            region.state = "restarting"
            region.restart_at = now + _BACKOFF_S[min(len(region.restarts), len(_BACKOFF_S) - 1)]
            return
        if region.state == "restarting" and now >= region.restart_at:
            if _region_name_at(region.url) == region.name:
                region.state = "stopped"
                _say(
                    f"{region.name} exited (code {region.last_code}); not restarting it: "
                    f"{region.url} already serves {region.name} (started by hand?)"
                )
                return
            region.restarts.append(now)
            with open(region.log, "ab") as log:
                log.write(
                    f"\n--- globaltables demo: exited with code {region.last_code}; "
                    "restarting ---\n".encode()
                )
            self.spawn(region)
            region.coming_back = True
            pid = region.proc.pid if region.proc is not None else "?"
            _say(
                f"{region.name} exited (code {region.last_code}); restarted (pid {pid}, "
                f"restart {len(region.restarts)} of at most {MAX_RESTARTS} a minute)"
            )

    def terminate_all(self) -> None:
        procs = [r.proc for r in self.regions.values() if r.proc is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


# --------------------------------------------------------------------------- the demo


def run_demo(data: Path, kafka_port: int, base_port: int, duration: int, rate: float) -> int:
    data = data.resolve()
    kafka_dir = data / "kafka"
    if kafka_broker.status(kafka_dir) is not None:
        kafka_broker.stop(kafka_dir)
    _clear_data(data)
    admin = _admin_key()
    settings = demo_settings(data, admin)

    # ensure_jars() says so itself when it really fetches the jars (the first run only)
    _say("globaltables demo: starting the Kafka broker ...")
    kafka_broker.ensure_jars()
    broker = kafka_broker.start(kafka_dir, port=kafka_port)
    # SASL/SCRAM and ACLs: each region signs in as its own principal, which may write
    # only its own change topic (docs/security.md)
    kafka_broker.grant_regions(
        broker.bootstrap, broker.security, {r: settings[r]["kafka_password"] for r in REGIONS}
    )
    _say(
        f"  kafka          {broker.bootstrap}   (SASL/SCRAM-SHA-512 with ACLs; admin password "
        f"in {kafka_broker.admin_password_file(kafka_dir)})"
    )

    urls = {r: f"http://127.0.0.1:{base_port + i}" for i, r in enumerate(REGIONS)}
    stop = threading.Event()
    # the admin key, the secret key and the Kafka credentials come from --config (the
    # same for every region: docs/security.md), so the command line alone restarts one
    region_env = {
        k: v
        for k, v in os.environ.items()
        if k not in _FILE_SETTINGS_ENV and not k.startswith("GLOBALTABLES_KAFKA")
    }
    regions: dict[str, _Region] = {}
    for i, name in enumerate(REGIONS):
        cmd = [
            sys.executable, "-m", "globaltables.cli", "region",
            "--name", name, "--port", str(base_port + i),
            "--config", str(region_config_path(data, name)),
            "--store", f"sqlite:///{data / (name + '.db')}",
            "--kafka", broker.bootstrap,
        ]
        for peer in REGIONS:
            if peer != name:
                cmd += ["--peer", f"{peer}={urls[peer]}"]
        regions[name] = _Region(name, urls[name], cmd, region_env, data / f"{name}.log")
    supervisor = _Supervisor(regions, stop)
    workload = Workload(urls, table=TABLE, rate=rate, credentials=admin)

    def _shutdown(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _shutdown)
    signal.signal(signal.SIGTERM, _shutdown)
    try:
        for region in regions.values():
            supervisor.spawn(region)
        for region in regions.values():
            assert region.proc is not None
            _wait_healthy(region.url, region.proc, region.log)
            _say(f"  {region.name:<14} {region.url}   (log: {region.log})")
        supervisor.start()
        key_id, secret = admin["aws_access_key_id"], admin["aws_secret_access_key"]
        _say(
            f"  credentials    AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret}"
            "   (the regions' admin key: every request is SigV4-signed)"
        )
        _say(
            f"  settings       {data / CONFIG_DIR}/REGION.toml (mode 0600, kept for the next "
            "run): each region's --config"
        )

        workload.ensure_table()
        _say(f"\ntable {TABLE!r} created in {REGIONS[0]} and replicated to {', '.join(REGIONS[1:])}")
        _say(
            "\nTry it (another terminal): the Python example of README.md (\"Use it\")\n"
            f"  health and lag:  curl {urls[REGIONS[0]]}/healthz\n"
            f"  metrics:         curl {urls[REGIONS[0]]}/metrics\n"
            f"  REST API docs:   {urls[REGIONS[0]]}/docs\n"
            f"  users and keys:  export AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret}\n"
            "                   globaltables users create alice --policy POLICY.json "
            f"--endpoint {urls[REGIONS[0]]}\n"
            f"                   globaltables keys create alice --endpoint {urls[REGIONS[0]]}\n"
            "  a region that crashes (or is killed with -9) is restarted; one stopped with\n"
            "  `kill PID` stays stopped (docs/regions.md: restarting one region by hand)\n"
            "\nWriting in every region (and now and then the same key in two regions at once,\n"
            "so last-writer-wins has conflicts to settle); Ctrl-C stops everything.\n"
        )
        _say(f"dashboard: {urls[REGIONS[0]]}/dashboard\n")
        workload.start()

        started = time.monotonic()
        clients = {r: dynamodb_client(urls[r], r, admin) for r in REGIONS}
        while not stop.is_set():
            stop.wait(3.0)
            if stop.is_set():
                break
            counts = []
            for region_name in REGIONS:
                try:
                    client = clients[region_name]
                    count = client.describe_table(TableName=TABLE)["Table"]["ItemCount"]
                    health = httpx.get(f"{urls[region_name]}/healthz", timeout=2).json()
                    lag = health["replication"]["lag"]
                    worst = max((v["last_ms"] for v in lag.values()), default=0.0)
                    hot = client.get_item(TableName=TABLE, Key={"id": {"S": HOT_KEY}})
                    winner = hot.get("Item", {}).get("writer", {}).get("S", "-")
                    counts.append(
                        f"{region_name}: {count:>5} items, lag {worst:>6.0f} ms, hot-key by {winner}"
                    )
                except Exception as exc:
                    why = supervisor.describe(region_name) or f"unavailable ({exc.__class__.__name__})"
                    counts.append(f"{region_name}: {why}")
            _say(f"[{time.monotonic() - started:6.0f}s] " + " | ".join(counts))
            if duration and time.monotonic() - started >= duration:
                break
        return 0
    except RuntimeError as exc:
        _say(f"demo failed: {exc}")
        return 1
    finally:
        _say("\nstopping writers, regions and Kafka ...")
        supervisor.stop()
        workload.stop()
        supervisor.terminate_all()
        kafka_broker.stop(kafka_dir)
        _say("stopped.")
