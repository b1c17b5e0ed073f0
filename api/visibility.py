"""Who sees item data on the status routes (docs/security.md).

``/v1/conflicts``, ``/v1/replication`` and ``/v1/deployment`` answer unsigned
requests (``--public-status``, for the dashboard), and ``/healthz`` always does.  What
they show to everyone is operational state; item data (keys and images of the
conflict log) and error texts (which may quote a key or a row: a store error prints
its SQL parameters) only to callers who may read them:

* the admin key, and an unsigned request of a region run with ``--allow-anonymous``
  (which is allowed everything anyway), see everything;
* a signed user sees a conflict's keys and losing image when its policies allow a
  ``GetItem`` of that item (``api.authorization.may_read_item``); error texts are
  reduced to the failing part and the error's class;
* an unsigned caller sees conflicts without keys or images, and the reduced errors.

``api/auth/middleware.py`` verifies a signed request to a status route (an unsigned
one passes as before), so ``regions.principals.current`` is the signer here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from api.authorization import may_read_item
from regions import principals
from regions.region import Region

__all__ = ["Viewer", "redact_error", "redact_summary", "viewer"]

#: the prefix of the problem that quotes the replicator's last error (api/summary.py)
_ERROR_PROBLEM = "replicator error: "


@dataclass(frozen=True)
class Viewer:
    #: the verified signer; None for an unsigned request
    principal: principals.Principal | None
    #: sees item data and error texts whole (admin, or anonymous where allowed)
    full: bool

    async def conflict(
        self, region: Region, row: dict[str, Any], detected_in: str | None = None
    ) -> dict[str, Any]:
        """A conflict-log entry as this viewer may see it.  Hidden: ``keys`` is None,
        the losing version keeps its hlc and origin but no image, and ``redacted``
        says so."""
        if await self.may_read(region, row, detected_in):
            return row | {"redacted": False}
        hidden = dict(row)
        hidden["keys"] = None
        loser = row.get("loser")
        if isinstance(loser, dict):
            hidden["loser"] = {k: v for k, v in loser.items() if k != "image"}
        hidden["redacted"] = True
        return hidden

    async def may_read(
        self, region: Region, row: dict[str, Any], detected_in: str | None = None
    ) -> bool:
        if self.full:
            return True
        table, keys = row.get("table"), row.get("keys")
        if self.principal is None or not isinstance(table, str) or not isinstance(keys, dict):
            return False
        return await may_read_item(region, self.principal, table, keys, detected_in)


def viewer(request: Request) -> Viewer:
    principal = principals.current.get()
    if principal is not None:
        return Viewer(principal, principal.is_admin)
    auth = request.app.state.region.settings.auth
    # unsigned: the admin's view only where unsigned requests are the admin's
    anonymous = auth.allow_anonymous and "authorization" not in request.headers
    return Viewer(None, anonymous)


def redact_error(text: str | None) -> str | None:
    """``"applier: IntegrityError: (sqlite3…) [parameters: …]"`` -> ``"applier:
    IntegrityError"``: the leading words without spaces, up to the message."""
    if text is None:
        return None
    kept: list[str] = []
    for part in text.split(": "):
        if not part or any(c.isspace() for c in part) or len(kept) == 2:
            break
        kept.append(part)
    return ": ".join(kept) if kept else "error (details for the admin key)"


def redact_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """A region summary (``GET /v1/replication``, ``/healthz``'s replication) without
    error texts: every ``last_error`` and the problem quoting it are reduced by
    :func:`redact_error`."""
    out = dict(summary)
    problems = out.get("problems")
    if isinstance(problems, list):
        out["problems"] = [
            _ERROR_PROBLEM + str(redact_error(p[len(_ERROR_PROBLEM) :]))
            if isinstance(p, str) and p.startswith(_ERROR_PROBLEM)
            else p
            for p in problems
        ]
    replication = out.get("replication")
    if isinstance(replication, dict):
        out["replication"] = _redact_errors(replication)
    return out


def _redact_errors(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: redact_error(v) if k == "last_error" and isinstance(v, str) else _redact_errors(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_errors(v) for v in value]
    return value
