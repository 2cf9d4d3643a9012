"""HTTP guards around every route (docs/security.md): a cap on request bodies, validation errors that never echo
large inputs, and security headers.

- ``ConcurrencyLimit``: at most ``Settings.max_concurrent_requests`` requests inside the application per worker;
  the others wait in arrival order (probes and metrics excepted).
- ``BodyLimit``: a body declared (``Content-Length``) or streamed beyond ``Settings.max_body_bytes`` is refused
  with 413 before the application reads it whole; a pure ASGI middleware, so nothing is buffered beyond the cap.
- ``validation_error``: FastAPI's 422 for a request that fails validation, with each error's ``input`` cut to
  ``MAX_ECHO_CHARS`` (a 20 MB string answered a 20 MB 422 before).
- ``out_of_range``: a number past what the database can hold that reached it anyway is a 422, never a 500.
- ``SecurityHeaders``: ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy`` on every answer; on HTML pages a
  Content-Security-Policy with ``frame-ancestors 'none'`` (and ``X-Frame-Options: DENY``) unless the page set its
  own; any cookie gets ``HttpOnly``, ``Secure`` and ``SameSite=Strict`` when it lacks them.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from anyio.lowlevel import RunVar
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_ECHO_CHARS = 200

# Every HTML page without a policy of its own gets this one. The interactive docs (/docs, /redoc) set theirs
# (serving/routers/docs_pages.py: vendored assets from 'self' and the hash of Swagger UI's inline initialiser).
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class ConcurrencyLimit:
    """At most ``limit`` requests inside the application at once (per worker process); the others wait, first
    come first served, before they take a thread, a database connection or the GIL.

    Without it every request went in at once: 32 connections meant 32 threads fighting for one GIL (a thread back
    from each database call waits for it behind the CPU-bound ones) and for the engine's pool, where a thread
    holding a pool slot could wait for a thread and the reverse. ``exempt`` paths (probes, metrics) never wait.

    The slots are counted per event loop: an anyio semaphore wakes its waiters in its own loop only, and one
    shared between loops hung (a release in one loop did not wake a waiter in another). A worker serves from one
    loop, so the limit is the worker's; a TestClient used without ``with`` runs each request in a loop of its own.
    """

    def __init__(self, app: ASGIApp, limit: int, exempt: frozenset[str] = frozenset({"/health", "/ready", "/metrics"})
                 ) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt
        # This instance's semaphore in each running loop, made at the loop's first request (a name of its own:
        # anyio 3 keyed run variables by name).
        self._slots: RunVar[anyio.Semaphore] = RunVar(f"parcours-concurrency-limit-{id(self)}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        slots = self._slots.get(None)
        if slots is None:
            slots = anyio.Semaphore(self.limit)  # FIFO: waiters are served in arrival order
            self._slots.set(slots)
        async with slots:
            await self.app(scope, receive, send)


class BodyLimit:
    """413 for a request body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False  # the server itself refuses a malformed length
            if too_big:
                await self._refuse(scope, receive, send)
                return
        # Read the body up to the cap before the application sees any of it, then hand it over in one piece.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)  # the client left
                return
            body = message.get("body", b"")
            received += len(body)
            if received > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            status_code=413,
            content={"detail": f"request body larger than {self.max_bytes} bytes"},
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _short(value: Any) -> Any:
    """``value`` if it is small; otherwise a cut string or a note of its size (never the whole input)."""
    if isinstance(value, str):
        return value if len(value) <= MAX_ECHO_CHARS else value[:MAX_ECHO_CHARS] + f"… ({len(value)} characters)"
    try:
        text = json.dumps(jsonable_encoder(value), default=str)
    except (TypeError, ValueError):
        text = str(value)
    if len(text) <= MAX_ECHO_CHARS:
        return value
    return f"{text[:MAX_ECHO_CHARS]}… ({len(text)} characters)"


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 answer with every ``input`` (and context value) cut short."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        error = dict(error)
        if "input" in error:
            error["input"] = _short(error["input"])
        if isinstance(error.get("ctx"), dict):
            error["ctx"] = {k: _short(v) if isinstance(v, str) else v for k, v in error["ctx"].items()}
        if isinstance(error.get("msg"), str):
            error["msg"] = _short(error["msg"])
        errors.append(error)
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


def _secure_cookie(value: bytes) -> bytes:
    lowered = value.lower()
    for flag in (b"httponly", b"secure"):
        if flag not in lowered:
            value += b"; " + (b"HttpOnly" if flag == b"httponly" else b"Secure")
    if b"samesite" not in lowered:
        value += b"; SameSite=Strict"
    return value


class SecurityHeaders:
    """nosniff and no referrer everywhere; a CSP with ``frame-ancestors 'none'`` on HTML; cookie flags."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, _secure_cookie(v) if k.lower() == b"set-cookie" else v) for k, v in message.get("headers", [])
                ]
                names = {k.lower() for k, _v in headers}
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                if content_type.startswith(b"text/html"):
                    if b"content-security-policy" not in names:
                        extra.append((b"content-security-policy", STRICT_CSP.encode()))
                    extra.append((b"x-frame-options", b"DENY"))
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def out_of_range(_request: Request, exc: Exception) -> JSONResponse:
    """A number the database cannot hold (an id past its column's range that no path type caught: SQLite's
    OverflowError, PostgreSQL's numeric_value_out_of_range) is bad input, not a server error: 422."""
    orig = getattr(exc, "orig", None)
    if isinstance(exc, OverflowError) or getattr(orig, "sqlstate", None) == "22003":
        return JSONResponse(status_code=422, content={"detail": "a number in the request is out of range"})
    raise exc
