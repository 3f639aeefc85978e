"""The request session: what a handler writes is committed before the client hears back."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from starlette.concurrency import run_in_threadpool

from shequ.app import create_app
from shequ.context import Context
from shequ.http.caller import OptionalUser
from shequ.http.deps import SessionDep
from shequ.services.accounts import create_user, hash_password
from shequ.services.accounts.models import SessionKind
from shequ.services.accounts.sessions import start_session
from shequ.settings import Settings


def test_the_write_is_committed_before_the_response_is_sent(settings: Settings) -> None:
    ctx = Context.open(settings)
    with ctx.engine.begin() as conn:
        conn.execute(text("CREATE TABLE commit_probe (n INTEGER NOT NULL)"))
    app = create_app(ctx)

    @app.post("/probe")
    def probe(session: SessionDep) -> StreamingResponse:
        session.execute(text("INSERT INTO commit_probe (n) VALUES (7)"))

        def body() -> Iterator[bytes]:
            # Runs while the response is being sent, on a connection of its own: the
            # row is there only if the request's session has already committed.
            with ctx.engine.connect() as other:
                seen = other.execute(text("SELECT count(*) FROM commit_probe")).scalar_one()
            yield str(seen).encode()

        return StreamingResponse(body(), media_type="text/plain")

    try:
        with TestClient(app) as http:
            assert http.post("/probe").text == "1"
    finally:
        with ctx.engine.begin() as conn:
            conn.execute(text("DROP TABLE commit_probe"))
        ctx.close()


def test_a_signed_in_read_gives_its_connection_back_after_the_look_up(
        settings: Settings) -> None:
    """A read's caller is looked up and the connection handed back in one trip, so a
    route doing no database work ends without another; a write keeps its transaction."""
    ctx = Context.open(settings)
    with ctx.sessions.begin() as session:
        user = create_user(session, username="reader", role="resident",
                           password_hash=hash_password("a long test password 123"))
        _, token = start_session(session, settings.secret_key, user,
                                 kind=SessionKind.BEARER)
    app = create_app(ctx)

    @app.api_route("/probe", methods=["GET", "POST"])
    async def probe(user: OptionalUser, session: SessionDep) -> dict[str, object]:
        return {"user": user.username if user else None,
                "holding": session.in_transaction()}

    try:
        with TestClient(app) as http:
            bearer = {"Authorization": f"Bearer {token}"}
            assert http.get("/probe", headers=bearer).json() == {"user": "reader",
                                                                "holding": False}
            assert http.post("/probe", headers=bearer).json() == {"user": "reader",
                                                                 "holding": True}
            assert http.get("/probe").json() == {"user": None, "holding": False}
    finally:
        ctx.close()


def test_a_read_on_postgresql_ends_on_the_event_loop_without_database_work(
        settings: Settings) -> None:
    """An autocommit read's connection goes back to the pool from the event loop (it is
    idle: nothing to roll back); SQLite's reads and every write end in the thread pool."""
    ctx = Context.open(settings)
    app = create_app(ctx)
    loop_thread: list[int] = []
    checked_in: list[int] = []

    @event.listens_for(ctx.engine, "checkin")
    def _seen(*_: object) -> None:
        checked_in.append(threading.get_ident())

    @app.api_route("/probe", methods=["GET", "POST"])
    async def probe(session: SessionDep) -> int:
        loop_thread.append(threading.get_ident())
        return await run_in_threadpool(
            lambda: int(session.execute(text("SELECT 40 + 2")).scalar_one()))

    try:
        with TestClient(app) as http:
            assert http.get("/probe").json() == 42
            on_loop = checked_in[-1] == loop_thread[-1]
            assert on_loop is (ctx.engine.dialect.name == "postgresql")
            assert http.post("/probe").json() == 42
            assert checked_in[-1] != loop_thread[-1]
            assert ctx.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        ctx.close()
