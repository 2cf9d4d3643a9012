"""The FastAPI application: settings, database (migrated on start), routers and error mapping.

Routes are thin: they check who asks, call domain code, and shape the answer. ``ParcoursError`` subclasses map
to HTTP statuses here, so no route turns bad input into a 500.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from limits import storage
from sqlalchemy.exc import DataError

from parcours import __version__
from parcours.errors import Conflict, Forbidden, IndexMismatch, NotFound, ParcoursError, ValidationFailed
from parcours.settings import Settings, get_settings
from parcours.store.engine import migrate, session_factory
from serving.middleware import BodyLimit, SecurityHeaders, out_of_range, validation_error
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
from serving.security import LoginGuard, RateLimit
from serving.services.recommendations import RecommenderState, load_recommender

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
        trainings.load_catalogue_search(app, settings)
        app.state.recommender = load_recommender(app.state.session_factory, settings, app.state.catalogue_search)
        set_model_version(app.state.recommender.model_version)
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
    app.state.search_limit = RateLimit.parse(settings.search_rate_per_user, "searches", storage.MemoryStorage())
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(OverflowError, out_of_range)
    app.add_exception_handler(DataError, out_of_range)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContext)  # outermost: request id, access log and metrics cover every answer
    app.state.recommender = RecommenderState(None, "starting")
    app.state.catalogue_search = None

    @app.exception_handler(ParcoursError)
    async def parcours_error(_request: Request, exc: ParcoursError) -> JSONResponse:
        status = next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 400)
        detail: object = str(exc)
        if isinstance(exc, ValidationFailed):
            detail = exc.problems
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
