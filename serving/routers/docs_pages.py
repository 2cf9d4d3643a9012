"""The interactive API docs (``/docs``: Swagger UI, ``/redoc``: ReDoc) served with no network beyond the app.

Their scripts and styles are vendored from the npm registry in ``serving/static/vendor/`` (swagger-ui-dist 5,
redoc 2, licences alongside) and served under ``/static/vendor/``. The pages are FastAPI's own
(``get_swagger_ui_html``, ``get_redoc_html``); each sets its own Content-Security-Policy, which the security
middleware keeps: scripts from ``'self'`` plus the sha256 hash of the page's one inline script (Swagger UI's
initialiser), so no ``'unsafe-inline'`` for scripts. Styles allow ``'unsafe-inline'``: both libraries inject
``<style>`` elements at run time (ReDoc through styled-components), and ReDoc runs its search in a ``blob:`` worker.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

VENDOR = "/static/vendor"
SWAGGER_JS = f"{VENDOR}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR}/swagger-ui/swagger-ui.css"
REDOC_JS = f"{VENDOR}/redoc/redoc.standalone.js"
FAVICON = "/static/favicon.svg"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_csp(html: str) -> str:
    """The page's policy: ``'self'`` and the hashes of its inline scripts (none of them may change unseen)."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    script_src = f"script-src 'self' {hashes}".rstrip()
    return (
        f"default-src 'self'; {script_src}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _with_csp(page: HTMLResponse) -> HTMLResponse:
    html = bytes(page.body).decode()
    return HTMLResponse(html, headers={"Content-Security-Policy": docs_csp(html), "Cache-Control": "no-cache"})


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    return _with_csp(get_swagger_ui_html(
        openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI", swagger_js_url=SWAGGER_JS,
        swagger_css_url=SWAGGER_CSS, swagger_favicon_url=FAVICON,
        oauth2_redirect_url=None,
    ))


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    app = request.app
    return _with_csp(get_redoc_html(
        openapi_url=app.openapi_url, title=f"{app.title} - ReDoc", redoc_js_url=REDOC_JS,
        redoc_favicon_url=FAVICON, with_google_fonts=False,
    ))
