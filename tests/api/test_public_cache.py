"""Public answers kept for a moment: the same anonymous read is computed once, a write
of the same process clears it, signed-in and private reads are never kept."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.types import Message, Receive, Scope, Send

from shequ.app import create_app
from shequ.context import Context
from shequ.errors import ConfigurationError
from shequ.http.public_cache import PublicCache
from shequ.registry.models import Division
from shequ.services.accounts import create_user
from shequ.settings import Settings

PASSWORD = "a long test password 123"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """An app answering ``hello <n>`` with its call count (and ``status``)."""

    def __init__(self, status: int = 200, cookie: bool = False, write_status: int = 200,
                 size: int = 0) -> None:
        self.calls = 0
        self.status, self.cookie, self.write_status, self.size = (status, cookie,
                                                                  write_status, size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        headers = [(b"content-type", b"text/plain")]
        if self.cookie:
            headers.append((b"set-cookie", b"visitor=1"))
        status = self.status if scope["method"] == "GET" else self.write_status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        body = f"hello {self.calls}".encode()
        await send({"type": "http.response.body", "body": body.ljust(self.size, b".")})


def _get(app: Any, path: str, method: str = "GET", headers: dict[str, str] | None = None,
         query: str = "") -> tuple[int, bytes]:
    import asyncio

    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    # A thread of its own: a browser test earlier in this worker may have left an event
    # loop running in the main thread, where asyncio.run() is refused.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


def test_an_anonymous_public_read_is_computed_once_until_it_expires() -> None:
    inner, clock = Counting(), Clock()
    cache = PublicCache(inner, seconds=2.0, clock=clock)
    assert _get(cache, "/api/v1/region") == (200, b"hello 1")
    clock.now += 1.9
    assert _get(cache, "/api/v1/region") == (200, b"hello 1")
    clock.now += 0.2
    assert _get(cache, "/api/v1/region") == (200, b"hello 2")
    # The query and the language are part of the key.
    assert _get(cache, "/api/v1/region", query="a=1") == (200, b"hello 3")
    assert _get(cache, "/api/v1/region", headers={"Accept-Language": "en"}) == (200, b"hello 4")
    assert _get(cache, "/api/v1/region", query="a=1") == (200, b"hello 3")


def test_a_write_clears_every_answer() -> None:
    inner, clock = Counting(), Clock()
    cache = PublicCache(inner, seconds=2.0, clock=clock)
    assert _get(cache, "/open311/v2/requests.json") == (200, b"hello 1")
    assert _get(cache, "/api/v1/region") == (200, b"hello 2")
    assert _get(cache, "/open311/v2/requests.json", method="POST") == (200, b"hello 3")
    assert _get(cache, "/open311/v2/requests.json") == (200, b"hello 4")
    assert _get(cache, "/api/v1/region") == (200, b"hello 5")


@pytest.mark.parametrize(("path", "write_status"), [
    ("/open311/v2/requests.json", 409),  # refused: rolled back, nothing changed
    ("/open311/v2/requests.json", 500),
    ("/api/v1/bookings", 201),  # a room's booking changes no public answer
    ("/api/v1/auth/token", 200),
])
def test_refused_and_private_writes_leave_the_answers(path: str, write_status: int) -> None:
    inner, clock = Counting(write_status=write_status), Clock()
    cache = PublicCache(inner, seconds=2.0, clock=clock)
    assert _get(cache, "/open311/v2/requests.json") == (200, b"hello 1")
    assert _get(cache, path, method="POST")[0] == write_status
    assert _get(cache, "/open311/v2/requests.json") == (200, b"hello 1")


def test_the_least_recently_used_answers_go_first_past_the_byte_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shequ.http.public_cache.MAX_BYTES", 3000)
    inner, clock = Counting(size=1000), Clock()
    cache = PublicCache(inner, seconds=2.0, clock=clock)
    for n in range(3):  # 3,000 bytes: all kept
        assert _get(cache, "/api/v1/region", query=f"n={n}")[1].startswith(b"hello %d" % (n + 1))
    assert _get(cache, "/api/v1/region", query="n=0")[1].startswith(b"hello 1")  # used again
    assert _get(cache, "/api/v1/region", query="n=3")[1].startswith(b"hello 4")  # n=1 goes
    assert _get(cache, "/api/v1/region", query="n=0")[1].startswith(b"hello 1")
    assert _get(cache, "/api/v1/region", query="n=2")[1].startswith(b"hello 3")
    assert _get(cache, "/api/v1/region", query="n=1")[1].startswith(b"hello 5")


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer x"},
                                     {"Cookie": "shequ_session=abc"},
                                     {"X-Api-Key": "k"}])
def test_signed_in_reads_are_never_kept(headers: dict[str, str]) -> None:
    inner = Counting()
    cache = PublicCache(inner, seconds=2.0, clock=Clock())
    assert _get(cache, "/api/v1/region", headers=headers) == (200, b"hello 1")
    assert _get(cache, "/api/v1/region", headers=headers) == (200, b"hello 2")


def test_pages_errors_and_cookies_are_never_kept() -> None:
    for path, inner in (("/services", Counting()), ("/api/v1/region", Counting(status=404)),
                        ("/api/v1/region", Counting(cookie=True))):
        cache = PublicCache(inner, seconds=2.0, clock=Clock())
        _get(cache, path)
        _get(cache, path)
        assert inner.calls == 2, path


def test_a_deployment_keeps_public_answers_two_seconds_unless_told() -> None:
    assert Settings.from_env({}).public_cache_seconds == 2.0
    assert Settings.from_env({"SHEQU_PUBLIC_CACHE_SECONDS": "0"}).public_cache_seconds == 0
    assert Settings().public_cache_seconds == 0  # made in code: nothing kept
    with pytest.raises(ConfigurationError, match="SHEQU_PUBLIC_CACHE_SECONDS='soon'"):
        Settings.from_env({"SHEQU_PUBLIC_CACHE_SECONDS": "soon"})


def test_zero_seconds_keeps_nothing() -> None:
    inner = Counting()
    cache = PublicCache(inner, seconds=0, clock=Clock())
    _get(cache, "/api/v1/region")
    _get(cache, "/api/v1/region")
    assert inner.calls == 2


@pytest.fixture
def client(demo_settings: Settings) -> Iterator[tuple[TestClient, Context]]:
    ctx = Context.open(demo_settings.with_(public_cache_seconds=2.0))
    with TestClient(create_app(ctx)) as test_client:
        yield test_client, ctx
    ctx.close()


def test_on_the_real_app_a_rename_by_another_process_shows_after_a_write_here(
        client: tuple[TestClient, Context]) -> None:
    http, ctx = client
    path = "/api/v1/divisions/130123001001"
    before = http.get(path).json()["name"]
    with ctx.sessions() as session:  # another process's write: this one is not told
        session.execute(update(Division).where(Division.code == "130123001001")
                        .values(name="新名社区"))
        session.commit()
    assert http.get(path).json()["name"] == before  # the kept answer, for a moment
    with ctx.sessions.begin() as session:
        create_user(session, username="resident", role="resident", password=PASSWORD)
    token = http.post("/api/v1/auth/token", data={"username": "resident",
                                                  "password": PASSWORD})
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    # A refused write changed nothing: the kept answer stays.
    refused = http.post("/api/v1/service-requests", headers=bearer, json={
        "service_code": "no_such_service", "division_code": "130123001001"})
    assert refused.status_code == 422
    assert http.get(path).json()["name"] == before
    # A write this process serves clears the cache (here a resident's new request).
    written = http.post("/api/v1/service-requests", headers=bearer, json={
        "service_code": "public_repair", "division_code": "130123001001",
        "description": "路灯不亮", "attributes": {"fixture": "streetlight"}})
    assert written.status_code == 201
    assert http.get(path).json()["name"] == "新名社区"
