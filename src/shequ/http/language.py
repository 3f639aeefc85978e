"""The language of the names inside a JSON answer (facility types, tiers, indicators).

A page's own script asks the API for data to draw in the page's language, so the JSON
surfaces read the same choice as the pages: ``?lang=``, else the ``lang`` cookie the
language switch leaves, else zh-CN, the interface's first language.  (Problem documents
follow ``Accept-Language`` instead: see :func:`shequ.http.problems.api_language`.)
"""

from __future__ import annotations

from fastapi import Request

from shequ import i18n

LANGUAGE_COOKIE = "lang"


def data_language(request: Request) -> str:
    """The language the names of a JSON answer are given in (see the module docstring)."""
    asked = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return i18n.negotiate(asked) or i18n.DEFAULT_LANGUAGE


__all__ = ["data_language"]
