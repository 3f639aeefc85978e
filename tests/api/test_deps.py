"""The request session: what a handler writes is committed before the client hears back."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from sqlalchemy import text

from shequ.app import create_app
from shequ.context import Context
from shequ.http.deps import SessionDep
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
