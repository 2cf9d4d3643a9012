"""The FastAPI application: settings, database (migrated on start), routers and error mapping.

Routes are thin: they check who asks, call domain code, and shape the answer. ``ParcoursError`` subclasses map
to HTTP statuses here, so no route turns bad input into a 500.
"""

from __future__ import annotations

import gc
import logging
import re
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from parcours import __version__
from parcours.domain.calendar import fixed_business_date
from parcours.errors import Conflict, Forbidden, IndexMismatch, NotFound, ParcoursError, ValidationFailed
from parcours.settings import Settings, get_settings
from parcours.store.engine import migrate, session_factory
from serving.middleware import BodyLimit, ConcurrencyLimit, SecurityHeaders, out_of_range, validation_error
from serving.observability import RequestContext, set_model_version, worker_exit
from serving.routers import admin, auth, docs_pages, health, holders, trainings
from serving.routers import adviser_page as adviser_page_router
from serving.routers import cec as cec_router
from serving.routers import consents as consents_router
from serving.routers import data_rights as data_rights_router
from serving.routers import enrolments as enrolments_router
from serving.routers import funder_feed as funder_feed_router
from serving.routers import occupations as occupations_router
from serving.routers import paths as paths_router
from serving.routers import payments as payments_router
from serving.routers import preferences as preferences_router
from serving.routers import profile as profile_router
from serving.routers import rights as rights_router
from serving.routers import statistics as statistics_router
from serving.schemas.errors import domain_problems, problem
from serving.security import LoginGuard, MemoryStore, RateLimit
from serving.services.recommendations import RecommenderState, load_recommender

log = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[ParcoursError], int]] = [
    (ValidationFailed, 422),
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (IndexMismatch, 503),
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    db_url = settings.resolved_db_url()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        migrate(db_url)
        fixed = fixed_business_date(settings)
        if fixed is not None:  # demos and tests only: said loudly, and again by /health
            log.warning("PARCOURS_BUSINESS_DATE fixes the business date at %s (demos and tests only)", fixed)
        trainings.load_catalogue_search(app, settings)
        app.state.recommender = load_recommender(app.state.session_factory, settings, app.state.catalogue_search)
        set_model_version(app.state.recommender.model_version)
        # What start loaded (index, model, catalogue arrays: ~400,000 objects) lives as long as the worker: out of
        # the collector's reach, a full collection no longer walks it in the middle of a request (seconds on the
        # shared 2 cores, the p99 of every route; docs/operations.md).
        gc.freeze()
        yield
        worker_exit()

    app = FastAPI(
        title="Parcours API",
        version=__version__,
        description="CPF career guidance (R6323-33 purpose 7) and the supporting services of the training account.",
        lifespan=lifespan,
        docs_url=None,  # served offline by serving/routers/docs_pages.py
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.session_factory = session_factory(db_url)
    # Security (docs/security.md): the signing secret resolved now, so a public or missing-and-unwritable one
    # stops the start; the login guard and the search limit; the body cap, short 422s and security headers.
    settings.resolved_jwt_secret()
    app.state.login_guard = LoginGuard(settings)
    app.state.search_limit = RateLimit.parse(settings.search_rate_per_user, "searches", MemoryStore())
    install_error_shapes(app)
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContext)  # outermost: request id, access log and metrics cover every answer
    app.state.recommender = RecommenderState(None, "starting")
    app.state.catalogue_search = None

    @app.exception_handler(ParcoursError)
    async def parcours_error(_request: Request, exc: ParcoursError) -> JSONResponse:
        status = next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 400)
        detail: object = str(exc)
        if isinstance(exc, ValidationFailed):  # the one 422 shape (serving.schemas.errors)
            detail = domain_problems(exc.problems, str(exc))
        return JSONResponse(status_code=status, content={"detail": detail})

    app.include_router(health.router)
    app.include_router(docs_pages.router)
    app.include_router(auth.router)
    app.include_router(holders.router)
    app.include_router(enrolments_router.router)
    app.include_router(payments_router.router)
    app.include_router(rights_router.router)
    app.include_router(cec_router.router)
    app.include_router(trainings.router)
    app.include_router(profile_router.router)
    app.include_router(consents_router.router)
    app.include_router(preferences_router.router)
    app.include_router(statistics_router.router)
    app.include_router(funder_feed_router.router)
    app.include_router(data_rights_router.router)
    app.include_router(paths_router.router)
    app.include_router(occupations_router.router)
    app.include_router(adviser_page_router.router)
    app.mount("/static", adviser_page_router.static_files(), name="static")
    app.include_router(admin.router)
    return app


# --- one error shape and honest 405s (issue 17) ------------------------------------------------------------------


def install_error_shapes(app: FastAPI) -> None:
    """Every 422 in one shape (``serving.schemas.errors.ValidationErrorPublic``), the contract's 400 for a
    missing or malformed Idempotency-Key, and a 405's ``Allow`` listing every method of the path."""
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(OverflowError, out_of_range_422)
    app.add_exception_handler(DataError, out_of_range_422)
    app.add_exception_handler(StarletteHTTPException, http_error)


async def request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if errors and all(tuple(e.get("loc", ()))[:2] == ("header", "Idempotency-Key") for e in errors):
        # The contract answers a missing or malformed key with 400 (CONTRACT.md), whatever validated it.
        return JSONResponse(status_code=400, content={
            "detail": "this request changes state: send an Idempotency-Key header of 1 to 255 printable ASCII "
                      "characters (e.g. a UUID)"})
    return await validation_error(request, exc)


async def out_of_range_422(request: Request, exc: Exception) -> JSONResponse:
    answer = await out_of_range(request, exc)  # re-raises what is not an out-of-range number
    return JSONResponse(status_code=answer.status_code,
                        content={"detail": [problem([], "a number in the request is out of range", "out_of_range")]})


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's answer, but a 405 names every documented method of the path (Starlette names only those of the
    first route matching it: ``Allow: POST`` on a path that also has GET)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        methods = {m for pattern, found in _path_methods(request.app) if pattern.match(request.url.path)
                   for m in found}
        if methods:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))}
    return await http_exception_handler(request, exc)


def _path_methods(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each documented path as a pattern, with its methods (HEAD wherever GET is: Starlette answers it)."""
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "path_methods", None)
    if table is None:
        table = []
        for path, operations in app.openapi()["paths"].items():
            parts = re.split(r"(\{[^}]+\})", path)
            pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
            methods = {m.upper() for m in operations}
            table.append((re.compile(f"^{pattern}$"), methods | ({"HEAD"} if "GET" in methods else set())))
        app.state.path_methods = table
    return table
