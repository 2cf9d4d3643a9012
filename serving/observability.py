"""Operations: request ids, structured access logs and Prometheus metrics (docs/operations.md).

- ``RequestContext`` (pure ASGI middleware): gives each request an id (the client's ``X-Request-ID`` when it is a
  short safe token, else a new one), returns it in the ``X-Request-ID`` header, keeps it in a context variable so
  every log record of the request carries it, times the request, records the metrics and writes one access-log
  record (logger ``parcours.access``) with method, path, status and duration.
- ``JsonFormatter``: one JSON object per line (time, level, logger, message, request_id, pid and, for access records,
  method, path, status, duration_ms). ``log_config`` builds the ``logging.config.dictConfig`` of ``parcours
  serve`` for ``PARCOURS_LOG_FORMAT=json|text``.
- Metrics (``prometheus_client``): request latency histograms per route template, method and status class;
  requests in flight; recommendation latency (the recommendations route); the served model version as a gauge
  label. With ``PROMETHEUS_MULTIPROC_DIR`` set (``parcours serve --workers N`` with N > 1 sets it to a temporary
  folder), ``/metrics`` aggregates every worker through prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import secrets
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
access_logger = logging.getLogger("parcours.access")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
REQUEST_LATENCY = Histogram(
    "parcours_http_request_duration_seconds", "HTTP request latency by route template, method and status class",
    ["route", "method", "status"], buckets=LATENCY_BUCKETS,
)
REQUESTS = Counter("parcours_http_requests", "HTTP requests by route template, method and status class",
                   ["route", "method", "status"])
IN_FLIGHT = Gauge("parcours_http_requests_in_flight", "HTTP requests being served", multiprocess_mode="livesum")
RECOMMENDATION_LATENCY = Histogram(
    "parcours_recommendation_duration_seconds", "Latency of the recommendations route (ranking included)",
    buckets=LATENCY_BUCKETS,
)
MODEL_INFO = Gauge("parcours_model_info", "The served model version (value 1)", ["model_version"],
                   multiprocess_mode="livemax")
RECOMMENDATION_ROUTES = frozenset({"/v1/holders/{holder_id}/recommendations"})
UNMATCHED = "<unmatched>"
_served_version: list[str] = []


def valid_request_id(value: str | None) -> bool:
    return value is not None and _SAFE_ID.fullmatch(value) is not None


def new_request_id() -> str:
    return secrets.token_hex(16)


def set_model_version(version: str | None) -> None:
    """Publish the served model version (the previous one, in this process, drops to 0)."""
    label = version or "none"
    for previous in _served_version:
        if previous != label:
            MODEL_INFO.labels(model_version=previous).set(0)
    _served_version[:] = [label]
    MODEL_INFO.labels(model_version=label).set(1)


def metrics_payload() -> tuple[bytes, str]:
    """The exposition text: this process's registry, or every worker's when multiprocess mode is on."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def worker_exit() -> None:
    """Drop this worker's live gauges from the multiprocess folder (called at the end of the app's lifespan)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prometheus_multiprocess.mark_process_dead(os.getpid())


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return UNMATCHED  # never the raw path: unknown URLs must not grow the label set


class RequestContext:
    """Request id, access log and metrics around every HTTP request (outermost middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER)
        candidate = given.decode("latin-1") if given is not None else None
        request_id = candidate if candidate is not None and valid_request_id(candidate) else new_request_id()
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()
        IN_FLIGHT.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            IN_FLIGHT.dec()
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            status_class = f"{status // 100}xx"
            REQUEST_LATENCY.labels(route=route, method=method, status=status_class).observe(elapsed)
            REQUESTS.labels(route=route, method=method, status=status_class).inc()
            if route in RECOMMENDATION_ROUTES:
                RECOMMENDATION_LATENCY.observe(elapsed)
            access_logger.info(
                "%s %s %d %.1f ms", method, scope.get("path", ""), status, elapsed * 1000,
                extra={"request_id": request_id, "method": method, "path": scope.get("path", ""),
                       "status": status, "duration_ms": round(elapsed * 1000, 3)},
            )
            request_id_var.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or None) on every record as ``request_id``. Built by ``log_config``'s
    dictConfig in each server process, it also routes Python warnings through logging (logger ``py.warnings``),
    so that even they come out as JSON lines."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        logging.captureWarnings(True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


ACCESS_FIELDS = ("method", "path", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, access fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "pid": record.process,  # which worker
        }
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_config(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """``dictConfig`` for the server: JSON lines or text, request ids on every record, uvicorn's own access log
    left off (``RequestContext`` writes the access records)."""
    if log_format not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {log_format!r}")
    formatter: dict[str, Any] = (
        {"()": "serving.observability.JsonFormatter"} if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "main", "filters": ["request_id"],
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "serving.observability.RequestIdFilter"}},
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "loggers": {
            "uvicorn": {"handlers": ["main"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "parcours": {"handlers": ["main"], "level": level, "propagate": False},
            "serving": {"handlers": ["main"], "level": level, "propagate": False},
            "py.warnings": {"handlers": ["main"], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["main"], "level": "WARNING"},
    }
