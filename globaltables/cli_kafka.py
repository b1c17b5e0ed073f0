"""``globaltables kafka ...``: run a local Apache Kafka broker for development, tests and the demo.

A click group meant to be registered into the main ``globaltables`` CLI; it also runs on its
own as ``python -m globaltables.cli_kafka``. Only the bootstrap address goes to stdout, so
scripts can do ``KAFKA_BOOTSTRAP=$(globaltables kafka start)``; progress goes to stderr.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from globaltables import kafka_broker

_DATA_HELP = (
    "Broker data directory (Kafka log, server.properties, broker.log, broker.json). "
    "[default: <repo>/.data/kafka in a checkout, else ~/.local/share/globaltables/kafka]"
)


def _data_dir(data: Path | None) -> Path:
    return (data if data is not None else kafka_broker.default_data_dir()).expanduser().resolve()


@click.group(name="kafka")
def kafka() -> None:
    """Run a real single-node Apache Kafka broker (KRaft) on 127.0.0.1.

    The broker's jars are fetched once from Maven Central with `mvn` (Java 17+ and Maven
    needed) and the JVM runs detached in the background, so it outlives this command. Each
    data directory holds one broker; its data survives stop/start.
    """


@kafka.command("start")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=9092,
    show_default=True,
    help="Client (PLAINTEXT) port on 127.0.0.1.",
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
    help="KRaft controller port on 127.0.0.1. [default: a free port picked at start]",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1.0),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the broker to answer requests.",
)
def start_cmd(port: int, data: Path | None, controller_port: int | None, timeout: float) -> None:
    """Start the broker in the background and wait until it serves requests.

    Fetches the jars on first use and formats the data directory once. If a broker is already
    running from the data directory, reports it instead of starting another. Prints the
    bootstrap address (127.0.0.1:PORT) as the last line on stdout.
    """
    data_dir = _data_dir(data)
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
            data_dir, port=port, controller_port=controller_port, timeout=timeout
        )
    except kafka_broker.KafkaBrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    if running is None:
        click.echo(
            f"Kafka ready in {time.monotonic() - began:.1f}s (pid {info.pid}, "
            f"log {data_dir / 'broker.log'})",
            err=True,
        )
    click.echo(info.bootstrap)


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
    """Stop the broker running from the data directory (data is kept).

    Exits 0 whether or not a broker was running, so it is safe in cleanup scripts.
    """
    data_dir = _data_dir(data)
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
    process only (alive, and our Kafka JVM), not whether it already answers requests.
    """
    data_dir = _data_dir(data)
    info = kafka_broker.status(data_dir)
    if info is None:
        click.echo(f"no Kafka broker running from {data_dir}", err=True)
        raise SystemExit(1)
    click.echo(f"Kafka running from {data_dir} (pid {info.pid})", err=True)
    click.echo(info.bootstrap)


if __name__ == "__main__":
    kafka()
