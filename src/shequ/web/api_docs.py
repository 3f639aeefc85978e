"""The OpenAPI document at ``/docs``, drawn by Swagger UI served from Shequ itself.

Swagger UI comes from the ``swagger-ui-bundle-v2`` package (pinned in pyproject.toml), so the
page works with no internet connection and under the pages' Content-Security-Policy: its
initialiser is a static file, not an inline script.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, PlainTextResponse
from swagger_ui_bundle import swagger_ui_path

from shequ.web.page import PageDep, render

SWAGGER_UI_PACKAGE = "swagger-ui-bundle-v2"
SWAGGER_UI_DIR = Path(swagger_ui_path)
SWAGGER_UI_URL = "/static/vendor/swagger-ui"

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def docs(page: PageDep) -> HTMLResponse:
    """Swagger UI on this server's OpenAPI document, in the layout."""
    return render(page, "api_docs.html", {
        "openapi_url": page.request.app.openapi_url, "swagger_ui_url": SWAGGER_UI_URL})


@router.get(f"{SWAGGER_UI_URL}/LICENSE", response_class=PlainTextResponse)
def swagger_ui_licence() -> PlainTextResponse:
    """Swagger UI's licence (Apache-2.0), shipped with the package that bundles it."""
    files = metadata.distribution(SWAGGER_UI_PACKAGE).files or []
    licence = next(f for f in files if f.name == "LICENSE")
    return PlainTextResponse(licence.read_text(encoding="utf-8"))
