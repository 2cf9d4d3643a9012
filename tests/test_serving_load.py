"""The serving path under load (issue 17): no answered read without its audit row, even when the server is killed;
the audit row of a read is inserted at commit, so a read holds no write lock while it computes; the
multi-worker listening socket keeps TCP_NODELAY; the load benchmark's wrk report parsing."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from parcours.settings import get_settings
from parcours.store.engine import get_engine, session_factory, session_scope
from parcours.store.models import AuditLog, User
from serving.services.access import audit_at_commit, authorise_holder_read
from serving.services.users import UserSpec, upsert_users
from tests.factories import add_holder, add_provider, add_training
from training.bench.bench_load import parse_wrk

PASSWORD = "correct horse battery"
HOLDERS = 300


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _world(url: str, holders: int) -> None:
    with session_scope(url) as session:
        add_provider(session)
        add_training(session, "T-ACC", "Accounting and payroll certificate",
                     description="Bookkeeping, tax returns, payroll and financial statements.")
        add_training(session, "T-MAS", "Hot stone massage", description="Massage therapy with heated stones.")
        for i in range(holders):
            add_holder(session, f"H{i:04d}", cpf_balance_cents=100_000, jobs=["accountant assistant"])
    upsert_users(url, [UserSpec("admin", PASSWORD, "admin")], source="test")


@contextmanager
def _audit_table_locked(url: str) -> Iterator[None]:
    """Another connection holds what an audit insert needs (SQLite's write lock; PostgreSQL's SHARE lock on the
    table), so that every commit writing an audit row waits while reads still run."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.close()
        return
    engine = create_engine(url)
    with engine.connect() as pg:
        pg.execute(text(f"LOCK TABLE {AuditLog.__tablename__} IN SHARE MODE"))
        try:
            yield
        finally:
            pg.rollback()
    engine.dispose()


def test_every_answered_read_has_its_audit_row_when_the_server_is_killed(db_url: str, tmp_path: Path) -> None:
    """Two workers, eight clients reading distinct holders' accounts. Half-way, another connection blocks every
    audit insert, so requests wait in their commit; then SIGKILL to the whole server with requests in flight.
    Every read that came back 200 must have its audit row: the row commits before the answer is sent (when the
    commit ran after the answer, as with FastAPI's request-scoped session, reads answered during the lock had
    none)."""
    _world(db_url, HOLDERS)
    get_engine(db_url).dispose()
    port = _free_port()
    env = {**os.environ, "PARCOURS_DATA_DIR": str(tmp_path / "data"),
           "PARCOURS_CACHE_DIR": str(get_settings().resolved_cache_dir())}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "parcours.cli", "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port),
         "--db", db_url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    answered: list[str] = []
    lock = threading.Lock()
    half = threading.Event()
    next_holder = iter(range(HOLDERS))
    clients: list[threading.Thread] = []
    try:
        deadline = time.monotonic() + 120
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        token = httpx.post(f"{base}/v1/auth/token", data={"username": "admin", "password": PASSWORD},
                           timeout=30).json()["access_token"]

        def client() -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=5) as http:
                while True:
                    with lock:
                        i = next(next_holder, None)
                    if i is None:
                        return
                    holder_id = f"H{i:04d}"
                    try:
                        response = http.get(f"/v1/holders/{holder_id}/account")
                    except httpx.TransportError:
                        return  # stuck behind the lock, or the server is gone
                    if response.status_code == 200:
                        with lock:
                            answered.append(holder_id)
                            if len(answered) >= HOLDERS // 3:
                                half.set()

        clients = [threading.Thread(target=client) for _ in range(8)]
        for thread in clients:
            thread.start()
        assert half.wait(timeout=300), "the server answered too few requests"
        with _audit_table_locked(db_url):
            for thread in clients:
                thread.join(timeout=120)
            os.killpg(server.pid, signal.SIGKILL)  # the supervisor and both workers, nothing flushed on the way out
            server.wait()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    with lock:
        seen = list(answered)
    with session_scope(db_url) as session:
        audited = set(session.scalars(select(AuditLog.holder_id).where(AuditLog.action == "read")))
    missing = sorted(set(seen) - audited)
    assert not missing, f"{len(missing)} answered reads without their audit row: {missing[:10]}"
    assert HOLDERS // 3 <= len(seen) < HOLDERS  # some answered, the rest stuck behind the lock when killed


def test_a_read_inserts_its_audit_row_at_commit_and_a_rollback_drops_it(sqlite_url: str) -> None:
    """Nothing is written while the read computes (on SQLite a flushed row would hold the write lock), the row is
    in the commit, and a rolled-back read leaves none."""
    _world(sqlite_url, 1)
    factory = session_factory(sqlite_url)
    with factory() as session:
        admin = session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        authorise_holder_read(session, admin, "H0000", "recommend", "/holders/H0000/recommendations")
        session.execute(select(func.count()).select_from(AuditLog))  # a query autoflushes pending objects
        # Another connection can still take the write lock: the read wrote nothing yet (a flushed row would hold
        # it until the commit, and this would fail with "database is locked").
        probe = sqlite3.connect(sqlite_url.split("///", 1)[1], timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
        finally:
            probe.close()
        session.commit()
        with factory() as other:
            assert other.scalar(select(func.count()).select_from(AuditLog)) == 1
        audit_at_commit(session, admin, "read", "H0000", "/holders/H0000/account")
        session.rollback()
        session.commit()
    with factory() as session:
        rows = session.scalars(select(AuditLog.action)).all()
    assert rows == ["recommend"]


def in_own_thread(work: Callable[[], None]) -> None:
    """Run ``work`` (which starts an event loop) in a thread of its own: a test run earlier in the same process (the
    browser tests' synchronous Playwright) may leave an event loop running in the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(work).result()


def test_each_worker_socket_shares_the_port_and_gives_accepted_connections_tcp_nodelay() -> None:
    """``--workers N``: every worker binds its own ``SO_REUSEPORT`` socket to the same port (serving.workers), and
    a connection accepted on it has TCP_NODELAY, which the event loop sets only when the socket says IPPROTO_TCP
    (uvicorn issue 3149: without it, Nagle and the peer's delayed ACK add ~40 ms to every keep-alive request)."""
    import uvloop

    from serving.workers import reuse_port_socket

    port = _free_port()
    listeners = [reuse_port_socket("127.0.0.1", port), reuse_port_socket("127.0.0.1", port)]  # two workers
    seen: list[int] = []

    async def accept_some() -> None:
        loop = asyncio.get_running_loop()
        accepted = asyncio.Event()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()
                if len(seen) == 8:
                    accepted.set()

        servers = [await loop.create_server(Probe, sock=listener) for listener in listeners]  # as a worker does
        for _ in range(8):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
        await asyncio.wait_for(accepted.wait(), timeout=10)
        for server in servers:
            server.close()

    def run() -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(accept_some())

    try:
        in_own_thread(run)
    finally:
        for listener in listeners:
            listener.close()
    assert all(listener.proto == socket.IPPROTO_TCP for listener in listeners)
    assert len(seen) == 8 and all(seen)
    with socket.socket() as plain:  # a socket without SO_REUSEPORT on the port keeps the workers out
        plain.bind(("127.0.0.1", 0))
        with pytest.raises(OSError):
            reuse_port_socket("127.0.0.1", plain.getsockname()[1])


WRK_OUTPUT = """Running 20s test @ http://127.0.0.1:8000
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    95.12ms   20.10ms 401.00ms   80.00%
    Req/Sec   168.00     20.00   210.00     70.00%
  Latency Distribution
     50%   91.50ms
     75%  100.00ms
     90%  120.00ms
     99%    1.20s
  6721 requests in 20.01s, 12.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 7
  Non-2xx or 3xx responses: 3
Requests/sec:    335.88
Transfer/sec:    614.00KB
"""


def test_the_wrk_report_is_read_with_its_units_errors_and_timeouts() -> None:
    result = parse_wrk(WRK_OUTPUT.replace("1.20s\n", "1.20s \n"))  # wrk pads some values with a space
    assert result.requests == 6721 and result.seconds == pytest.approx(20.01)
    assert result.throughput == pytest.approx(6721 / 20.01)
    assert result.p50_ms == pytest.approx(91.5) and result.p99_ms == pytest.approx(1200.0)
    assert (result.non_2xx, result.socket_errors, result.timeouts, result.errors) == (3, 2, 7, 5)
    clean = parse_wrk(WRK_OUTPUT.replace("  Socket errors: connect 0, read 2, write 0, timeout 7\n", "")
                      .replace("  Non-2xx or 3xx responses: 3\n", "").replace("99%    1.20s", "99%  850.00us"))
    assert (clean.errors, clean.timeouts) == (0, 0) and clean.p99_ms == pytest.approx(0.85)
    with pytest.raises(ValueError, match="not a wrk report"):
        parse_wrk("connection refused")


def test_funding_estimated_for_many_trainings_at_once_equals_one_by_one(sqlite_url: str) -> None:
    """The batched estimate of the recommendations (balances once, top-ups in one query) gives each training the
    plan the one-training estimate gives, top-ups included."""
    import datetime as dt

    from parcours.store.models import Holder
    from serving.services.actors import Actor
    from serving.services.enrolment_funding import estimate_funding, estimate_funding_many
    from serving.services.topups import grant_topup

    _world(sqlite_url, 1)
    on = dt.date(2026, 11, 2)
    with session_scope(sqlite_url) as session:
        grant_topup(session, actor=Actor("h0", "holder", holder_id="H0000"), amount_cents=30_000, on=on,
                    holder_id="H0000", training_id="T-ACC", spend_before_rights=True)
    with session_scope(sqlite_url) as session:
        holder = session.get(Holder, "H0000")
        assert holder is not None
        prices = {"T-ACC": 150_000, "T-MAS": 150_000, "T-NONE": 9_000}
        many = estimate_funding_many(session, holder, prices, on)
        one = {t: estimate_funding(session, "H0000", t, on, price_cents=p) for t, p in prices.items()}
    assert many == one
    assert many["T-ACC"] != many["T-MAS"]  # the top-up is the T-ACC file's only


def test_the_concurrency_limit_lets_requests_in_one_at_a_time_in_arrival_order_and_probes_never_wait() -> None:
    from starlette.types import Receive, Scope, Send

    from serving.middleware import ConcurrencyLimit

    entered: list[str] = []
    gate = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        entered.append(scope["path"])
        if scope["path"].startswith("/slow"):
            await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=ConcurrencyLimit(app, limit=1))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            slow = [asyncio.create_task(client.get(f"/slow/{i}")) for i in range(3)]
            for _ in range(50):
                await asyncio.sleep(0)
            assert entered == ["/slow/0"]  # the others wait outside the application
            assert (await client.get("/health")).status_code == 200  # a probe goes past the queue
            assert (await client.get("/metrics")).status_code == 200
            gate.set()
            assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200, 200]
        assert entered == ["/slow/0", "/health", "/metrics", "/slow/1", "/slow/2"]

    in_own_thread(lambda: asyncio.run(scenario()))

