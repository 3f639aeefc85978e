"""The HTTP application: the JSON API and the pages, over one context.

JSON lives in :mod:`shequ.api` (``/api/v1``, HSDS at ``/hsds``, Open311 at ``/open311/v2``,
photos at ``/media``), pages in :mod:`shequ.web`; both share :mod:`shequ.http` (who is
calling, the request's session, the limits and headers, and the answer to every error:
a problem document on the JSON surfaces, a page in the reader's language elsewhere).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from xstatic.pkg import leaflet

from shequ import __version__
from shequ.context import Context
from shequ.http.headers import SecurityHeaders
from shequ.http.problems import document_problems, install_error_handlers

API_DESCRIPTION = """\
Shequ (社区) — the urban and rural community service system.

Registry of divisions (12-digit codes, time-versioned) and facilities; indicators
against the 14th Five-Year Plan targets; life-circle accessibility; service directory
(HSDS 3.0) and service requests (Open311 GeoReport v2).

Errors are RFC 9457 problem documents (`application/problem+json`) whose `title` and
`detail` follow `Accept-Language` (zh-CN or en; English when the header names neither),
with a stable `code` for programs.
"""

# The JSON routers: (module under shequ.api, URL prefix).
API_ROUTERS: tuple[tuple[str, str], ...] = (
    # The public directory and Open311 first: their prefixes are their own, and a request
    # is matched against every route before its own (a tenth of a directory search).
    ("hsds", "/hsds"),
    ("open311", "/open311/v2"),
    ("registry", "/api/v1"),
    ("hierarchy", "/api/v1"),
    ("boundaries", "/api/v1"),
    ("auth", "/api/v1"),
    ("services", "/api/v1"),
    ("request_handling", "/api/v1"),
    ("media", ""),
    ("bookings", "/api/v1"),
    ("care", "/api/v1"),
    ("volunteers", "/api/v1"),
    ("notify", "/api/v1"),
    ("reviews", "/api/v1"),
    ("upkeep", "/api/v1"),
    ("reporting_rules", "/api/v1"),
    ("reporting", "/api/v1"),
    ("offline", "/api/v1"),
    ("indicators", "/api/v1"),
    ("plan", "/api/v1"),
    ("jobs", "/api/v1"),
    ("access", "/api/v1"),
    ("network", "/api/v1"),
)
# The pages: each module of shequ.web with a ``router``, by domain.
PAGE_ROUTERS: tuple[str, ...] = (
    "account",
    "assets",
    "api_docs",
    "work",
    "registry",
    "indicators",
    "assessment",
    "access",
    "directory",
    "requests",
    "bookings",
    "care",
    "volunteers",
    "notify",
    "reviews",
    "upkeep",
    "hierarchy",
    "reporting_violations",
    "reporting",
    "plan",
    "jobs",
    "offline",
)


def _freeze_startup_objects() -> None:
    """Keep what the process built at start-up out of every later garbage collection.

    A server process holds about 330,000 objects once its modules and the app are built
    (FastAPI, SQLAlchemy, NumPy, the catalog, the routes).  An oldest-generation
    collection walks all of them while holding the GIL: 100–350 ms in which the worker
    answers nobody, which was the whole p99 of the load benchmark.  None of them is
    garbage, so they are moved to the permanent generation (``gc.freeze``); later
    collections walk only what requests create.  Not under test settings, where one
    process builds many apps and should collect them.
    """
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """A serving process: the common public reads answered once (:mod:`shequ.http.warm`)
    and then start-up objects frozen out of garbage collection; the notification
    dispatcher delivering in a thread of it (unless the settings leave it
    to ``shequ notify run``)."""
    ctx: Context = app.state.ctx
    if ctx.settings.environment != "test":
        from shequ.http.warm import warm_up

        app.state.warm_up = await warm_up(app)
        _freeze_startup_objects()
    if not ctx.settings.dispatcher_in_server:
        yield
        return
    from shequ.services.notify.runner import start_in_background

    background = start_in_background(ctx.sessions, ctx.settings)
    try:
        yield
    finally:
        background.stop()


def create_app(ctx: Context) -> FastAPI:
    """An app serving ``ctx``'s database: JSON API under ``/api/v1``, pages at ``/``."""
    import importlib

    from shequ.indicators.views import ShortBoardCache
    from shequ.web import api_docs
    from shequ.web.errors import error_page

    # /docs is Shequ's own page (Swagger UI served locally); FastAPI's loads it from a CDN.
    app = FastAPI(title="Shequ 社区 API", version=__version__, description=API_DESCRIPTION,
                  docs_url=None, redoc_url=None, lifespan=_lifespan)
    app.state.ctx = ctx
    app.state.short_boards = ShortBoardCache()  # per process: boards of stored runs
    from shequ.services.jobs.runner import sweep_interrupted

    sweep_interrupted(ctx)  # jobs a stopped server left running are marked interrupted
    install_error_handlers(app, error_page)
    document_problems(app)
    # Routers are imported here, not at module level, so that importing the app factory
    # stays cheap for the CLI.
    for name, prefix in API_ROUTERS:
        module = importlib.import_module(f"shequ.api.{name}")
        app.include_router(module.router, prefix=prefix)
    for name in PAGE_ROUTERS:
        app.include_router(importlib.import_module(f"shequ.web.{name}").router)

    app.mount("/static/vendor/leaflet", StaticFiles(directory=leaflet.BASE_DIR),
              name="leaflet")
    app.mount(api_docs.SWAGGER_UI_URL, StaticFiles(directory=api_docs.SWAGGER_UI_DIR),
              name="swagger-ui")
    from shequ.web.page import STATIC_DIR

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    from shequ.http.idempotency import IdempotentWrites
    from shequ.http.limits import RequestLimits

    app.add_middleware(IdempotentWrites)  # a write sent again with its key is applied once
    app.add_middleware(RequestLimits, settings=ctx.settings)  # bounds before any route
    from shequ.http.public_cache import PublicCache

    # Outside the bounds: a public answer already made is served without them.
    app.add_middleware(PublicCache, seconds=ctx.settings.public_cache_seconds)
    # Added last, so it wraps every other middleware and their answers carry the headers.
    app.add_middleware(SecurityHeaders, production=ctx.settings.environment == "production")
    return app


def app_from_env() -> FastAPI:
    """The app of the deployment the environment names (``SHEQU_*``), already migrated:
    the factory of ``uvicorn --factory shequ.app:app_from_env --workers N``."""
    from shequ.settings import Settings

    return create_app(Context.open(Settings.from_env(), migrate=False))
