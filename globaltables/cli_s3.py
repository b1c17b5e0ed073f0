"""``globaltables s3 ...``: run a local S3-compatible server (versitygw) for development.

Only what a script needs goes to stdout (``start`` prints the endpoint, or with
``--env`` the variables a region reads); progress goes to stderr.
"""

from __future__ import annotations

from pathlib import Path

import click


def _data_dir(data: Path | None) -> Path:
    from globaltables import s3_local  # here, not at the top: every CLI call imports this module

    return (data if data is not None else s3_local.default_data_dir()).expanduser().resolve()


_DATA_HELP = (
    "Server directory (buckets under data/, the key pair's secret, versitygw.log). "
    "[default: <repo>/.data/s3 in a checkout, else ~/.local/share/globaltables/s3]"
)


@click.group(name="s3")
def s3() -> None:
    """Run a real S3-compatible server (versitygw) on 127.0.0.1 for backups and exports.

    The server is built once from source through the Go module proxy (`make s3-tools`,
    Go >= 1.25) and runs detached, so it outlives this command; its buckets are
    directories under DATA/data and survive stop/start.  Point a region at it with
    `eval "$(globaltables s3 start --env)"` before `globaltables region ...`.
    """


@s3.command("start")
@click.option("--port", type=click.IntRange(1, 65535), default=9000, show_default=True)
@click.option(
    "--data", type=click.Path(file_okay=False, path_type=Path), default=None, help=_DATA_HELP
)
@click.option(
    "--env",
    "as_env",
    is_flag=True,
    help="Print `export AWS_...=...` lines (endpoint, key pair, region) instead of the endpoint.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1.0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the server to answer.",
)
def start_cmd(port: int, data: Path | None, as_env: bool, timeout: float) -> None:
    """Start the server in the background (building it first if needed) and wait until
    it answers.  A server already running from DATA is reported, not started twice."""
    from globaltables import s3_local

    workdir = _data_dir(data)
    server = s3_local.LocalS3.running(workdir)
    try:
        if server is not None:
            click.echo(f"S3 server already running from {workdir} (port {server.port})", err=True)
        else:
            if not s3_local.binary().is_file():
                click.echo(f"building versitygw {s3_local.VERSION} (once) ...", err=True)
            s3_local.ensure()
            server = s3_local.LocalS3(workdir, port=port).start(timeout, detach=True)
            click.echo(
                f"versitygw {s3_local.VERSION} on {server.endpoint_url}, data in "
                f"{workdir / 'data'}",
                err=True,
            )
    except s3_local.S3Unavailable as exc:
        raise click.ClickException(str(exc)) from exc
    if as_env:
        st = server.settings()
        click.echo(f"export AWS_ENDPOINT_URL_S3={st.endpoint_url}")
        click.echo(f"export AWS_ACCESS_KEY_ID={st.access_key_id}")
        click.echo(f"export AWS_SECRET_ACCESS_KEY={st.secret_access_key}")
        click.echo(f"export AWS_REGION={st.region}")
    else:
        click.echo(server.endpoint_url)


@s3.command("stop")
@click.option(
    "--data", type=click.Path(file_okay=False, path_type=Path), default=None, help=_DATA_HELP
)
def stop_cmd(data: Path | None) -> None:
    """Stop the server started from DATA (its buckets stay)."""
    from globaltables import s3_local

    workdir = _data_dir(data)
    if s3_local.LocalS3.stop_pid(workdir):
        click.echo(f"stopped the S3 server of {workdir}", err=True)
    else:
        click.echo(f"no S3 server running from {workdir}", err=True)


if __name__ == "__main__":
    s3()
