"""The division a page is about, read from its ``?division=`` (a 12-digit code, a prefix
of one, or ``nation``), and the breadcrumbs of the hierarchy above it, shared by the
indicator and life-circle pages."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from shequ.errors import NotFoundError, ValidationError
from shequ.indicators.definitions import NATION_CODE
from shequ.registry import queries
from shequ.registry.codes import normalise_code
from shequ.registry.models import Division
from shequ.web.page import Crumb, Page

NATION_ALIASES = frozenset({"nation", NATION_CODE})


def division_of(session: Session, code: str | None, *, error_code: str,
                as_of: dt.date | None = None) -> Division | None:
    """The division ``code`` names on ``as_of`` (default today; ``None`` and ``nation``:
    the nation, returned as None).  An unknown or malformed code is the 404 page saying
    ``errors.<error_code>`` (with ``{division}``), whatever was wrong with it."""
    if code is None or code.strip() in NATION_ALIASES:
        return None
    try:
        return queries.division(session, normalise_code(code), as_of=as_of)
    except (ValidationError, NotFoundError) as exc:
        raise NotFoundError(f"no division with code {code!r}", code=error_code,
                            params={"division": code}) from exc


def hierarchy_crumbs(page: Page, trail: list[tuple[str, str]], path: str,
                     **query: object) -> list[Crumb]:
    """Breadcrumbs from the nation down a ``trail`` of (code, name), province first, each
    a link to ``path`` for that division with ``query`` kept; the last, the page itself,
    is drawn without its link."""
    crumbs = [Crumb(page.t("common.nation"), page.url(path, division="nation", **query))]
    crumbs += [Crumb(name, page.url(path, division=code, **query)) for code, name in trail]
    return crumbs


def trail_of(session: Session, unit: Division | None, *,
             as_of: dt.date | None = None) -> list[tuple[str, str]]:
    """(code, name) of ``unit`` and the divisions above it, province first."""
    if unit is None:
        return []
    return [(a.code, a.name) for a in queries.ancestors(session, unit.code, as_of=as_of)]


__all__ = ["NATION_ALIASES", "division_of", "hierarchy_crumbs", "trail_of"]
