"""FastAPI dependencies shared by every router: the context and a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from shequ.context import Context


def get_context(request: Request) -> Context:
    """The deployment context the app was created with."""
    ctx: Context = request.app.state.ctx
    return ctx


def get_session(ctx: Annotated[Context, Depends(get_context)]) -> Iterator[Session]:
    """A session committed when the request succeeds and rolled back when it fails.

    Declared with ``scope="function"`` so the commit happens before the response is
    sent: a browser following a 303 after a form post must read what the post wrote.
    """
    with ctx.sessions() as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


ContextDep = Annotated[Context, Depends(get_context)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

# Record ids are 32-bit integers in every back-end; a larger one in a path is a 422, not
# an overflow in the database driver.
MAX_ID = 2_147_483_647
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="record id")]
