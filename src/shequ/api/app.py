"""The HTTP application: every domain's router, the pages and the static assets."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from xstatic.pkg import leaflet

from shequ import __version__
from shequ.api.errors import install_error_handlers
from shequ.api.headers import SecurityHeaders
from shequ.context import Context

STATIC_DIR = Path(__file__).parent.parent / "web" / "static"

API_DESCRIPTION = """\
Shequ (社区) — the urban and rural community service system.

Registry of divisions (12-digit codes, time-versioned) and facilities; indicators
against the 14th Five-Year Plan targets; life-circle accessibility; service directory
(HSDS 3.0) and service requests (Open311 GeoReport v2).
"""


def create_app(ctx: Context) -> FastAPI:
    """An app serving ``ctx``'s database: JSON API under ``/api/v1``, pages at ``/``."""
    # /docs is Shequ's own page (Swagger UI served locally); FastAPI's loads it from a CDN.
    app = FastAPI(title="Shequ 社区 API", version=__version__, description=API_DESCRIPTION,
                  docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    from shequ.indicators.views import ShortBoardCache

    app.state.short_boards = ShortBoardCache()  # per process: boards of stored runs
    install_error_handlers(app)

    # Routers are imported here, not at module level, so that importing the app factory
    # stays cheap for the CLI.  Community services (accounts, directory, requests):
    # routers of shequ.api and pages.
    from shequ.api import auth as auth_api
    from shequ.api import hsds as hsds_api
    from shequ.api import open311 as open311_api
    from shequ.api import registry as registry_api
    from shequ.api import services as services_api
    from shequ.web import pages, services_pages

    # The public directory and Open311 first: their prefixes are their own, and a request
    # is matched against every route before its own (a tenth of a directory search).
    app.include_router(hsds_api.router, prefix="/hsds")
    app.include_router(open311_api.router, prefix="/open311/v2")
    app.include_router(registry_api.router, prefix="/api/v1")
    app.include_router(auth_api.router, prefix="/api/v1")
    app.include_router(auth_api.pages)
    app.include_router(services_api.router, prefix="/api/v1")
    app.include_router(services_pages.router)
    # Community services, part 2 (bookings, care places, volunteers, reviews): API and pages.
    from shequ.api import bookings, care, reviews, upkeep, volunteers

    for domain in (bookings, care, volunteers, reviews, upkeep):
        app.include_router(domain.router, prefix="/api/v1")
        app.include_router(domain.pages)
    from shequ.api import indicators as indicators_api

    app.include_router(indicators_api.router, prefix="/api/v1")
    app.include_router(indicators_api.pages)
    from shequ.api import plan as plan_api

    app.include_router(plan_api.router)  # /api/v1/plan/… and the /plan pages
    from shequ.api import access as access_api

    app.include_router(access_api.router, prefix="/api/v1")
    app.include_router(access_api.pages)
    from shequ.web import api_docs, assets, work

    app.include_router(assets.router)  # /favicon.ico
    app.include_router(work.router)
    app.include_router(api_docs.router)
    app.include_router(pages.router)

    app.mount("/static/vendor/leaflet", StaticFiles(directory=leaflet.BASE_DIR),
              name="leaflet")
    app.mount(api_docs.SWAGGER_UI_URL, StaticFiles(directory=api_docs.SWAGGER_UI_DIR),
              name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    from shequ.api.limits import RequestLimits

    app.add_middleware(RequestLimits, settings=ctx.settings)  # bounds before any route
    # Added last, so it wraps every other middleware and their answers carry the headers.
    app.add_middleware(SecurityHeaders, production=ctx.settings.environment == "production")
    return app


def app_from_env() -> FastAPI:
    """The app of the deployment the environment names (``SHEQU_*``), already migrated:
    the factory of ``uvicorn --factory shequ.api.app:app_from_env --workers N``."""
    from shequ.settings import Settings

    return create_app(Context.open(Settings.from_env(), migrate=False))
