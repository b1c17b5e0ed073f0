"""The HTTP edge's limits (api/edge.py, docs/security.md "HTTP limits"), on a real
region process over raw sockets.

A too-large request line, header field or head is answered 400 at once, without the
region buffering it (its RSS stays put); slow heads and bodies are cut off after the
configured timeouts and idle keep-alive connections after the idle timeout, while a
boto3 client keeps its latency; a connection over the cap is answered 503; worker
processes enforce the same limits.  Every loop here is bounded in count and time.
"""

from __future__ import annotations

import select
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.regions import (
    ADMIN_KEY_ID,
    ADMIN_SECRET,
    RegionProcess,
    dynamodb_client,
    free_port,
)

pytestmark = pytest.mark.integration

#: the short timeouts of the test region (seconds)
TIMEOUT = 2.0
#: a timeout has fired by then: TIMEOUT, the sweep's tick (TIMEOUT / 4), a loaded machine
CUT_BY = TIMEOUT + 2.5
MB = 1 << 20
FILLER = b"a" * 65536


@pytest.fixture(scope="module")
def edge_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionProcess]:
    d = tmp_path_factory.mktemp("edge")
    proc = RegionProcess(
        "us-east-1",
        free_port(),
        f"sqlite:///{d}/us-east-1.db",
        log_dir=d,
        extra_args=[
            *("--header-timeout", str(TIMEOUT), "--body-timeout", str(TIMEOUT)),
            *("--idle-timeout", str(int(TIMEOUT))),
        ],
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def table(edge_region: RegionProcess) -> str:
    ddb: Any = edge_region.client()
    ddb.create_table(
        TableName="edge",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}],
    )
    ddb.put_item(TableName="edge", Item={"p": {"S": "k"}, "v": {"S": "x" * 100}})
    return "edge"


def rss_kb(proc: RegionProcess) -> int:
    assert proc.proc is not None
    for line in Path(f"/proc/{proc.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return sock


def push(port: int, head: bytes, total: int, timeout: float = 20.0) -> tuple[bytes, int, float]:
    """Send ``head`` and then filler up to ``total`` bytes, reading all along; stop once
    the server answered or closed.  (answer, bytes sent, seconds)."""
    sock = connect(port)
    total = max(total, len(head))
    data, sent, answer = head, 0, b""
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 0.1)
            if readable:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                answer += chunk
                continue
            if writable:
                try:
                    n = sock.send(data[: total - sent])
                except OSError:
                    # the server closed: what it answered is still in our buffer
                    try:
                        answer += sock.recv(65536)
                    except OSError:
                        pass
                    break
                sent += n
                data = data[n:] or FILLER
    finally:
        sock.close()
    return answer, sent, time.monotonic() - started


def closed_after(sock: socket.socket, limit: float) -> tuple[float | None, bytes]:
    """Seconds until the server closes ``sock`` (None: still open after ``limit``),
    and what it sent before."""
    started = time.monotonic()
    answer = b""
    while time.monotonic() - started < limit:
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return time.monotonic() - started, answer
            if not chunk:
                return time.monotonic() - started, answer
            answer += chunk
    return None, answer


def read_response(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """One whole response (head and its Content-Length of body) from ``sock``."""
    answer = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head, sep, body = answer.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(body) >= length:
                return answer
        select.select([sock], [], [], 0.1)
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            continue
        if not chunk:
            break
        answer += chunk
    return answer


def get_item_latencies(proc: RegionProcess, table: str, until: float) -> list[float]:
    ddb: Any = dynamodb_client(proc.url, proc.name)
    ddb.get_item(TableName=table, Key={"p": {"S": "k"}})  # the connection is open
    out: list[float] = []
    while time.monotonic() < until and len(out) < 500:
        started = time.monotonic()
        item = ddb.get_item(TableName=table, Key={"p": {"S": "k"}})["Item"]
        out.append(time.monotonic() - started)
        assert item["p"] == {"S": "k"}
        time.sleep(0.02)
    return out


# --------------------------------------------------------------------------- sizes


def test_huge_request_line_is_refused_without_buffering(edge_region: RegionProcess) -> None:
    before = rss_kb(edge_region)
    answer, sent, seconds = push(edge_region.port, b"GET /", 64 * MB)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"connection: close" in answer and answer.endswith(b"Request line too long")
    assert seconds < 3, seconds
    # the socket buffers took a few MB; the server read at most its limit of them
    assert sent < 32 * MB, sent
    assert rss_kb(edge_region) - before < 50 * 1024


def test_huge_header_is_refused_without_buffering(edge_region: RegionProcess) -> None:
    before = rss_kb(edge_region)
    head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\nX-Big: "
    answer, sent, seconds = push(edge_region.port, head, 64 * MB)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert answer.endswith(b"Request header fields too large")
    assert seconds < 3, seconds
    assert sent < 32 * MB, sent
    # many headers, each small, over the total (64 KiB)
    headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: 0123456789\r\n" * 5000
    answer, _, seconds = push(edge_region.port, headers, 0)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert rss_kb(edge_region) - before < 50 * 1024


def test_field_and_line_limits_and_what_passes(edge_region: RegionProcess) -> None:
    port = edge_region.port
    # one header field over 16 KiB, the whole head under 64 KiB
    field = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    answer, _, _ = push(port, field, 0, timeout=5)
    assert answer.startswith(b"HTTP/1.1 400 ") and answer.endswith(b"field too large"), answer
    # a request target over 16 KiB
    line = b"GET /healthz?" + b"q" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    answer, _, _ = push(port, line, 0, timeout=5)
    assert answer.startswith(b"HTTP/1.1 400 ") and answer.endswith(b"Request line too long")
    # under every limit: served (and the connection kept: the loop ends at the timeout)
    fine = (
        b"GET /healthz?" + b"q" * 8000 + b" HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"v" * 12000) for i in range(4))
        + b"\r\n"
    )  # fmt: skip
    assert len(fine) > 48 * 1024
    answer, _, _ = push(port, fine, 0, timeout=1)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


def test_concurrent_huge_headers_leave_other_clients_alone(
    edge_region: RegionProcess, table: str
) -> None:
    """8 clients sending 64 MB headers over and over for 3 s: each is refused at once,
    a boto3 client's GetItem keeps its latency and the region its memory."""
    before = rss_kb(edge_region)
    stop = time.monotonic() + 3.0
    refused: list[int] = []
    head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: "

    def hammer() -> None:
        while time.monotonic() < stop and len(refused) < 2000:
            answer, _, _ = push(edge_region.port, head, 64 * MB, timeout=10)
            refused.append(int(answer.startswith(b"HTTP/1.1 400 ")))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        latencies = get_item_latencies(edge_region, table, stop)
    finally:
        for t in threads:
            t.join(timeout=30)
    assert refused and sum(refused) >= 0.9 * len(refused), (sum(refused), len(refused))
    assert len(latencies) >= 5
    assert statistics.median(latencies) < 0.25, latencies
    assert rss_kb(edge_region) - before < 50 * 1024


# --------------------------------------------------------------------------- timeouts


def test_slow_headers_are_cut_off_and_others_keep_their_latency(
    edge_region: RegionProcess, table: str
) -> None:
    """20 connections trickling a header byte every 0.5 s are closed (408) after the
    header timeout; a boto3 client's GetItem meanwhile stays fast."""
    socks = [connect(edge_region.port) for _ in range(20)]
    for s in socks:
        s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()
    closed: dict[int, float] = {}
    answers: dict[int, bytes] = {}
    latencies: list[float] = []
    ddb: Any = dynamodb_client(edge_region.url, edge_region.name)
    try:
        while time.monotonic() - started < CUT_BY + 1 and len(closed) < len(socks):
            for i, s in enumerate(socks):
                if i in closed:
                    continue
                readable, _, _ = select.select([s], [], [], 0)
                if readable:
                    try:
                        chunk = s.recv(4096)
                    except OSError:
                        chunk = b""
                    answers[i] = answers.get(i, b"") + chunk
                    if not chunk:
                        closed[i] = time.monotonic() - started
                    continue
                try:
                    s.send(b"a")
                except OSError:
                    closed[i] = time.monotonic() - started
            t = time.monotonic()
            ddb.get_item(TableName=table, Key={"p": {"S": "k"}})
            latencies.append(time.monotonic() - t)
            time.sleep(max(0.0, 0.5 - (time.monotonic() - t)))
    finally:
        for s in socks:
            s.close()
    assert len(closed) == len(socks), f"still open after {CUT_BY + 1} s: {len(socks) - len(closed)}"
    assert all(TIMEOUT - 0.2 <= t <= CUT_BY for t in closed.values()), closed
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers.values()), answers
    assert statistics.median(latencies) < 0.25, latencies


def test_a_connection_that_sends_nothing_is_closed(edge_region: RegionProcess) -> None:
    sock = connect(edge_region.port)
    try:
        seconds, answer = closed_after(sock, CUT_BY + 1)
    finally:
        sock.close()
    assert seconds is not None and TIMEOUT - 0.2 <= seconds <= CUT_BY, seconds
    assert answer == b""  # nothing asked, nothing answered


def signed_head(proc: RegionProcess, target: str, body: bytes) -> bytes:
    """The head of a DynamoDB request for ``body``, signed with the admin key."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="POST",
        url=f"{proc.url}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{target}",
        },
    )
    SigV4Auth(Credentials(ADMIN_KEY_ID, ADMIN_SECRET), "dynamodb", proc.name).add_auth(request)
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{proc.port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in request.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_slow_body_is_cut_off(edge_region: RegionProcess) -> None:
    """A signed request whose body trickles: the region waits for the body (to check
    the signature) until the body timeout, then answers 408 and closes."""
    body = b"{}" + b" " * 998
    sock = connect(edge_region.port)
    sock.send(signed_head(edge_region, "ListTables", body) + body[:1])
    started = time.monotonic()
    answer = b""
    seconds = None
    try:
        while time.monotonic() - started < CUT_BY + 1:
            readable, _, _ = select.select([sock], [], [], 0.5)
            if readable:
                try:
                    chunk = sock.recv(4096)
                except OSError:
                    chunk = b""
                answer += chunk
                if not chunk:
                    seconds = time.monotonic() - started
                    break
                continue
            try:
                sock.send(b" ")
            except OSError:
                seconds = time.monotonic() - started
                break
    finally:
        sock.close()
    assert seconds is not None, "a trickled body kept its connection"
    assert TIMEOUT - 0.2 <= seconds <= CUT_BY, seconds
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_idle_keep_alive_connection_is_closed(edge_region: RegionProcess) -> None:
    sock = connect(edge_region.port)
    try:
        sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_response(sock)
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert b"connection: close" not in answer.lower()  # kept alive
        time.sleep(0.2)
        seconds, _ = closed_after(sock, CUT_BY + 1)
    finally:
        sock.close()
    # --idle-timeout 2 (uvicorn's default is 5)
    assert seconds is not None and seconds <= TIMEOUT + 1.0, seconds


# --------------------------------------------------------------------------- the cap


def test_connections_over_the_cap_are_answered_503(tmp_path: Path) -> None:
    cap = 4
    proc = RegionProcess(
        "us-east-1",
        free_port(),
        f"sqlite:///{tmp_path}/cap.db",
        log_dir=tmp_path,
        extra_args=["--max-connections", str(cap)],
    ).start()
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

    def ask(sock: socket.socket) -> bytes:
        sock.send(request)
        return read_response(sock)

    held: list[socket.socket] = []
    try:
        for _ in range(cap):
            held.append(connect(proc.port))
            assert ask(held[-1]).startswith(b"HTTP/1.1 200 ")
        extra = connect(proc.port)
        try:
            answer = ask(extra)
            assert answer.startswith(b"HTTP/1.1 503 "), answer[:200]
            assert b"connection: close" in answer
            seconds, _ = closed_after(extra, 3)
            assert seconds is not None
        finally:
            extra.close()
        # the admitted connections are still served
        answers = [ask(s) for s in held]
        assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), answers
        # a slot freed is a slot taken
        held.pop().close()
        time.sleep(0.3)
        held.append(connect(proc.port))
        assert ask(held[-1]).startswith(b"HTTP/1.1 200 ")
    finally:
        for s in held:
            s.close()
        proc.stop()


# --------------------------------------------------------------------------- workers


def test_worker_processes_enforce_the_same_limits(tmp_path: Path) -> None:
    """With --workers 2 every connection, whichever process accepted it, is closed
    after the header timeout (a worker with uvicorn's or our default limits would
    keep it for 10 s or forever)."""
    proc = RegionProcess(
        "us-east-1",
        free_port(),
        f"sqlite:///{tmp_path}/w.db",
        log_dir=tmp_path,
        extra_args=["--workers", "2", "--header-timeout", "1"],
    ).start(timeout=60)
    try:
        # both processes listen once the worker reports (GET /healthz lists it ready)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers: Any = proc.health().get("workers") or []
            if workers and all(w["ready"] for w in workers):
                break
            time.sleep(0.2)
        socks = [connect(proc.port) for _ in range(16)]
        try:
            for s in socks:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
            started = time.monotonic()
            open_ = set(range(len(socks)))
            while open_ and time.monotonic() - started < 6:
                for i in list(open_):
                    readable, _, _ = select.select([socks[i]], [], [], 0.02)
                    if readable:
                        try:
                            if not socks[i].recv(4096):
                                open_.discard(i)
                        except OSError:
                            open_.discard(i)
            assert not open_, f"{len(open_)} of {len(socks)} connections outlived the timeout"
            assert time.monotonic() - started < 4.5
        finally:
            for s in socks:
                s.close()
    finally:
        proc.stop()
