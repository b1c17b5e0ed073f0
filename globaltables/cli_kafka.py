"""``globaltables kafka ...``: run a local Apache Kafka broker for development, tests and the demo.

A click group meant to be registered into the main ``globaltables`` CLI; it also runs on its
own as ``python -m globaltables.cli_kafka``. Only the bootstrap address goes to stdout, so
scripts can do ``KAFKA_BOOTSTRAP=$(globaltables kafka start)``; progress goes to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path

import click

from globaltables import kafka_broker
from regions.kafka_security import MECHANISMS, PROTOCOLS, KafkaSecurity

_DATA_HELP = (
    "Broker data directory (Kafka log, server.properties, broker.log, broker.json). "
    "[default: <repo>/.data/kafka in a checkout, else ~/.local/share/globaltables/kafka]"
)


def _data_dir(data: Path | None) -> Path:
    return (data if data is not None else kafka_broker.default_data_dir()).expanduser().resolve()


@click.group(name="kafka")
def kafka() -> None:
    """Run a real Apache Kafka broker (KRaft) on 127.0.0.1, or a cluster of three.

    The broker's jars are fetched once from Maven Central with `mvn` (Java 17+ and Maven
    needed) and the JVMs run detached in the background, so they outlive this command. Each
    data directory holds one broker, or one 3-broker cluster (`start --brokers 3`); its
    data survives stop/start.

    Clients authenticate (SASL/SCRAM-SHA-512) and ACLs decide what each may do: `kafka
    grant` gives each region a principal that writes only its own topic (docs/security.md).
    """


@kafka.command("start")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Client (SASL_PLAINTEXT) port on 127.0.0.1; with --brokers 3 the first of three "
    "consecutive ports. [default: 9092; a cluster's own ports once it exists]",
)
@click.option(
    "--brokers",
    type=int,
    default=None,
    help="1: one broker (replication factor 1). 3: a cluster of three combined "
    "broker+controller nodes with a 3-voter KRaft quorum, replication factor 3 and "
    "min.insync.replicas=2, which loses nothing when one broker dies. [default: what the "
    "data directory holds, else 1]",
)
@click.option(
    "--data",
    "data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=_DATA_HELP,
)
@click.option(
    "--controller-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="KRaft controller port on 127.0.0.1; with --brokers 3 the first of three "
    "consecutive ports. [default: free ports picked at the first start]",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1.0),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the broker to answer requests.",
)
@click.option(
    "--insecure-plaintext",
    is_flag=True,
    help="No authentication and no ACLs: anyone who reaches the port reads and writes "
    "every region's changes. Local experiments only; the data directory must have been "
    "formatted that way.",
)
def start_cmd(
    port: int | None,
    brokers: int | None,
    data: Path | None,
    controller_port: int | None,
    timeout: float,
    insecure_plaintext: bool,
) -> None:
    """Start the broker in the background and wait until it serves requests.

    Fetches the jars on first use and formats the data directory once. If a broker is already
    running from the data directory, reports it instead of starting another. Prints the
    bootstrap address (127.0.0.1:PORT) as the last line on stdout.

    With --brokers 3: three brokers, each with its own directory DATA/broker-N and ports,
    started together (or, later, whichever is not running); it returns once the metadata
    lists all three, and prints all three addresses, comma-separated.

    By default the client listener takes SASL/SCRAM-SHA-512 only and ACLs allow nothing
    to anyone but the super user admin, whose password is generated on the first start
    into DATA/admin.password (mode 0600), or taken from $GLOBALTABLES_KAFKA_ADMIN_PASSWORD.
    Then `globaltables kafka grant REGION...` creates each region's principal.
    """
    data_dir = _data_dir(data)
    if insecure_plaintext:
        logging.basicConfig(format="globaltables: %(levelname)s: %(message)s")
    if brokers is None:
        brokers = kafka_broker.CLUSTER_BROKERS if kafka_broker.is_cluster(data_dir) else 1
    problem = kafka_broker.cluster_size_problem(brokers)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="--brokers")
    if brokers > 1:
        _start_cluster(data_dir, brokers, port, controller_port, timeout, insecure_plaintext)
        return
    port = 9092 if port is None else port
    try:
        running = kafka_broker.status(data_dir)
        if running is not None:
            click.echo(
                f"Kafka already running from {data_dir} (pid {running.pid}); --port and "
                "--controller-port ignored",
                err=True,
            )
        else:
            kafka_broker.ensure_jars(progress=True)
            click.echo(
                f"starting Kafka {kafka_broker.KAFKA_VERSION} on 127.0.0.1:{port}, "
                f"data in {data_dir} ...",
                err=True,
            )
        began = time.monotonic()
        info = kafka_broker.start(
            data_dir,
            port=port,
            controller_port=controller_port,
            timeout=timeout,
            secure=not insecure_plaintext,
        )
    except kafka_broker.KafkaBrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    if running is None:
        click.echo(
            f"Kafka ready in {time.monotonic() - began:.1f}s (pid {info.pid}, "
            f"log {data_dir / 'broker.log'})",
            err=True,
        )
    _explain_security(info, data_dir)
    click.echo(info.bootstrap)


def _consecutive(first: int | None, count: int, option: str) -> list[int] | None:
    if first is None:
        return None
    if first + count - 1 > 65535:
        raise click.BadParameter(f"{first}..{first + count - 1} goes past 65535", param_hint=option)
    return [first + i for i in range(count)]


def _start_cluster(
    data_dir: Path,
    brokers: int,
    port: int | None,
    controller_port: int | None,
    timeout: float,
    insecure_plaintext: bool,
) -> None:
    try:
        before = kafka_broker.cluster_status(data_dir)
        ports = _consecutive(port, brokers, "--port")
        if ports is None and before is None:
            ports = _consecutive(9092, brokers, "--port")
        already = before is not None and len(before.running) == len(before.nodes)
        if not already:
            kafka_broker.ensure_jars(progress=True)
            where = (
                ", ".join(n.bootstrap for n in before.nodes)
                if before is not None
                else ", ".join(f"127.0.0.1:{p}" for p in ports or [])
            )
            click.echo(
                f"starting a {brokers}-broker Kafka {kafka_broker.KAFKA_VERSION} cluster on "
                f"{where}, data in {data_dir} ...",
                err=True,
            )
        began = time.monotonic()
        info = kafka_broker.start_cluster(
            data_dir,
            brokers=brokers,
            ports=ports,
            controller_ports=_consecutive(controller_port, brokers, "--controller-port"),
            timeout=timeout,
            secure=not insecure_plaintext,
        )
    except kafka_broker.KafkaBrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    pids = ", ".join(f"broker {n.node_id} pid {n.pid}" for n in info.nodes)
    if already:
        click.echo(f"Kafka cluster already running from {data_dir} ({pids})", err=True)
    else:
        click.echo(
            f"Kafka cluster ready in {time.monotonic() - began:.1f}s: {pids} (logs "
            f"{data_dir}/broker-N/broker.log); replication factor 3, min.insync.replicas=2",
            err=True,
        )
    _explain_security(info, data_dir)
    click.echo(info.bootstrap)


def _explain_security(
    info: kafka_broker.BrokerInfo | kafka_broker.ClusterInfo, data_dir: Path
) -> None:
    if not info.secure:
        click.echo(
            "WARNING: this broker has no authentication and no ACLs (--insecure-plaintext); "
            "start regions with --kafka-insecure-plaintext",
            err=True,
        )
        return
    data_opt = f" --data {data_dir}" if data_dir != kafka_broker.default_data_dir() else ""
    if os.environ.get(kafka_broker.ADMIN_PASSWORD_ENV):
        source, value = f"${kafka_broker.ADMIN_PASSWORD_ENV}", f"${kafka_broker.ADMIN_PASSWORD_ENV}"
    else:
        path = kafka_broker.admin_password_file(data_dir)
        source, value = f"{path} (mode 0600)", f"$(cat {path})"
    click.echo(
        f"SASL/SCRAM-SHA-512 with ACLs: super user {kafka_broker.ADMIN_USER!r}, password in "
        f"{source}\n"
        "  a principal per region (it may write only its own topic):\n"
        f"    globaltables kafka grant REGION...{data_opt} --config-dir DIR   "
        "# then: globaltables region --config DIR/REGION.toml ...\n"
        "  or, for development, every region as the admin:\n"
        f"    export GLOBALTABLES_KAFKA_USERNAME={kafka_broker.ADMIN_USER} "
        f'GLOBALTABLES_KAFKA_PASSWORD="{value}"',
        err=True,
    )


@kafka.command("grant")
@click.argument("regions", nargs=-1, required=True)
@click.option(
    "--data",
    "data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The local broker's data directory: its bootstrap address and admin password "
    "are read from there. " + _DATA_HELP.split(". ", 1)[1],
)
@click.option(
    "--bootstrap",
    default=None,
    envvar="GLOBALTABLES_KAFKA",
    show_envvar=True,
    help="Bootstrap servers of the cluster. [default: the broker running from --data]",
)
@click.option(
    "--admin-username",
    default=kafka_broker.ADMIN_USER,
    show_default=True,
    envvar="GLOBALTABLES_KAFKA_ADMIN_USERNAME",
    show_envvar=True,
    help="A super user (or a principal allowed to ALTER the cluster and alter SCRAM users).",
)
@click.option(
    "--admin-password",
    default=None,
    envvar=kafka_broker.ADMIN_PASSWORD_ENV,
    show_envvar=True,
    help="Its password. [default: DATA/admin.password]",
)
@click.option(
    "--security-protocol",
    type=click.Choice(PROTOCOLS[:2]),
    default="SASL_PLAINTEXT",
    show_default=True,
    help="How to reach the cluster as the admin.",
)
@click.option(
    "--sasl-mechanism",
    type=click.Choice(MECHANISMS),
    default="SCRAM-SHA-512",
    show_default=True,
    help="The admin's SASL mechanism.",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="CA bundle (PEM) of the brokers' certificates, with SASL_SSL.",
)
@click.option(
    "--password",
    default=None,
    envvar="GLOBALTABLES_KAFKA_REGION_PASSWORD",
    show_envvar=True,
    help="The regions' password (the same for every region named). [default: a new random "
    "one per region]",
)
@click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write each region's credentials to DIR/REGION.toml (mode 0600) for "
    "`globaltables region --config`, instead of printing them.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1.0),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the cluster.",
)
def grant_cmd(
    regions: tuple[str, ...],
    data: Path | None,
    bootstrap: str | None,
    admin_username: str,
    admin_password: str | None,
    security_protocol: str,
    sasl_mechanism: str,
    ca_file: Path | None,
    password: str | None,
    config_dir: Path | None,
    timeout: float,
) -> None:
    """Give each REGION its own Kafka principal and ACLs.

    Creates (or resets the password of) the SCRAM-SHA-512 user region-REGION, allowed to
    write only its own topic globaltables.REGION.changes, to read and create the
    globaltables.* topics and to use its consumer group globaltables.apply.REGION. All
    regions in one run (one JVM; a JDK is needed). The credentials are printed once as
    GLOBALTABLES_KAFKA_* variables, or written to --config-dir.
    """
    data_dir = _data_dir(data)
    if bootstrap is None:
        bootstrap = _running_bootstrap(data_dir)
        if bootstrap is None:
            raise click.UsageError(
                f"no Kafka broker running from {data_dir}: start it, or pass --bootstrap"
            )
    try:
        if admin_password is None:
            admin_password = kafka_broker.admin_password(data_dir)
        admin = KafkaSecurity(
            protocol=security_protocol,
            mechanism=sasl_mechanism,
            username=admin_username,
            password=admin_password,
            ca_file=str(ca_file) if ca_file is not None else None,
        )
    except (ValueError, kafka_broker.KafkaBrokerError) as exc:
        raise click.UsageError(str(exc)) from None
    passwords = {r: password or secrets.token_urlsafe(24) for r in dict.fromkeys(regions)}
    try:
        kafka_broker.grant_regions(bootstrap, admin, passwords, timeout=timeout)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except kafka_broker.KafkaBrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    for region, secret in passwords.items():
        user = kafka_broker.region_principal(region)
        if config_dir is not None:
            config_dir.mkdir(parents=True, exist_ok=True)
            path = config_dir / f"{region}.toml"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(
                    f"# Kafka credentials of region {region} (`globaltables kafka grant`)\n"
                    f"kafka_username = {json.dumps(user)}\n"
                    f"kafka_password = {json.dumps(secret)}\n"
                )
            click.echo(f"granted {user}: credentials in {path}", err=True)
        else:
            click.echo(f"granted {user}", err=True)
            click.echo(
                f"# region {region}\n"
                f"GLOBALTABLES_KAFKA_USERNAME={user}\n"
                f"GLOBALTABLES_KAFKA_PASSWORD={secret}"
            )


def _running_bootstrap(data_dir: Path) -> str | None:
    """The bootstrap address of the broker, or of the cluster's brokers, running from
    ``data_dir``; None if none runs."""
    cluster = kafka_broker.cluster_status(data_dir)
    if cluster is not None:
        return cluster.bootstrap if cluster.running else None
    single = kafka_broker.status(data_dir)
    return single.bootstrap if single is not None else None


@kafka.command("stop")
@click.option(
    "--data",
    "data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=_DATA_HELP,
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.0),
    default=30.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
def stop_cmd(data: Path | None, timeout: float) -> None:
    """Stop the broker, or every broker of the cluster, running from the data directory
    (data is kept).

    Exits 0 whether or not a broker was running, so it is safe in cleanup scripts.
    """
    data_dir = _data_dir(data)
    cluster = kafka_broker.cluster_status(data_dir)
    if cluster is not None:
        pids = ", ".join(f"broker {n.node_id} pid {n.pid}" for n in cluster.running)
        if kafka_broker.stop_cluster(data_dir, timeout=timeout):
            click.echo(f"stopped Kafka ({pids}) from {data_dir}", err=True)
        else:
            click.echo(f"no Kafka broker running from {data_dir}", err=True)
        return
    info = kafka_broker.status(data_dir)
    if kafka_broker.stop(data_dir, timeout=timeout):
        pid = f" (pid {info.pid})" if info is not None else ""
        click.echo(f"stopped Kafka{pid} from {data_dir}", err=True)
    else:
        click.echo(f"no Kafka broker running from {data_dir}", err=True)


@kafka.command("status")
@click.option(
    "--data",
    "data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=_DATA_HELP,
)
def status_cmd(data: Path | None) -> None:
    """Tell whether a broker is running from the data directory.

    Exit 0 and print its bootstrap address on stdout if it is; exit 1 otherwise. Checks the
    process only (alive, and our Kafka JVM), not whether it already answers requests. For
    a cluster: one line per broker on stderr, and exit 0 (with every broker's address on
    stdout) only if all of them run.
    """
    data_dir = _data_dir(data)
    cluster = kafka_broker.cluster_status(data_dir)
    if cluster is not None:
        for node in cluster.nodes:
            state = f"running (pid {node.pid})" if node.running else "NOT running"
            click.echo(f"broker {node.node_id} on {node.bootstrap}: {state}", err=True)
        if len(cluster.running) < len(cluster.nodes):
            click.echo(
                f"{len(cluster.running)} of {len(cluster.nodes)} Kafka brokers running from "
                f"{data_dir}; `globaltables kafka start --data {data_dir}` starts the "
                "stopped ones",
                err=True,
            )
            raise SystemExit(1)
        click.echo(f"Kafka cluster running from {data_dir}", err=True)
        click.echo(cluster.bootstrap)
        return
    info = kafka_broker.status(data_dir)
    if info is None:
        click.echo(f"no Kafka broker running from {data_dir}", err=True)
        raise SystemExit(1)
    click.echo(f"Kafka running from {data_dir} (pid {info.pid})", err=True)
    click.echo(info.bootstrap)


if __name__ == "__main__":
    kafka()
