"""Bounds on every request, on SQLite and PostgreSQL: odd text is a 422 naming the field,
a body over the limit a 413 before sign-in, a busy pool a 503 with ``Retry-After``, and
text longer than its column is refused before it is written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shequ.app import create_app
from shequ.context import Context
from shequ.errors import ValidationError
from shequ.http.limits import MAX_JSON_DEPTH, json_problem
from shequ.registry.models import Division
from shequ.settings import Settings

LIMIT = 4096  # bytes of a body in these tests
UPLOAD_LIMIT = 3 * LIMIT


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Context]]:
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, environment="test",
                        max_body_bytes=LIMIT, max_upload_bytes=UPLOAD_LIMIT,
                        db_pool_size=1, db_pool_timeout=0.2)
    ctx = Context.open(settings, migrate=False)
    with TestClient(create_app(ctx)) as http:
        yield http, ctx
    ctx.close()


def _problem(response: object) -> dict[str, object]:
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"] == "ValidationError"
    (problem,) = body["problems"]
    return dict(problem)


@pytest.mark.parametrize(("url", "source", "column"), [
    ("/api/v1/divisions?q=%00", "query parameter", "q"),
    ("/api/v1/facilities?division=13&type=a%00b", "query parameter", "type"),
    ("/hsds/services?search=%00", "query parameter", "search"),
    ("/open311/v2/requests.json?service_code=%00", "query parameter", "service_code"),
    ("/api/v1/divisions/1301%0023", "path", None),
])
def test_a_nul_in_the_url_is_a_422_naming_where(
        served: tuple[TestClient, Context], url: str, source: str, column: str | None) -> None:
    http, _ = served
    response = http.get(url)
    assert response.status_code == 422
    problem = _problem(response)
    assert (problem["source"], problem["column"]) == (source, column)
    assert "NUL" in str(problem["reason"])


@pytest.mark.parametrize(("text", "reason"), [
    ('"社区\\u0000服务站"', "NUL"),
    ('"\\ud800站"', "surrogate"),
])
def test_odd_text_in_a_json_body_is_a_422_before_sign_in(
        served: tuple[TestClient, Context], text: str, reason: str) -> None:
    http, _ = served
    body = ('{"type_code": "elderly_day_care", "division_code": "130123001001", '
            f'"name": {text}, "tags": ["a", {text}]}}')
    response = http.post("/api/v1/facilities", content=body,
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 422  # not 401: the body is refused before sign-in
    problem = _problem(response)
    assert problem["source"] == "body" and reason in str(problem["reason"])
    assert problem["column"] in ("body.name", "body.tags[1]")


def test_odd_text_in_a_form_is_a_422_naming_the_field(
        served: tuple[TestClient, Context]) -> None:
    http, _ = served
    response = http.post("/open311/v2/requests.json",
                         data={"api_key": "sq_x", "service_code": "public_repair",
                               "description": "a\x00b"})
    assert response.status_code == 422
    assert _problem(response)["column"] == "description"


def test_json_nested_deeper_than_the_limit(served: tuple[TestClient, Context]) -> None:
    http, _ = served
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    assert json_problem(("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH).encode()) is None
    response = http.post("/api/v1/facilities", content=deep,
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "nested deeper than 32" in str(_problem(response)["reason"])
    # Deeper than Python's parser can recurse: still a 422, not a RecursionError.
    abyss = "[" * 2000 + "]" * 2000
    assert http.post("/api/v1/facilities", content=abyss,
                     headers={"Content-Type": "application/json"}).status_code == 422


def test_a_declared_length_over_the_limit_is_a_413_before_sign_in(
        served: tuple[TestClient, Context]) -> None:
    http, _ = served
    response = http.post("/api/v1/service-requests", content=b"{" + b" " * LIMIT + b"}",
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"
    assert f"{LIMIT:,} bytes" in response.json()["detail"]


def test_a_streamed_body_is_cut_off_at_the_limit(served: tuple[TestClient, Context]) -> None:
    http, _ = served

    def chunks(head: bytes, total: int) -> Iterator[bytes]:  # no Content-Length: chunked
        yield head
        for _ in range(total // 1024):
            yield b"x" * 1024

    # A JSON body (read whole by the limits, then checked), and a file upload (counted
    # while the route's form parser reads it): both cut off before sign-in.
    part = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="f.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\n")
    for path, content_type, head, total in (
            ("/api/v1/facilities", "application/json", b"", 2 * LIMIT),
            ("/upkeep/import", "multipart/form-data; boundary=b", part, 2 * UPLOAD_LIMIT)):
        response = http.post(path, content=chunks(head, total),
                             headers={"Content-Type": content_type})
        assert response.status_code == 413, (path, response.text)
        if path.startswith("/api/"):
            assert response.json()["error"] == "PayloadTooLarge"
        else:  # a page's form: the "too large" page, in the reader's language
            assert 'data-status="413"' in response.text
            assert f"{UPLOAD_LIMIT:,} 字节" in response.text


def test_uploads_have_their_own_larger_limit(served: tuple[TestClient, Context]) -> None:
    http, _ = served
    files = {"file": ("facilities.csv", b"name\n" + b"x" * (2 * LIMIT), "text/csv")}
    # Over the JSON limit, under the upload limit: on to sign-in, which refuses it.
    assert http.post("/api/v1/imports/facilities", files=files).status_code == 401
    files = {"file": ("facilities.csv", b"name\n" + b"x" * UPLOAD_LIMIT, "text/csv")}
    assert http.post("/api/v1/imports/facilities", files=files).status_code == 413


def test_a_request_finding_no_connection_is_a_503_with_retry_after(
        served: tuple[TestClient, Context]) -> None:
    http, ctx = served
    assert http.get("/api/v1/region").status_code == 200
    held = [ctx.engine.connect() for _ in range(2)]  # pool of 1, and 1 beyond it
    try:
        busy = http.get("/api/v1/region")
    finally:
        for connection in held:
            connection.close()
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert busy.json()["error"] == "ServiceBusy"
    assert http.get("/api/v1/region").status_code == 200  # and serves again at once


def test_text_longer_than_its_column_is_refused_before_it_is_written(
        served: tuple[TestClient, Context]) -> None:
    _, ctx = served
    length = Division.__table__.c.name.type.length  # type: ignore[attr-defined]
    assert isinstance(length, int)
    with ctx.sessions() as session:
        session.add(Division(code="990000000000", level=1, name="长" * (length + 1),
                             kind="province", valid_from=dt.date(2000, 1, 1),
                             code_source="import", source="test"))
        with pytest.raises(ValidationError) as refused:
            session.flush()
        (problem,) = refused.value.problems
        assert (problem.source, problem.column) == ("division.name", "name")
        assert f"{length + 1:,} characters; at most {length:,}" in problem.reason
        session.rollback()
        session.add(Division(code="990000000000", level=1, name="长" * length,
                             kind="province", valid_from=dt.date(2000, 1, 1),
                             code_source="import", source="test"))
        session.flush()  # exactly the column's length is stored on both back-ends
