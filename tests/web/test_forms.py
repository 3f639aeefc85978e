"""The forms' rule on SQLite and PostgreSQL: a form that fails is answered at once with
everything typed and each problem by its field, in the reader's language, and nothing of
the handler's writes is kept; a refusal stays a refusal; a form that works is committed
and redirected with a message key, never with text."""

# No "from __future__ import annotations": the routes below are made inside a fixture, and
# FastAPI resolves string annotations in module globals only.

from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import pydantic
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import AccessDenied, ConflictError, ShequError
from shequ.web.forms import back, failed, typed

NOTES = Table("note", MetaData(), Column("id", Integer, primary_key=True),
              Column("text", String(50)))


class Note(BaseModel):
    text: str = Field(min_length=2)
    stars: int = Field(ge=1, le=5)


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
    async def add_note(board: str, request: Request,
                       session: Annotated[Session, Depends(get_session)]) -> Response:
        state = typed(await request.form())
        lang = request.query_params.get("lang", "zh-CN")
        try:
            text = state.value("text")
            session.execute(NOTES.insert().values(text=text))
            session.flush()  # written before the checks below fail
            if text == "taken":
                raise ConflictError("that note is already on the board")
            if text == "secret":
                raise AccessDenied("this board is not yours")
            Note(text=text, stars=state.value("stars"))  # type: ignore[arg-type]
        except AccessDenied:
            raise
        except (ShequError, pydantic.ValidationError) as exc:
            form = failed(state, exc, lang, session=session)
            body: dict[str, Any] = {"values": form.values, "errors": form.errors,
                                    "summary": form.summary}
            return JSONResponse(body, status_code=422)
        return back(f"/boards/{board}", message="common.save")

    yield app, sessions
    NOTES.metadata.drop_all(engine)  # the PostgreSQL database is shared by the session
    engine.dispose()


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(NOTES)) or 0)


def test_a_conflict_is_answered_at_once_and_writes_nothing(
        app_and_sessions: tuple[FastAPI, sessionmaker[Session]]) -> None:
    app, sessions = app_and_sessions
    done = TestClient(app).post("/boards/b7/notes", data={"text": "taken", "stars": "3"})
    assert done.status_code == 422
    assert done.json()["values"] == {"text": "taken", "stars": "3"}  # nothing typed is lost
    assert done.json()["summary"] == [
        [None, "记录的当前状态不允许这一操作，可能已被他人处理。请刷新后查看。"]]
    assert _count(sessions) == 0


def test_bad_input_is_shown_by_each_field_in_the_readers_language(
        app_and_sessions: tuple[FastAPI, sessionmaker[Session]]) -> None:
    app, sessions = app_and_sessions
    client = TestClient(app)
    zh = client.post("/boards/b7/notes", data={"text": "x", "stars": "abc"})
    assert zh.status_code == 422
    assert zh.json()["errors"] == {"text": ["text不能为空"],
                                   "stars": ["stars应为数字，收到“abc”"]}
    en = client.post("/boards/b7/notes?lang=en", data={"text": "ok", "stars": "9"})
    assert en.json()["errors"] == {"stars": ["stars is outside the allowed range"]}
    assert en.json()["values"] == {"text": "ok", "stars": "9"}
    assert _count(sessions) == 0


def test_a_refusal_stays_a_refusal(app_and_sessions: tuple[FastAPI, sessionmaker[Session]]
                                   ) -> None:
    app, sessions = app_and_sessions
    done = TestClient(app).post("/boards/b7/notes", data={"text": "secret", "stars": "1"})
    assert done.status_code == 403
    assert _count(sessions) == 0


def test_a_form_that_works_is_committed_and_says_so_by_key(
        app_and_sessions: tuple[FastAPI, sessionmaker[Session]]) -> None:
    app, sessions = app_and_sessions
    done = TestClient(app).post("/boards/b7/notes", data={"text": "hello", "stars": "5"},
                                follow_redirects=False)
    assert done.status_code == 303
    location = urlsplit(done.headers["location"])
    assert location.path == "/boards/b7"
    assert parse_qs(location.query) == {"msg": ["common.save"]}
    assert _count(sessions) == 1


def test_back_keeps_a_query_the_page_already_has() -> None:
    done = back("/bookings?week=2", message="common.save", year=2026)
    assert done.headers["location"] == "/bookings?week=2&year=2026&msg=common.save"
