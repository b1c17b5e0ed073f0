"""Start and stop a throwaway local PostgreSQL cluster for tests and development.

There is no Docker engine on our CI machines, so the PostgreSQL backend is tested
against a private cluster built from the distribution's server binaries
(``apt-get install -y postgresql``).  Each cluster lives entirely inside one data
directory, listens on 127.0.0.1 only and trusts a single superuser, so tests
never touch (or depend on) the Debian-managed ``main`` cluster.

``initdb``/``postgres``/``pg_ctl`` refuse to run as root; when we are root the
server is run as the ``postgres`` OS user (created by the Debian package) and
the data directory is handed over to it.

Command line::

    python -m globaltables.postgres_local start --port 55432 --data .pg   # prints the URL
    python -m globaltables.postgres_local stop --data .pg
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "DEFAULT_DATABASE",
    "SUPERUSER",
    "PgCluster",
    "PostgresError",
    "PostgresNotFoundError",
    "find_bin_dir",
    "start",
    "start_on_a_free_port",
    "stop",
]

# The cluster's only role.  Deliberately not the OS user: the URL then reads the
# same whether the server runs as `postgres` (we are root) or as a developer.
SUPERUSER = "globaltables"
DEFAULT_DATABASE = "globaltables"

# The OS account Debian's package creates; the server runs as it when we are root.
_OS_USER = "postgres"
_DEBIAN_BIN_ROOT = Path("/usr/lib/postgresql")
# Written into the data dir on every start (port may change between starts) and
# pulled in by one `include` line appended to postgresql.conf at initdb time.
_CONF_NAME = "globaltables.conf"
_LOG_NAME = "server.log"
# Linux sun_path is 108 bytes including the trailing NUL.
_MAX_SOCKET_PATH = 107
# Restricted so the name is safe unquoted in a URL; SQL still quotes it with %I.
_DB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, postgres, pg_ctl) were not found. "
    "Install them with `apt-get install -y postgresql` (Debian/Ubuntu), "
    "or point GLOBALTABLES_PG_BIN at a directory containing initdb."
)


class PostgresError(RuntimeError):
    """A local cluster could not be initialised, started, stopped or reached."""


class PostgresNotFoundError(PostgresError):
    """No PostgreSQL server binaries are installed."""


@dataclass(frozen=True)
class PgCluster:
    """A running local cluster.

    ``url`` is in SQLAlchemy async form: ``postgresql+asyncpg://USER@127.0.0.1:PORT/DB``.
    """

    url: str
    port: int
    data_dir: Path
    database: str = DEFAULT_DATABASE

    def store_url(self, *, unix_socket: bool = True) -> str:
        """The cluster as a region's ``--store`` URL: over the cluster's Unix socket
        when it has one (``unix_socket``), else over TCP to 127.0.0.1.

        Why the socket: a round trip over it costs the client about half the CPU of
        one over loopback TCP (no TCP stack on either side; docs/benchmarks.md, "The
        region reaches a PostgreSQL on its host over the Unix socket"), and a region
        sends several per write.  A database on another host is reached over TCP.
        """
        socket_file = self.data_dir / f".s.PGSQL.{self.port}"
        if unix_socket and socket_file.exists():
            return (
                f"postgresql://{SUPERUSER}@/{self.database}"
                f"?host={quote(str(self.data_dir), safe='/')}&port={self.port}"
            )
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{self.database}"


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    # Directory names are versions ("15", "9.6"); compare numerically so 16 > 9.6.
    try:
        return tuple(int(part) for part in bin_dir.parent.name.split("."))
    except ValueError:
        return (-1,)


def _has_server(bin_dir: Path) -> bool:
    # Debian's pg_config (libpq-dev) reports a bindir even when only the client is
    # installed, so insist on the server tools we actually run.
    return all((bin_dir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))


def find_bin_dir() -> Path:
    """Return the directory holding the newest PostgreSQL server binaries.

    Order: ``$GLOBALTABLES_PG_BIN``, newest ``/usr/lib/postgresql/*/bin``,
    ``pg_config --bindir``, then ``initdb`` on ``$PATH`` (e.g. Homebrew).
    Raises PostgresNotFoundError with an install hint if none has ``initdb``.
    """
    override = os.environ.get("GLOBALTABLES_PG_BIN")
    if override:
        path = Path(override)
        if _has_server(path):
            return path
        raise PostgresNotFoundError(f"GLOBALTABLES_PG_BIN={override} has no initdb/pg_ctl/postgres")

    for bin_dir in sorted(_DEBIAN_BIN_ROOT.glob("*/bin"), key=_version_key, reverse=True):
        if _has_server(bin_dir):
            return bin_dir

    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and _has_server(Path(out)):
            return Path(out)

    initdb = shutil.which("initdb")
    if initdb and _has_server(Path(initdb).resolve().parent):
        return Path(initdb).resolve().parent

    raise PostgresNotFoundError(_INSTALL_HINT)


@dataclass(frozen=True)
class _RunAs:
    """Who runs the server tools: ourselves, or (when root) an unprivileged account."""

    uid: int | None
    gid: int | None
    home: str | None
    name: str | None

    @property
    def switches(self) -> bool:
        return self.uid is not None


_SELF = _RunAs(None, None, None, None)


def _is_root() -> bool:
    return os.geteuid() == 0


def _account(name: str) -> _RunAs:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PostgresError(
            f"running as root, but there is no {name!r} OS user to run PostgreSQL as "
            "(the Debian `postgresql` package creates it: `apt-get install -y postgresql`)"
        ) from None
    return _RunAs(entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_name)


def _runner_for_existing(data_dir: Path) -> _RunAs:
    """Whoever owns an existing data dir must run pg_ctl on it (PostgreSQL checks)."""
    if not _is_root():
        return _SELF
    owner = data_dir.stat().st_uid
    if owner == 0:
        return _account(_OS_USER)
    try:
        entry = pwd.getpwuid(owner)
    except KeyError:
        return _account(_OS_USER)
    return _RunAs(entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_name)


def _env(run_as: _RunAs) -> dict[str, str]:
    # PG* variables from the caller's shell (PGHOST, PGDATABASE, PGOPTIONS, ...)
    # would silently redirect or reconfigure our tools; the cluster must be hermetic.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    # Keeps tool messages stable/parsable and avoids "locale not found" warnings;
    # the cluster's own locale is fixed by `initdb --locale=C`.
    env["LC_ALL"] = "C"
    if run_as.switches:
        assert run_as.home is not None and run_as.name is not None
        env.update(HOME=run_as.home, USER=run_as.name, LOGNAME=run_as.name)
    return env


def _run(
    cmd: Sequence[str | Path],
    run_as: _RunAs = _SELF,
    *,
    timeout: float,
    stdin: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    args = [str(c) for c in cmd]
    try:
        result = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            env=_env(run_as),
            # The caller's cwd (e.g. /root) may be unreadable by the postgres user,
            # which makes initdb/pg_ctl emit confusing errors.
            cwd="/",
            timeout=max(timeout, 1.0),
            check=False,
            # subprocess drops privileges itself (no dependency on runuser/sudo);
            # extra_groups=[] sheds root's supplementary groups too.
            user=run_as.uid,
            group=run_as.gid,
            extra_groups=[] if run_as.switches else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise PostgresError(f"timed out after {timeout:.0f}s: {' '.join(args)}") from exc
    if check and result.returncode != 0:
        raise PostgresError(
            f"command failed (exit {result.returncode}): {' '.join(args)}\n"
            f"{result.stdout}{result.stderr}".rstrip()
        )
    return result


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _settings(data_dir: Path, port: int) -> str:
    socket_file = data_dir / f".s.PGSQL.{port}"
    # Long data-dir paths cannot hold a Unix socket; everything we do goes over
    # TCP to 127.0.0.1, so the socket is only a convenience and can be dropped.
    socket_dir = str(data_dir) if len(str(socket_file)) <= _MAX_SOCKET_PATH else ""
    lines = [
        "# Managed by globaltables.postgres_local; rewritten on every start.",
        # Never reachable from the network: trust auth is only safe on loopback.
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        # Keep the socket private to this cluster instead of /var/run/postgresql,
        # which may not exist or may belong to the system cluster.
        f"unix_socket_directories = {_conf_quote(socket_dir)}",
        # The replication tests check durability claims, so no fsync shortcuts.
        "fsync = on",
        "synchronous_commit = on",
        "full_page_writes = on",
        # Many throwaway clusters may share a small CI machine (and /dev/shm).
        "shared_buffers = 32MB",
        "max_connections = 100",
        "log_min_messages = warning",
        "log_line_prefix = '%m [%p] %d '",
    ]
    return "\n".join(lines) + "\n"


def _hba() -> str:
    # Only the test superuser, only over loopback (plus this cluster's own socket).
    return (
        "# Managed by globaltables.postgres_local.\n"
        f"local all {SUPERUSER} trust\n"
        f"host  all {SUPERUSER} 127.0.0.1/32 trust\n"
    )


def _write_owned(path: Path, text: str, run_as: _RunAs) -> None:
    path.write_text(text, encoding="utf-8")
    if run_as.switches:
        assert run_as.uid is not None and run_as.gid is not None
        os.chown(path, run_as.uid, run_as.gid)
    path.chmod(0o600)


def _initdb(bin_dir: Path, data_dir: Path, run_as: _RunAs, timeout: float) -> None:
    _run(
        [
            bin_dir / "initdb",
            "-D",
            data_dir,
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        run_as,
        timeout=timeout,
    )
    _write_owned(data_dir / "pg_hba.conf", _hba(), run_as)
    conf = data_dir / "postgresql.conf"
    with conf.open("a", encoding="utf-8") as fh:
        fh.write("\n# globaltables.postgres_local settings (port changes per start)\n")
        fh.write(f"include {_conf_quote(_CONF_NAME)}\n")


def _prepare_dir(data_dir: Path, run_as: _RunAs, timeout: float) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if not run_as.switches:
        return
    assert run_as.uid is not None and run_as.gid is not None
    os.chown(data_dir, run_as.uid, run_as.gid)
    # Owning the dir is not enough: every parent must be traversable by the
    # postgres user (pytest's /tmp/pytest-of-root is 0700, for instance).
    probe = _run(
        ["test", "-w", data_dir, "-a", "-x", data_dir], run_as, timeout=timeout, check=False
    )
    if probe.returncode != 0:
        raise PostgresError(
            f"the {run_as.name!r} OS user cannot use {data_dir}: a parent directory is not "
            "traversable by it. Use a directory under /tmp (e.g. tempfile.mkdtemp())."
        )


def _running_port(bin_dir: Path, data_dir: Path, run_as: _RunAs, timeout: float) -> int | None:
    """Port of the server already running on data_dir, or None if it is not running."""
    status = _run(
        [bin_dir / "pg_ctl", "status", "-D", data_dir], run_as, timeout=timeout, check=False
    )
    if status.returncode != 0:
        return None
    try:
        # postmaster.pid line 4 is the port (documented layout since 9.1).
        return int((data_dir / "postmaster.pid").read_text(encoding="utf-8").splitlines()[3])
    except (OSError, IndexError, ValueError):
        return None


def _log_tail(data_dir: Path, lines: int = 30) -> str:
    try:
        text = (data_dir / _LOG_NAME).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n--- server.log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])


def _matching_bin_dir(data_dir: Path) -> Path:
    # A data dir can only be served by the major version that created it; prefer
    # that version's binaries when several are installed side by side.
    version_file = data_dir / "PG_VERSION"
    if version_file.is_file():
        major = version_file.read_text(encoding="utf-8").strip()
        candidate = _DEBIAN_BIN_ROOT / major / "bin"
        if _has_server(candidate):
            return candidate
    return find_bin_dir()


def _url(port: int, database: str) -> str:
    return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{port}/{database}"


def start(
    data_dir: Path,
    port: int,
    database: str = DEFAULT_DATABASE,
    timeout: float = 60,
) -> PgCluster:
    """Initialise (once), start and wait for a cluster in data_dir on 127.0.0.1:port.

    Idempotent: if the cluster is already running on ``port`` it is reused.
    Creates ``database`` if missing.  Raises PostgresNotFoundError if no server
    binaries are installed and PostgresError on any other failure.
    """
    if not _DB_NAME_RE.match(database):
        raise ValueError(f"database name must match {_DB_NAME_RE.pattern}: {database!r}")
    if not 1 <= port <= 65535:
        raise ValueError(f"invalid port {port}")
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PostgresError(f"PostgreSQL in {data_dir} not ready within {timeout:.0f}s")
        return left

    data_dir = data_dir.absolute()
    initialised = (data_dir / "PG_VERSION").is_file()
    bin_dir = _matching_bin_dir(data_dir) if initialised else find_bin_dir()

    if initialised:
        run_as = _runner_for_existing(data_dir)
    else:
        if data_dir.exists() and any(data_dir.iterdir()):
            # Never initdb over somebody's files.
            raise PostgresError(f"{data_dir} is not empty and is not a PostgreSQL data directory")
        run_as = _account(_OS_USER) if _is_root() else _SELF
        _prepare_dir(data_dir, run_as, remaining())
        _initdb(bin_dir, data_dir, run_as, remaining())

    current = _running_port(bin_dir, data_dir, run_as, remaining())
    if current is not None and current != port:
        raise PostgresError(
            f"cluster in {data_dir} is already running on port {current}, not {port}"
        )
    if current is None:
        _write_owned(data_dir / _CONF_NAME, _settings(data_dir, port), run_as)
        started = _run(
            [
                bin_dir / "pg_ctl",
                "start",
                "-D",
                data_dir,
                # -l is also what keeps the daemon from inheriting our stdout/stderr
                # pipes, which would make subprocess.run wait for it forever.
                "-l",
                data_dir / _LOG_NAME,
                "-w",
                "-t",
                str(max(1, int(remaining()))),
            ],
            run_as,
            timeout=remaining(),
            check=False,
        )
        if started.returncode != 0:
            raise PostgresError(
                f"pg_ctl start failed for {data_dir} on port {port} "
                f"(port in use?):\n{started.stdout}{started.stderr}{_log_tail(data_dir)}".rstrip()
            )

    _wait_ready(bin_dir, port, deadline, data_dir)
    _ensure_database(bin_dir, port, database, remaining())
    return PgCluster(url=_url(port, database), port=port, data_dir=data_dir, database=database)


def _wait_ready(bin_dir: Path, port: int, deadline: float, data_dir: Path) -> None:
    # pg_ctl -w only proves the postmaster wrote "ready" to its pid file; we want
    # to know that a TCP client on 127.0.0.1 (what the tests use) gets in.
    while True:
        left = deadline - time.monotonic()
        probe = _run(
            [
                bin_dir / "pg_isready",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-t",
                "2",
            ],
            timeout=max(left, 3.0),
            check=False,
        )
        if probe.returncode == 0:
            return
        if left <= 0:
            raise PostgresError(
                f"PostgreSQL on 127.0.0.1:{port} did not accept connections in time"
                f"{_log_tail(data_dir)}"
            )
        time.sleep(0.1)


def _ensure_database(bin_dir: Path, port: int, database: str, timeout: float) -> None:
    # psql only interpolates :'var' in script input, so the SQL goes via stdin;
    # \gexec runs CREATE DATABASE (which cannot be parameterised) only if missing.
    script = (
        "SELECT format('CREATE DATABASE %I', :'db') "
        "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec\n"
    )
    _run(
        [
            bin_dir / "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            f"db={database}",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
        ],
        timeout=timeout,
        stdin=script,
    )


def start_on_a_free_port(data_dir: Path, attempts: int = 3) -> PgCluster:
    """:func:`start` on a port free when asked; another one if it was taken before
    the server bound it (``attempts`` in all).  Raises the last PostgresError."""
    from globaltables.wan.ports import free_port

    last: PostgresError | None = None
    for _ in range(attempts):
        try:
            return start(data_dir, free_port())
        except PostgresNotFoundError:
            raise
        except PostgresError as exc:
            last = exc  # most likely the port was grabbed in between
    assert last is not None
    raise last


def stop(data_dir: Path) -> None:
    """Stop the cluster in data_dir (``pg_ctl stop -m fast``); no-op if not running."""
    data_dir = data_dir.absolute()
    if not (data_dir / "PG_VERSION").is_file():
        return
    bin_dir = _matching_bin_dir(data_dir)
    run_as = _runner_for_existing(data_dir)
    if _running_port(bin_dir, data_dir, run_as, 30) is None:
        return
    _run(
        [bin_dir / "pg_ctl", "stop", "-D", data_dir, "-m", "fast", "-w", "-t", "60"],
        run_as,
        timeout=90,
    )


if __name__ == "__main__":
    import click

    @click.group(help="Start/stop a throwaway local PostgreSQL cluster (127.0.0.1 only).")
    def cli() -> None:
        pass

    @cli.command("start", help="Initialise (once) and start a cluster; print its SQLAlchemy URL.")
    @click.option("--port", type=click.IntRange(1, 65535), default=55432, show_default=True)
    @click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(".pg"),
        show_default=True,
        help="Data directory (created and initialised if missing).",
    )
    @click.option("--database", default=DEFAULT_DATABASE, show_default=True)
    @click.option("--timeout", type=float, default=60.0, show_default=True)
    def start_cmd(port: int, data_dir: Path, database: str, timeout: float) -> None:
        try:
            cluster = start(data_dir, port, database=database, timeout=timeout)
        except (PostgresError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
        # Only the URL on stdout so `URL=$(python -m ... start)` works.
        click.echo(cluster.url)

    @cli.command("stop", help="Stop the cluster in --data (fast shutdown); no-op if not running.")
    @click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(".pg"),
        show_default=True,
    )
    def stop_cmd(data_dir: Path) -> None:
        try:
            stop(data_dir)
        except PostgresError as exc:
            raise click.ClickException(str(exc)) from exc

    cli()
