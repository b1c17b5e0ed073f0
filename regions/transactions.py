"""TransactWriteItems semantics: validation order, cancellation reasons, idempotency.

The HTTP layer parses each action's expressions (a bad expression is a
ValidationException for the whole request, as DynamoDB answers it) and hands over
:class:`WriteAction` objects; this module decides the rest:

* attribute values and Put item sizes are checked first: ValidationException;
* the request payload is capped at 4 MB (of items, keys and expression values; a small
  Delete of a large item is fine, as Alternator's test_transact.py observed);
* tables are resolved (ResourceNotFoundException);
* keys are checked against their table's schema: the first bad one cancels the
  transaction with a single ``ValidationError`` reason, every other action ``None``
  (Alternator's test_transact_write_cancellation_reasons_validationerror);
* two actions on one item are a ValidationException, not a cancellation (§12.8);
* all actions then run in ONE store transaction (``DataPlane.commit(atomic=True)``);
  if any fails nothing is written, and every failed condition is listed, but only the
  first ValidationError (Developer Guide, transaction-apis).

Idempotency (Developer Guide, transaction-apis): a ClientRequestToken is recorded in the store's
``gt_meta`` table under ``txtoken:<token>`` as JSON ``{"hash", "state", "at"}``, so it
survives a restart and is shared by every process on the store.  A claim is taken
(state ``pending``) before the writes and turned into ``done`` (``at`` = completion
time) after they commit; a failed call voids it, so a retry runs again.

Known gap: the ``done`` mark commits in its own store transaction right after the
writes.  A crash between the two commits leaves the token ``pending``: replays get
TransactionInProgressException until the 10-minute window ends and then run again.
Never re-running within the window is the safe side of that trade; closing the gap
needs ``DataPlane.commit`` to accept extra meta rows in its own transaction.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson

from regions.capacity import charged_size
from regions.catalog import TableSpec
from regions.data import (
    Bound,
    Delete,
    Put,
    Update,
    WriteOp,
    WriteOutcome,
    WritesCancelled,
)
from regions.errors import ConditionalCheckFailed, DynamoError, ValidationError
from regions.keys import item_key, validate_key
from regions.region import Region
from regions.types import Item, check_item_size, item_size, validate_item, validate_values
from regions.versions import wall_ms

__all__ = [
    "CHECK",
    "DELETE",
    "MAX_TRANSACTION_PAYLOAD",
    "MSG_MULTIPLE_OPERATIONS",
    "PUT",
    "TOKEN_WINDOW_MS",
    "UPDATE",
    "IdempotentParameterMismatch",
    "TransactWriteResult",
    "TransactionCanceled",
    "TransactionInProgress",
    "WriteAction",
    "cancellation_reasons",
    "purge_expired_tokens",
    "request_hash",
    "token_decision",
    "transact_write",
]

PUT: Final = "Put"
UPDATE: Final = "Update"
DELETE: Final = "Delete"
CHECK: Final = "ConditionCheck"

#: a token is honoured for this long after the call that used it completed
TOKEN_WINDOW_MS: Final = 10 * 60 * 1000
MAX_TRANSACTION_PAYLOAD: Final = 4 * 1024 * 1024

MSG_MULTIPLE_OPERATIONS: Final = (
    "Transaction request cannot include multiple operations on one item"
)
# Unverified wording: Alternator's test only pins "ValidationException.*size cannot
# exceed" and notes that DynamoDB speaks of the "transaction payload".
MSG_PAYLOAD_TOO_BIG: Final = "Transaction payload size cannot exceed 4 MB"
# From the API reference's description of the exception (no observed text found).
MSG_PARAMETER_MISMATCH: Final = (
    "DynamoDB rejected the request because you retried a request with a different payload "
    "but with an idempotent token that was already used."
)
# As the Java SDK reports it from the service (aws-sdk-java-v2 issue 2518).
MSG_IN_PROGRESS: Final = "Transaction from previous request is still in progress"

_TOKEN_PREFIX: Final = "txtoken:"
_PENDING: Final = "pending"
_DONE: Final = "done"
_VOID: Final = "void"
#: token claims serialise on advisory locks of this pseudo table (no table id is negative)
_TOKEN_LOCK_TID: Final = -1

class TransactionCanceled(DynamoError):
    """The whole transaction was cancelled; ``reasons`` has one entry per action."""

    code = "TransactionCanceledException"

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        codes = ", ".join(str(r["Code"]) for r in reasons)
        super().__init__(
            "Transaction cancelled, please refer cancellation reasons for specific reasons "
            f"[{codes}]"
        )
        self.reasons = reasons

    def extra(self) -> dict[str, Any]:
        return {"CancellationReasons": self.reasons}


class IdempotentParameterMismatch(DynamoError):
    code = "IdempotentParameterMismatchException"

    def __init__(self, message: str = MSG_PARAMETER_MISMATCH) -> None:
        super().__init__(message)


class TransactionInProgress(DynamoError):
    code = "TransactionInProgressException"

    def __init__(self, message: str = MSG_IN_PROGRESS) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class WriteAction:
    """One TransactItems entry: its write operation (expressions already parsed by
    the caller) and the size of its ExpressionAttributeValues, which counts towards
    the 4 MB payload."""

    op: WriteOp
    values_size: int = 0

    @property
    def table(self) -> str:
        return self.op.table

    @property
    def kind(self) -> str:
        op = self.op
        if isinstance(op, Put):
            return PUT
        if isinstance(op, Delete):
            return DELETE
        if isinstance(op, Update):
            return UPDATE
        return CHECK


@dataclass(frozen=True)
class TransactWriteResult:
    """What a call did, aligned with its actions, for its ConsumedCapacity.

    A first call has every action's ``outcomes``.  A replay of a completed call writes
    nothing (``outcomes`` is empty) and carries ``replayed_sizes``: the bytes each
    action was charged on the first time, which DynamoDB bills again as reads."""

    specs: list[TableSpec]
    outcomes: list[WriteOutcome]
    replayed_sizes: list[int] | None = None


@dataclass(frozen=True)
class _Prepared:
    tid: int
    key: Item
    spec: TableSpec
    #: the operation, a Put's item canonical
    op: WriteOp


def request_hash(transact_items: Any) -> str:
    """The identity of a TransactWriteItems request for its ClientRequestToken.

    Only ``TransactItems`` counts: ReturnConsumedCapacity and friends change the
    answer, not the effect.  Map keys are sorted, so the same request serialised in
    another member order is the same request (localstack issue 6529, checked against
    DynamoDB); list order and every value count.
    """
    return hashlib.sha256(orjson.dumps(transact_items, option=orjson.OPT_SORT_KEYS)).hexdigest()


def token_decision(record: str | None, digest: str, now_ms: int) -> bool:
    """Whether a call with this token runs (True) or is a replay that must not write
    again (False), given the token's stored record; raises for a mismatch or a call
    still in flight.  Expired and voided records are ignored."""
    if record is None:
        return True
    data = orjson.loads(record)
    if data.get("state") == _VOID or now_ms - int(data.get("at", 0)) > TOKEN_WINDOW_MS:
        return True
    if data.get("hash") != digest:
        raise IdempotentParameterMismatch()
    if data.get("state") == _PENDING:
        raise TransactionInProgress()
    return False


def cancellation_reasons(failures: dict[int, DynamoError], total: int) -> list[dict[str, Any]]:
    """CancellationReasons, aligned with the actions: ``{"Code": "None"}`` (no Message)
    where nothing failed, every failed condition (with ``Item`` when ALL_OLD was asked
    and the item existed), and only the first ValidationError (Developer Guide, transaction-apis)."""
    reasons: list[dict[str, Any]] = [{"Code": "None"} for _ in range(total)]
    validation_seen = False
    for i in sorted(failures):
        exc = failures[i]
        reason: dict[str, Any]
        if isinstance(exc, ConditionalCheckFailed):
            reason = {"Code": "ConditionalCheckFailed", "Message": exc.message}
            if exc.item is not None:
                reason["Item"] = exc.item
        elif isinstance(exc, ValidationError):
            if validation_seen:
                continue
            validation_seen = True
            reason = {"Code": "ValidationError", "Message": exc.message}
        else:
            reason = {"Code": exc.code.removesuffix("Exception"), "Message": exc.message}
        reasons[i] = reason
    return reasons


async def transact_write(
    region: Region,
    actions: list[WriteAction],
    *,
    token: str | None = None,
    digest: str = "",
) -> TransactWriteResult:
    """Run the actions atomically; ``token``/``digest`` make the call idempotent."""
    prepared = await _prepare(region, actions)
    specs = [p.spec for p in prepared]
    if token is None:
        return TransactWriteResult(specs, await _run(region, actions, prepared))
    replayed = await _claim(region, token, digest)
    if replayed is not None:
        # a replay of a completed call: succeed without writing again
        return TransactWriteResult(specs, [], replayed)
    try:
        outcomes = await _run(region, actions, prepared)
    except BaseException:
        # nothing was written (the store transaction rolled back), so a retry may run
        await _settle(region, token, digest, _VOID)
        raise
    sizes = [charged_size(o.old, o.new) for o in outcomes]
    await _settle(region, token, digest, _DONE, sizes)
    return TransactWriteResult(specs, outcomes)


async def purge_expired_tokens(region: Region, now_ms: int | None = None) -> int:
    """Delete token records past their window (for the region's housekeeping)."""
    now = wall_ms() if now_ms is None else now_ms
    async with region.store.write() as tx:
        stale: list[str] = []
        for key, value in await tx.meta_with_prefix(_TOKEN_PREFIX):
            data = orjson.loads(value)
            if data.get("state") == _VOID or now - int(data.get("at", 0)) > TOKEN_WINDOW_MS:
                stale.append(key)
        await tx.delete_meta(stale)
    return len(stale)


# --------------------------------------------------------------------------- internals


async def _prepare(region: Region, actions: list[WriteAction]) -> list[_Prepared]:
    values: list[tuple[Item | None, Item]] = []
    payload = 0
    for action in actions:
        op = action.op
        if isinstance(op, Put):
            new = validate_item(op.item)
            check_item_size(new)
            values.append((new, new))
            payload += item_size(new)
        else:
            key = validate_values(getattr(op, "key", None))
            values.append((None, key))
            payload += item_size(key)
        payload += action.values_size
    if payload > MAX_TRANSACTION_PAYLOAD:
        raise ValidationError(MSG_PAYLOAD_TOO_BIG)
    tables = [await region.catalog.table(action.table) for action in actions]
    prepared: list[_Prepared] = []
    for i, ((item, raw), (tid, spec), action) in enumerate(
        zip(values, tables, actions, strict=True)
    ):
        schema = spec.key_schema
        try:
            key = item_key(item, schema) if item is not None else validate_key(raw, schema)
        except ValidationError as exc:
            # DynamoDB validates the actions before running any and stops at the first
            raise TransactionCanceled(cancellation_reasons({i: exc}, len(actions))) from None
        op = replace(action.op, item=item) if isinstance(action.op, Put) else action.op
        prepared.append(_Prepared(tid, key, spec, op))
    seen: set[tuple[str, bytes]] = set()
    for prep in prepared:
        ident = (prep.spec.name, orjson.dumps(prep.key, option=orjson.OPT_SORT_KEYS))
        if ident in seen:
            raise ValidationError(MSG_MULTIPLE_OPERATIONS)
        seen.add(ident)
    return prepared


async def _run(
    region: Region, actions: list[WriteAction], prepared: list[_Prepared]
) -> list[WriteOutcome]:
    plan = [Bound(p.tid, p.spec, p.key, p.op) for p in prepared]
    try:
        results = await region.data.commit(plan, atomic=True)
    except WritesCancelled as exc:
        raise TransactionCanceled(cancellation_reasons(exc.failures, len(actions))) from None
    except (ConditionalCheckFailed, ValidationError) as exc:
        # a one-action commit re-raises the action's own error instead of
        # WritesCancelled; everything before the operation was validated in _prepare,
        # so these can only come from the action itself
        if len(actions) != 1:
            raise
        raise TransactionCanceled(cancellation_reasons({0: exc}, 1)) from None
    # an atomic commit raises on any failure, so every result is an outcome
    return [r for r in results if isinstance(r, WriteOutcome)]


def _token_key(token: str) -> str:
    return _TOKEN_PREFIX + token


async def _claim(region: Region, token: str, digest: str) -> list[int] | None:
    """Claim the token (None: the call runs), or the charged sizes the completed call
    recorded (a replay)."""
    now = wall_ms()
    async with region.store.write() as tx:
        # two processes on one PostgreSQL store must not both claim the token
        await tx.lock_partition(_TOKEN_LOCK_TID, zlib.crc32(token.encode()) & 0x7FFFFFFF)
        record = await tx.get_meta(_token_key(token))
        if not token_decision(record, digest, now):
            assert record is not None  # only a stored record makes a replay
            # records written before sizes were kept replay at the minimum charge
            return [int(n) for n in orjson.loads(record).get("sizes", [])]
        await tx.set_meta(_token_key(token), _record(digest, _PENDING, now))
    return None


async def _settle(
    region: Region, token: str, digest: str, state: str, sizes: list[int] | None = None
) -> None:
    async with region.store.write() as tx:
        await tx.set_meta(_token_key(token), _record(digest, state, wall_ms(), sizes))


def _record(digest: str, state: str, at_ms: int, sizes: list[int] | None = None) -> str:
    data: dict[str, Any] = {"hash": digest, "state": state, "at": at_ms}
    if sizes is not None:
        # a replay bills reads of what the first call was charged on (regions/capacity.py)
        data["sizes"] = sizes
    return orjson.dumps(data).decode()
