"""FastAPI dependencies shared by every router: the context and a database session.

Dependencies that do no I/O are ``async`` so they run on the event loop: FastAPI runs
each plain ``def`` dependency by a trip to its thread pool, and at hundreds of requests
a second those trips (a thread switch, a lock, a wake-up of the loop each) cost more CPU
than the work.  Database work always runs in the pool.

A plain ``def`` route with a response model costs FastAPI two trips: one for its body
and one more to check its answer against the model.  The busiest of them are wrapped in
:func:`one_trip`, which makes the route ``async`` and sends its whole body to the pool
in one trip; the answer is then checked on the loop (pure computation: the body must
answer models or plain values, not database objects still to be loaded).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from shequ.context import Context
from shequ.registry.db import session_factory


async def get_context(request: Request) -> Context:
    """The deployment context the app was created with."""
    ctx: Context = request.app.state.ctx
    return ctx


READS = frozenset({"GET", "HEAD", "OPTIONS"})
P = ParamSpec("P")
T = TypeVar("T")


def one_trip(route: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """``route`` made ``async``: its body runs in the thread pool in one trip, and FastAPI
    checks its answer on the loop (see the module docstring).  FastAPI reads the
    parameters from the wrapped function, so dependencies and queries are unchanged."""

    @functools.wraps(route)
    async def in_the_pool(*args: P.args, **kwargs: P.kwargs) -> T:
        return await run_in_threadpool(route, *args, **kwargs)

    return in_the_pool


def reader_sessions(request: Request) -> sessionmaker[Session]:
    """Sessions for reads: in autocommit mode on PostgreSQL (made once per app).

    A read needs no transaction (PostgreSQL's default isolation gives each statement its
    own snapshot anyway), and on PostgreSQL the BEGIN and COMMIT around it are two of
    the four or five round trips a signed-in read makes.  The little a read writes (a
    session's last-seen time, an audit row of a whole read) is one statement each,
    committed as it is written.  SQLite's driver opens no transaction for reads anyway,
    so there the usual sessions serve.
    """
    state = request.app.state
    sessions: sessionmaker[Session] | None = getattr(state, "reader_sessions", None)
    if sessions is None:
        ctx: Context = state.ctx
        sessions = state.reader_sessions = ctx.sessions if ctx.engine.dialect.name == (
            "sqlite") else session_factory(ctx.engine.execution_options(
                isolation_level="AUTOCOMMIT"))
    return sessions


async def get_session(request: Request, ctx: Annotated[Context, Depends(get_context)]
                      ) -> AsyncIterator[Session]:
    """A session committed when the request succeeds and rolled back when it fails
    (a read's session: see :func:`reader_sessions`).

    Declared with ``scope="function"`` so the commit happens before the response is
    sent: a browser following a 303 after a form post must read what the post wrote.
    Making the session does no I/O (a connection is taken on its first query, in the
    thread pool); the commit or rollback runs in the pool, and is skipped when the
    request never touched the database.
    """
    factory = reader_sessions(request) if request.method in READS else ctx.sessions
    session = factory()
    try:
        yield session
    except Exception:
        await _finish(session, commit=False)
        raise
    await _finish(session, commit=True, autocommit=factory is not ctx.sessions)


async def _finish(session: Session, *, commit: bool, autocommit: bool = False) -> None:
    """End ``session``: in the thread pool when that needs the database, else here.

    A session that never reached the database has nothing to end.  Neither has a read's
    autocommit session that succeeded with nothing pending: its connection is idle (each
    statement committed as it ran), and handing it back to the pool rolls back nothing
    (psycopg sends no ROLLBACK on an idle connection), so it is closed without a trip.
    """
    pending = bool(session.new or session.dirty or session.deleted)
    if not pending and (not session.in_transaction() or (autocommit and commit)):
        session.close()
        return
    await run_in_threadpool(_end, session, commit=commit)


def _end(session: Session, *, commit: bool) -> None:
    """Commit (or roll back) ``session``'s transaction, then close it."""
    try:
        if commit and session.in_transaction():
            session.commit()
    finally:
        session.close()  # rolls back whatever was not committed


ContextDep = Annotated[Context, Depends(get_context)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

# Record ids are 32-bit integers in every back-end; a larger one in a path is a 422, not
# an overflow in the database driver.
MAX_ID = 2_147_483_647
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="record id")]
