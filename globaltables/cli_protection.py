"""What the data-protection commands share (``backup``, ``pitr``, ``export``, ``import``:
globaltables/cli_backup.py and globaltables/cli_exchange.py).

They speak the DynamoDB API through boto3, like any SDK, signed with the usual AWS
credentials (``globaltables.aws_auth.dynamodb_client``).  This module holds their
common options, turns botocore's failures into one-line errors (the DynamoDB error
code and message, exit status 1, no traceback), prints answers as text or JSON, and
waits for a long operation by polling its Describe call under a tqdm progress bar.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

__all__ = [
    "JobView",
    "as_json_option",
    "aws_errors",
    "call",
    "client_for",
    "echo_json",
    "endpoint_option",
    "parse_time",
    "progress_option",
    "show_time",
    "unless_gone",
    "wait_for",
    "wait_items",
    "wait_options",
]

F = TypeVar("F", bound=Callable[..., Any])

endpoint_option = click.option(
    "--endpoint",
    required=True,
    envvar="GLOBALTABLES_ENDPOINT",
    show_envvar=True,
    help="URL of the region, e.g. http://127.0.0.1:8000 (backups, PITR, exports and "
    "imports are per region).",
)
as_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print DynamoDB's answer as JSON (machine-readable)."
)
progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr while waiting (default: on a terminal, never with --json).",
)


def wait_options(what: str) -> Callable[[F], F]:
    """``--wait/--no-wait``, ``--timeout`` and ``--progress`` of a long operation."""

    def decorate(f: F) -> F:
        f = progress_option(f)
        f = click.option(
            "--timeout",
            default=3600.0,
            show_default=True,
            type=click.FloatRange(min=0, min_open=True),
            help="Seconds to wait at most.",
        )(f)
        f = click.option(
            "--wait/--no-wait",
            default=True,
            show_default=True,
            help=f"Wait until the {what} is done (polling its description), or return at once.",
        )(f)
        return f

    return decorate


def client_for(endpoint: str) -> Any:
    """A DynamoDB client of the region at ``endpoint``."""
    from globaltables.aws_auth import dynamodb_client

    return dynamodb_client(endpoint.rstrip("/"))


@contextmanager
def aws_errors(endpoint: str | None = None) -> Iterator[None]:
    """botocore's failures as ``click.ClickException``: ``Code: message``."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        ParamValidationError,
    )

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code") or "Error"
        message = error.get("Message") or str(exc)
        raise click.ClickException(f"{code}: {message}") from None
    except EndpointConnectionError as exc:
        raise click.ClickException(
            f"cannot reach {endpoint or exc.kwargs.get('endpoint_url')}"
        ) from None
    except ParamValidationError as exc:
        raise click.ClickException(f"invalid request: {exc.kwargs.get('report', exc)}") from None
    except BotoCoreError as exc:
        raise click.ClickException(str(exc)) from None


def call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    """``client.<operation>(**params)`` without its ResponseMetadata; errors as
    :func:`aws_errors` words them."""
    with aws_errors(getattr(client.meta, "endpoint_url", None)):
        answer = dict(getattr(client, operation)(**params))
    answer.pop("ResponseMetadata", None)
    return answer


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def echo_json(data: Any) -> None:
    """``data`` as indented JSON; timestamps in ISO 8601."""
    click.echo(json.dumps(data, indent=2, default=_json_default))


def parse_time(text: str, option: str) -> datetime.datetime:
    """ISO 8601 (``2025-06-01T12:30:00Z``; no zone means UTC), or seconds since the
    epoch (``1748781000``)."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a time: give ISO 8601 (2025-06-01T12:30:00Z) or epoch seconds",
            param_hint=option,
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.UTC)


def show_time(value: Any) -> str:
    """A timestamp of an answer (datetime, or epoch seconds) as UTC text, to the second."""
    if value is None:
        return "-"
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime.fromtimestamp(float(value), datetime.UTC)
    return str(value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"))


@dataclass
class JobView:
    """One look at a long operation, from its Describe call."""

    #: the status word shown (CREATING, IN_PROGRESS, ...)
    status: str
    #: finished, well or badly
    done: bool = False
    #: a failure's text; None when it went well (or is not finished)
    failed: str | None = None
    #: progress: units done and, where known, the total
    n: int | None = None
    total: int | None = None
    #: more to show after the status (e.g. "12 errors")
    extra: str = ""
    #: the Describe answer, printed by --json
    answer: dict[str, Any] | None = None


def wait_for(
    look: Callable[[], JobView],
    *,
    desc: str,
    unit: str,
    timeout: float,
    progress: bool | None,
    interval: float = 0.5,
) -> JobView:
    """Poll ``look`` until its job is done (or ``timeout`` seconds passed: a
    ClickException).  A tqdm bar on stderr shows the status and the progress the
    description gives; ``progress`` None shows it only on a terminal."""
    from tqdm import tqdm

    deadline = time.monotonic() + timeout
    bar = tqdm(
        desc=desc,
        unit=f" {unit}",
        total=None,
        disable=None if progress is None else not progress,
        leave=True,
        dynamic_ncols=True,
    )
    try:
        while True:
            view = look()
            if view.total is not None and bar.total != view.total:
                bar.total = view.total
            if view.n is not None:
                bar.n = view.n if bar.total is None else min(view.n, bar.total)
            bar.set_postfix_str(
                f"{view.status}{' · ' + view.extra if view.extra else ''}", refresh=False
            )
            bar.refresh()
            if view.done:
                return view
            if time.monotonic() >= deadline:
                raise click.ClickException(
                    f"{desc}: still {view.status} after {timeout:g} s (it goes on in the region; "
                    "look again later)"
                )
            time.sleep(interval)
    finally:
        bar.close()


def wait_items(
    look: Callable[[], JobView],
    *,
    endpoint: str,
    desc: str,
    timeout: float,
    progress: bool | None,
    as_json: bool,
) -> JobView:
    """:func:`wait_for` as the commands wait: counted in items, no bar with ``--json``,
    botocore's failures worded by :func:`aws_errors`."""
    with aws_errors(endpoint):
        return wait_for(
            look,
            desc=desc,
            unit="items",
            timeout=timeout,
            progress=False if as_json else progress,
        )


def unless_gone(code: str, failed: str) -> Callable[[Callable[[], JobView]], Callable[[], JobView]]:
    """A ``look`` that answers a done, FAILED view (``failed`` its reason) when its
    Describe call fails with the error ``code``: the region dropped what the job
    was making."""

    def wrap(look: Callable[[], JobView]) -> Callable[[], JobView]:
        def guarded() -> JobView:
            from botocore.exceptions import ClientError

            try:
                return look()
            except ClientError as exc:
                if exc.response["Error"]["Code"] == code:
                    return JobView("FAILED", done=True, failed=failed)
                raise

        return guarded

    return wrap
