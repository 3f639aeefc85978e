"""The forms' error rule on SQLite and PostgreSQL: an error the user can act on goes back to
the page with its message and leaves nothing of the handler's writes; a refusal stays a
403; a form that succeeds is committed."""

# No "from __future__ import annotations": the routes below are made inside a fixture, and
# FastAPI resolves string annotations in module globals only.

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import AccessDenied, ConflictError
from shequ.web.forms import back, errors_back_to

NOTES = Table("note", MetaData(), Column("id", Integer, primary_key=True),
              Column("text", String(50)))


class Note(BaseModel):
    text: str = Field(min_length=2)


@pytest.fixture
def app_and_sessions(db_url: str) -> Iterator[tuple[FastAPI, sessionmaker[Session]]]:
    engine = create_engine(db_url)
    NOTES.metadata.create_all(engine)
    sessions = sessionmaker(engine)

    def get_session() -> Iterator[Session]:  # committed when the handler returns
        with sessions() as session:
            yield session
            session.commit()

    app = FastAPI()

    @app.exception_handler(AccessDenied)
    def refused(request: Request, exc: AccessDenied) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    @app.post("/boards/{board}/notes")
    @errors_back_to("/boards/{board}")
    def add_note(board: str, session: Annotated[Session, Depends(get_session)],
                 text: Annotated[str, Form()]) -> Response:
        session.execute(NOTES.insert().values(text=text))
        session.flush()  # written before the checks below fail
        if text == "taken":
            raise ConflictError("that note is already on the board")
        if text == "secret":
            raise AccessDenied("this board is not yours")
        Note(text=text)  # pydantic: at least two characters
        return back(f"/boards/{board}", message="added")

    yield app, sessions
    NOTES.metadata.drop_all(engine)  # the PostgreSQL database is shared by the session
    engine.dispose()


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(NOTES)) or 0)


def test_a_conflict_goes_back_with_its_message_and_writes_nothing(
        app_and_sessions: tuple[FastAPI, sessionmaker[Session]]) -> None:
    app, sessions = app_and_sessions
    client = TestClient(app)
    done = client.post("/boards/b7/notes", data={"text": "taken"}, follow_redirects=False)
    assert done.status_code == 303
    location = urlsplit(done.headers["location"])
    assert location.path == "/boards/b7"  # the template filled from the handler's arguments
    assert parse_qs(location.query) == {"error": ["that note is already on the board"]}
    assert _count(sessions) == 0


def test_bad_input_caught_by_a_model_goes_back_too(
        app_and_sessions: tuple[FastAPI, sessionmaker[Session]]) -> None:
    app, sessions = app_and_sessions
    done = TestClient(app).post("/boards/b1/notes", data={"text": "x"},
                                follow_redirects=False)
    assert done.status_code == 303
    assert "at least 2 characters" in parse_qs(urlsplit(done.headers["location"]).query)[
        "error"][0]
    assert _count(sessions) == 0


def test_a_refusal_is_not_sent_back(app_and_sessions: tuple[FastAPI, sessionmaker[Session]]
                                    ) -> None:
    app, sessions = app_and_sessions
    done = TestClient(app).post("/boards/b1/notes", data={"text": "secret"},
                                follow_redirects=False)
    assert done.status_code == 403
    assert _count(sessions) == 0


def test_a_form_that_succeeds_is_committed(
        app_and_sessions: tuple[FastAPI, sessionmaker[Session]]) -> None:
    app, sessions = app_and_sessions
    done = TestClient(app).post("/boards/b1/notes", data={"text": "hello"},
                                follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/boards/b1?msg=added"
    assert _count(sessions) == 1


def test_back_keeps_a_query_the_page_already_has() -> None:
    assert back("/bookings/resources/3?day=2026-12-01", error="full").headers["location"] == (
        "/bookings/resources/3?day=2026-12-01&error=full")
    assert back("/care").headers["location"] == "/care"
