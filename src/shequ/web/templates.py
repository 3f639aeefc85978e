"""Drawing a page from the request alone, for pages not yet taking a
:class:`~shequ.web.page.Page`: the reader is the one the request's sign-in dependency
found (``request.state.user``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from shequ.http.caller import csrf_for
from shequ.web import page as pages
from shequ.web.page import request_language

__all__ = ["render", "request_language"]


def render(request: Request, template: str, context: dict[str, Any] | None = None,
           *, status_code: int = 200) -> HTMLResponse:
    """Render ``template`` in the request's language, in the layout."""
    page = pages.Page(request=request, lang=request_language(request),
                      user=getattr(request.state, "user", None),
                      csrf=csrf_for(request, request.app.state.ctx.settings.secret_key))
    values = dict(context or {})
    values.setdefault("path", request.url.path)
    values.setdefault("other_lang", page.other_lang)
    values.setdefault("msg", request.query_params.get("msg"))
    return pages.render(page, template, values, status_code=status_code)
