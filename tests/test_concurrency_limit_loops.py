"""``serving.middleware.ConcurrencyLimit`` across event loops: each loop counts its own slots. One semaphore shared
between loops hung the API tests at ``PARCOURS_MAX_CONCURRENT_REQUESTS=2`` (TestClient runs each request from a
thread in a loop of its own, and a release in one loop did not wake a waiter in another)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from starlette.types import Receive, Scope, Send

from serving.middleware import ConcurrencyLimit


def test_each_event_loop_counts_its_own_slots_and_never_waits_for_another() -> None:
    entered: list[str] = []
    a_inside, b_done = threading.Event(), threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        entered.append(scope["path"])
        if scope["path"] == "/a/slow":  # holds loop A's only slot until loop B has been answered (at most 10 s)
            for _ in range(1000):
                if b_done.is_set():
                    break
                await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limited = ConcurrencyLimit(app, limit=1)

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://test")

    async def loop_a() -> list[int]:
        async with client() as http:
            slow = asyncio.create_task(http.get("/a/slow"))
            for _ in range(50):
                await asyncio.sleep(0)
            queued = asyncio.create_task(http.get("/a/queued"))
            for _ in range(50):
                await asyncio.sleep(0)
            assert entered == ["/a/slow"]  # within a loop the limit holds: the second request waits outside
            a_inside.set()
            answers = await asyncio.wait_for(asyncio.gather(slow, queued), timeout=20)
            return [answer.status_code for answer in answers]

    async def loop_b() -> int:
        async with client() as http:
            answer = await asyncio.wait_for(http.get("/b/quick"), timeout=5)
        b_done.set()
        return answer.status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        a = pool.submit(asyncio.run, loop_a())
        assert a_inside.wait(timeout=10)
        b = pool.submit(asyncio.run, loop_b())
        assert b.result(timeout=30) == 200  # loop A's full slot did not hold loop B back
        assert a.result(timeout=30) == [200, 200]
    assert entered == ["/a/slow", "/b/quick", "/a/queued"]
