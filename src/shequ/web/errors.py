"""Errors as pages: in the reader's language, in the layout, with a way on.

The app installs :func:`error_page` as the renderer of every refusal on a page path
(:func:`shequ.http.problems.install_error_handlers`): 401 sends a GET to the sign-in
form, which brings the reader back; 403, 404, 409, 422, 429, 500 and 503 are drawn as
a page saying what happened and offering the ways on that fit the reader (back, home,
sign in, the workbench, and for a missing record the page that lists such records).
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from shequ import i18n
from shequ.errors import NotAuthenticated, NotFoundError, ShequError
from shequ.http.caller import SESSION_COOKIE, csrf_for
from shequ.services.accounts import User
from shequ.services.accounts.models import SessionKind
from shequ.services.accounts.sessions import SessionPolicy, resolve_session
from shequ.web.page import Page, render, request_language


def _reader(request: Request) -> User | None:
    """The signed-in reader, read anew in a session of its own: the request's session
    has been rolled back by the error (an unknown path even ran none)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    ctx = request.app.state.ctx
    with ctx.sessions() as session:
        found = resolve_session(session, ctx.settings.secret_key, cookie,
                                kind=SessionKind.PAGE, policy=SessionPolicy.of(ctx.settings))
        if found is None:
            return None
        session.refresh(found.user)  # loaded now, kept when the session closes
        session.expunge(found.user)
        request.state.session_id = found.key
        return found.user


def _same_site_referrer(request: Request) -> str | None:
    referrer = request.headers.get("referer")
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.netloc and parts.netloc != request.url.netloc:
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return target if target != request.url.path else None


def error_page(request: Request, exc: ShequError, status: int) -> Response:
    """The page answering ``exc`` (see the module docstring)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if isinstance(exc, NotAuthenticated) and request.method in {"GET", "HEAD"}:
        return RedirectResponse("/login?next=" + quote(here), status_code=303)
    user = _reader(request)
    ctx = request.app.state.ctx
    page = Page(request=request, lang=request_language(request), user=user,
                csrf=csrf_for(request, ctx.settings.secret_key))
    problems = [(i18n.where(p, page.lang), i18n.describe_problem(p, page.lang))
                for p in getattr(exc, "problems", ())]
    detail = i18n.describe(exc, page.lang)
    if problems:  # listed below, one to a line: the detail keeps only its first line
        detail = detail.split("\n", 1)[0]
    if "/api/" in detail:  # an English text's API hint is for API callers, not readers
        detail = i18n.translate(page.lang, f"errors.kind.{exc.kind}.detail")
    # A missing record's way on: the page that lists such records, named in words.
    listed_on = exc.listed_on if isinstance(exc, NotFoundError) else None
    way_on_key = f"errors.{exc.code}.way_on"
    listed = ((listed_on, i18n.translate(page.lang, way_on_key))
              if listed_on and i18n.has_message(page.lang, way_on_key) else None)
    response = render(page, "error.html", {
        "status": status, "title": i18n.error_title(exc, page.lang),
        "detail": detail, "code": exc.code, "problems": problems,
        "referrer": _same_site_referrer(request), "here": here, "listed": listed,
    }, status_code=status)
    for header, value in (getattr(exc, "headers", None) or {}).items():
        if header.lower() != "www-authenticate":
            response.headers[header] = value
    return response
