"""What every page knows and how every page is drawn: one page context, one layout.

:class:`Page` is the request seen by a page: the reader's language, the signed-in user
with their role and jurisdiction, the CSRF token of their session, the sections their
roles can use, and the message of the last action (``?msg=<key>``: a key, never text).
Handlers take it as ``PageDep`` (anonymous readers allowed) or ``SignedInPage`` (a
reader who is not signed in is sent to sign in and brought back), and draw with
:func:`render`, which puts the layout's needs (navigation, language switch, formats)
before the template.  ``page.require(*roles)`` refuses other roles with the 403 page.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from shequ import i18n
from shequ.errors import AccessDenied, NotAuthenticated, NotFoundError
from shequ.http.caller import OptionalUser, csrf_for
from shequ.http.deps import ContextDep, SessionDep
from shequ.registry import queries
from shequ.services import offline
from shequ.services.accounts import (
    HANDLER_ROLES,
    PLANNER_ROLES,
    STAFF_ROLES,
    Role,
    User,
)
from shequ.services.hierarchy import CHANGE_ROLES
from shequ.services.notify.service import unread_count
from shequ.services.requests.workflow import handler_moves

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
LANGUAGE_COOKIE = "lang"


@dataclass(frozen=True, slots=True)
class Section:
    """A part of the product in the top navigation, shown to the roles that can use it
    (``roles`` empty: everyone)."""

    href: str
    key: str
    roles: frozenset[Role] = frozenset()


# The product's sections, in the order of the navigation.
SECTIONS: tuple[Section, ...] = (
    Section("/", "common.home"),
    Section("/services", "services.nav"),
    Section("/bookings", "resident_services.bookings"),
    Section("/care", "resident_services.care"),
    Section("/volunteers", "resident_services.volunteers"),
    Section("/reviews", "resident_services.reviews"),
    Section("/indicators", "indicators.nav"),
    Section("/access", "access.nav"),
    Section("/plan", "plan.nav", PLANNER_ROLES),
    Section("/upkeep", "upkeep.title", STAFF_ROLES),
    Section("/reporting", "reporting.nav", STAFF_ROLES),
    Section("/hierarchy/changes", "hierarchy.title", frozenset(CHANGE_ROLES)),
)


@dataclass(frozen=True, slots=True)
class Crumb:
    """One step of a breadcrumb trail (the last one, the page itself, has no link)."""

    label: str
    href: str | None = None


@dataclass
class Page:
    """The request as a page sees it (see the module docstring)."""

    request: Request
    lang: str
    user: User | None
    csrf: str
    jurisdiction_name: str | None = None
    message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    unread: int = 0  # the signed-in user's unread notifications (the bell's number)

    @property
    def other_lang(self) -> str:
        """The language the switch offers."""
        return "en" if self.lang == "zh-CN" else "zh-CN"

    @property
    def role(self) -> Role | None:
        """The signed-in user's role."""
        return Role(self.user.role) if self.user is not None else None

    @property
    def is_staff(self) -> bool:
        """Whether the user works in the system (any role but resident)."""
        return self.role in STAFF_ROLES

    @property
    def is_handler(self) -> bool:
        """Whether the user works cases (requests, bookings, care, hours, reviews)."""
        return self.role in HANDLER_ROLES

    @property
    def is_planner(self) -> bool:
        """Whether the user plans (indicator runs, life circles, siting)."""
        return self.role in PLANNER_ROLES

    def t(self, key: str, **values: object) -> str:
        """The message ``key`` in the page's language."""
        return i18n.translate(self.lang, key, **values)

    def require(self, *roles: Role) -> User:
        """The user, when signed in with one of ``roles`` (any role when none given);
        else the sign-in page (anonymous) or the 403 page."""
        if self.user is None:
            raise NotAuthenticated("sign in to open this page")
        if roles and Role(self.user.role) not in roles:
            raise AccessDenied(
                f"this page needs one of the roles {', '.join(sorted(r.value for r in roles))}",
                code="page_roles",
                params={"roles": "、".join(i18n.translate(self.lang, f"common.role_{r.value}")
                                           for r in sorted(roles)) if self.lang == "zh-CN"
                        else ", ".join(i18n.translate(self.lang, f"common.role_{r.value}")
                                       for r in sorted(roles))})
        return self.user

    @property
    def sections(self) -> list[Section]:
        """The sections this reader's role can use."""
        role = self.role
        return [s for s in SECTIONS if not s.roles or (role is not None and role in s.roles)]

    def url(self, path: str, **query: object) -> str:
        """``path`` with ``query`` (``None`` values left out)."""
        pairs = {k: v for k, v in query.items() if v is not None and v != ""}
        return path + ("?" + urlencode(pairs) if pairs else "")

    def switch_url(self) -> str:
        """This page in the other language: same path and query, ``lang`` replaced."""
        pairs = [(k, v) for k, v in self.request.query_params.multi_items()
                 if k not in {"lang", "msg"}]
        pairs.append(("lang", self.other_lang))
        return self.request.url.path + "?" + urlencode(pairs)

    def here(self) -> str:
        """This page's path and query (to come back to after signing in)."""
        query = self.request.url.query
        return self.request.url.path + (f"?{query}" if query else "")


def request_language(request: Request) -> str:
    """The language asked for by ``?lang=``, else the ``lang`` cookie, else zh-CN, the
    interface's first language (a browser's ``Accept-Language`` does not decide a page:
    the switch on every page does, and it is remembered)."""
    asked = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return i18n.negotiate(asked) or i18n.DEFAULT_LANGUAGE


def page_of(request: Request, ctx: ContextDep, session: SessionDep,
            user: OptionalUser) -> Page:
    """The page context of ``request`` (a FastAPI dependency)."""
    name: str | None = None
    if user is not None and user.jurisdiction_code:
        try:
            name = queries.division(session, user.jurisdiction_code).name
        except NotFoundError:
            name = user.jurisdiction_code
    message = request.query_params.get("msg")
    # Only a known message key is shown: a link cannot put words on the page.
    if message is not None and not i18n.has_message("en", message):
        message = None
    request.state.user = user
    return Page(request=request, lang=request_language(request), user=user,
                csrf=csrf_for(request, ctx.settings.secret_key),
                jurisdiction_name=name, message=message,
                unread=unread_count(session, user.id) if user is not None else 0)


def signed_in_page(page: Annotated[Page, Depends(page_of)]) -> Page:
    """The page context of a page that needs a signed-in reader."""
    page.require()
    return page


PageDep = Annotated[Page, Depends(page_of)]
SignedInPage = Annotated[Page, Depends(signed_in_page)]


def _environment() -> jinja2.Environment:
    # Autoescape for every template, whatever its file name: every value from the
    # database is HTML-escaped (none is marked safe; the pages' CSP is the backstop).
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    # The version of a record a form changes, sent back so that a write queued offline
    # cannot overwrite a newer one (shequ.services.offline.check_seen).
    env.globals["row_version"] = offline.version_of
    env.globals["drawn_ms"] = lambda: int(time.time() * 1000)  # a page saved offline keeps it
    # A request's workflow, for the page kept offline to show the state of queued steps.
    env.globals["request_moves"] = handler_moves
    return env


templates = Jinja2Templates(env=_environment())


def render(page: Page, template: str, context: Mapping[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    """Draw ``template`` for ``page`` in its language; remember a language asked for by
    ``?lang=`` in a cookie."""
    lang = page.lang
    values: dict[str, Any] = {
        "page": page, "lang": lang, "t": page.t, "user": page.user, "csrf": page.csrf,
        "number": lambda v, digits=None: i18n.number(v, lang, digits=digits),
        "percent": lambda v, digits=0: i18n.percent(v, lang, digits=digits),
        "datetime": lambda v, form="medium": i18n.datetime_text(v, lang, form=form),
        "date": lambda v, form="medium": i18n.date_text(v, lang, form=form),
    }
    values.update(context or {})
    response = templates.TemplateResponse(page.request, template, values,
                                          status_code=status_code)
    response.headers["Content-Language"] = lang
    if page.request.query_params.get("lang"):
        response.set_cookie(LANGUAGE_COOKIE, lang, samesite="lax", max_age=365 * 86400)
    return response
