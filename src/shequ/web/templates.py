"""Jinja2 templates with the translator, the language switch and the navigation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from shequ.web.i18n import LANGUAGES, normalise_language, translate

TEMPLATES_DIR = Path(__file__).with_name("templates")

# (path, message key) of the pages in the top navigation; each domain adds its own.
NAVIGATION: list[tuple[str, str]] = [
    ("/", "common.home"),
    ("/indicators", "indicators.nav"),
    ("/bookings", "resident_services.bookings"),
    ("/services", "services.nav"),
    ("/plan", "plan.nav"),
    ("/access", "access.nav"),
]

# Autoescape for every template, whatever its file name: every value from the database is
# HTML-escaped unless a template says otherwise (none does; the pages' CSP is the backstop).
templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True))


def request_language(request: Request) -> str:
    """The language asked for by ``?lang=``, else the ``lang`` cookie, else zh-CN."""
    return normalise_language(request.query_params.get("lang") or request.cookies.get("lang"))


def render(request: Request, template: str, context: dict[str, Any] | None = None,
           *, status_code: int = 200) -> HTMLResponse:
    """Render ``template`` in the request's language; remember the choice in a cookie."""
    lang = request_language(request)
    other = "en" if lang == "zh-CN" else "zh-CN"

    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    page = {"lang": lang, "other_lang": other, "languages": LANGUAGES, "t": t,
            "navigation": NAVIGATION, "path": request.url.path}
    page.update(context or {})
    response = templates.TemplateResponse(request, template, page, status_code=status_code)
    if request.query_params.get("lang"):
        response.set_cookie("lang", lang, samesite="lax")
    return response
