"""What every page form shares: the sign-in redirect, the redirect after a post (303)
with a message key or an error text for the page to show, and one rule for errors.

The rule (:func:`errors_back_to`): an error the user can act on — bad input, a broken
booking rule, a conflict, a record gone meanwhile — sends them back to the form's page
with the message, and whatever the handler had written is rolled back first, so nothing
half-done is committed.  Being refused (:class:`~shequ.errors.AccessDenied`) is not such
an error: it stays the 403 page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec
from urllib.parse import quote, urlencode

import pydantic
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from shequ.errors import AccessDenied, ShequError

P = ParamSpec("P")


def login_redirect(request: Request) -> RedirectResponse:
    """Send an anonymous visitor of a page to the sign-in form, and back afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target), status_code=303)


def back(path: str, *, message: str | None = None, error: str | None = None) -> RedirectResponse:
    """Redirect after a form (303), carrying a message key or an error text to show."""
    query = {k: v for k, v in (("msg", message), ("error", error)) if v}
    separator = "&" if "?" in path else "?"
    return RedirectResponse(path + (separator + urlencode(query) if query else ""),
                            status_code=303)


def errors_back_to(path: str) -> Callable[[Callable[P, Response]], Callable[P, Response]]:
    """Decorate a form handler with the module's rule for errors.

    ``path`` is the page to go back to; ``{name}`` in it is filled from the handler's
    arguments (e.g. ``"/bookings/resources/{resource_id}"``).  The handler must take its
    database session as ``session``.
    """
    def decorate(handler: Callable[P, Response]) -> Callable[P, Response]:
        @functools.wraps(handler)
        def run(*args: P.args, **kwargs: P.kwargs) -> Response:
            try:
                return handler(*args, **kwargs)
            except AccessDenied:
                raise
            except (ShequError, pydantic.ValidationError) as exc:
                session = kwargs.get("session")
                if isinstance(session, Session):
                    session.rollback()
                return back(path.format_map(kwargs), error=str(exc))
        return run
    return decorate
