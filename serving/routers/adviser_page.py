"""The advisers' web page (issue 14): one server-rendered page, its script and stylesheet, nothing else.

``GET /adviser`` renders ``serving/templates/adviser.html`` (Jinja2); everything it shows comes from the JSON API
with the adviser's bearer token, which the page's script keeps in ``sessionStorage`` (never a cookie: no request
the browser sends by itself carries it). Assets are served by the app from ``serving/static`` (``/static``, no CDN,
no build step) with a content hash in their URL, so a new version is never read from a stale cache. The page
allows nothing from elsewhere and nothing inline: its Content-Security-Policy is ``default-src 'self'``, and the
page cannot be framed (clickjacking).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from parcours import __version__

SERVING_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = SERVING_DIR / "templates"
STATIC_DIR = SERVING_DIR / "static"
STATIC_PREFIX = "/static"

CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
ASSET_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                 "Cross-Origin-Resource-Policy": "same-origin"}

router = APIRouter(tags=["adviser page"])


@lru_cache(maxsize=64)
def asset_url(name: str) -> str:
    """``/static/<name>?v=<hash of its content>``: a changed file gets a new URL."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"{STATIC_PREFIX}/{name}?v={digest}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["asset"] = asset_url
    return env


@router.get("/adviser", response_class=HTMLResponse, include_in_schema=False)
def adviser_page() -> HTMLResponse:
    html = environment().get_template("adviser.html").render(version=__version__)
    return HTMLResponse(html, headers=PAGE_HEADERS)


class Assets(StaticFiles):
    """The page's files, with the headers every answer of the page carries (no sniffing, no referrer)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                headers += [(k.lower().encode(), v.encode()) for k, v in ASSET_HEADERS.items()
                            if k.lower().encode() not in present]
                if scope.get("query_string"):  # a hashed URL never changes: cache it for good
                    headers.append((b"cache-control", b"public, max-age=31536000, immutable"))
                message["headers"] = headers
            await send(message)

        await super().__call__(scope, receive, with_headers)


def static_files() -> Assets:
    """What ``serving.app`` mounts at ``/static``."""
    return Assets(directory=STATIC_DIR)
