"""Rate limits that hold: keyed by address and account, never by what the client sends;
lockout with back-off; counters shared by worker processes (Redis or the database)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from shequ.context import Context
from shequ.errors import TooManyRequests
from shequ.services.accounts.throttle import (
    SIGN_IN_PER_ADDRESS,
    SqlStorage,
    Throttle,
    lock_seconds,
)

from .conftest import PASSWORD, SECRET, Seeded, free_port, seed, services_settings

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_lock_seconds_double_from_the_fifth_failure_and_stop_at_an_hour() -> None:
    assert [lock_seconds(n) for n in range(1, 13)] == [
        0, 0, 0, 0, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_sql_storage_counts_expires_and_clears(engine: Engine) -> None:
    storage = SqlStorage(engine)
    assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.get("k") == 3
    assert time.time() + 50 < storage.get_expiry("k") <= time.time() + 60
    storage.clear("k")
    assert storage.get("k") == 0
    assert storage.incr("old", -1) == 1  # a window that has already ended
    assert storage.get("old") == 0
    assert storage.incr("old", 60, amount=2) == 2  # starts over, not 3
    assert storage.check()
    assert storage.reset() == 1 and storage.get("old") == 0


def test_lockout_backs_off_and_says_when_to_retry(engine: Engine) -> None:
    throttle = Throttle(SqlStorage(engine), "test")
    for _ in range(4):
        assert throttle.sign_in_failed("Planner_DC") == 0
        throttle.check_sign_in("planner_dc")
    assert throttle.sign_in_failed("planner_dc ") == 60  # one bucket whatever the case
    with pytest.raises(TooManyRequests, match=r"locked .* retry in 6\d s, after") as locked:
        throttle.check_sign_in("planner_dc")
    assert 59 <= locked.value.retry_after <= 61
    assert throttle.sign_in_failed("planner_dc") == 120
    throttle.sign_in_succeeded("planner_dc")
    throttle.check_sign_in("planner_dc")  # unlocked, back-off starts over
    assert throttle.sign_in_failed("planner_dc") == 0


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Seeded]]:
    from shequ.app import create_app

    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with ctx.sessions() as session:
        seeded = seed(session)
    with TestClient(create_app(ctx)) as test_client:
        yield test_client, seeded
    ctx.close()


def _attempts(client: TestClient, count: int, *, random_headers: bool) -> list[int]:
    codes = []
    for i in range(count):
        headers = ({"Authorization": "Bearer " + secrets.token_urlsafe(24),
                    "X-Api-Key": secrets.token_hex(8)} if random_headers else {})
        client.cookies.set("shequ_session", secrets.token_urlsafe(16))
        codes.append(client.post("/api/v1/auth/token", headers=headers,
                                 data={"username": f"guess{i}", "password": "wrong-guess"}
                                 ).status_code)
    return codes


@pytest.mark.slow
def test_random_authorization_headers_do_not_escape_the_address_limit(
        client: tuple[TestClient, Seeded]) -> None:
    test_client, _seeded = client
    with_headers = _attempts(test_client, 200, random_headers=True)
    assert with_headers == [401] * SIGN_IN_PER_ADDRESS + [429] * (200 - SIGN_IN_PER_ADDRESS)


@pytest.mark.slow
def test_without_headers_the_same_200_attempts_are_limited_alike(
        client: tuple[TestClient, Seeded]) -> None:
    test_client, _seeded = client
    plain = _attempts(test_client, 200, random_headers=False)
    assert plain == [401] * SIGN_IN_PER_ADDRESS + [429] * (200 - SIGN_IN_PER_ADDRESS)
    refused = test_client.post("/api/v1/auth/token",
                               data={"username": "admin", "password": PASSWORD})
    assert refused.status_code == 429  # the right password too, from this address
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert "try again in" in refused.json()["detail"]


def test_an_account_locks_after_five_failures_and_the_page_says_until_when(
        client: tuple[TestClient, Seeded]) -> None:
    test_client, _seeded = client
    wrong = [test_client.post("/api/v1/auth/token", data={
        "username": "worker_yz", "password": f"wrong-{i}"}).status_code for i in range(5)]
    assert wrong == [401] * 5
    locked = test_client.post("/api/v1/auth/token",
                              data={"username": "worker_yz", "password": PASSWORD})
    assert locked.status_code == 429 and "locked" in locked.json()["detail"]
    assert 59 <= int(locked.headers["retry-after"]) <= 61
    from shequ.services.accounts.tokens import csrf_token

    test_client.get("/login?lang=en")
    visitor = test_client.cookies.get("shequ_visitor") or ""
    page = test_client.post("/login", data={
        "username": "worker_yz", "password": PASSWORD,
        "csrf_token": csrf_token(SECRET, "visitor:" + visitor)})
    assert page.status_code == 429 and "Try again in" in page.text
    assert page.headers["retry-after"]
    # Other accounts from the same address still sign in.
    assert test_client.post("/api/v1/auth/token", data={
        "username": "worker_dfx", "password": PASSWORD}).status_code == 200


def _serve(workers: int, database: Path, secret: str, redis_url: str | None
           ) -> subprocess.Popen[bytes]:
    port = free_port()
    env = {**os.environ, "SHEQU_ENV": "test", "SHEQU_SECRET_KEY": secret,
           "SHEQU_DATABASE_URL": f"sqlite:///{database}",
           "SHEQU_DATA_DIR": str(database.parent)}
    env.pop("SHEQU_REDIS_URL", None)
    if redis_url:
        env["SHEQU_REDIS_URL"] = redis_url
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "shequ.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    process.port = port  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/auth/me", timeout=2
                         ).status_code == 401:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    error = process.stderr.read() if process.stderr else b""
    raise RuntimeError(f"uvicorn did not start: {error!r}")


def _not_refused(port: int, count: int) -> int:
    """How many of ``count`` sign-in attempts from this address were not answered 429."""
    passed = 0
    # A new connection per attempt, so the kernel spreads them over the workers.
    for i in range(count):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            code = http.post("/api/v1/auth/token", data={
                "username": f"guess{i}", "password": "wrong-guess"},
                headers={"Authorization": "Bearer " + secrets.token_urlsafe(16)}).status_code
        passed += code != 429
    return passed


@pytest.mark.slow
@pytest.mark.parametrize("store", ["redis", "database"])
def test_two_workers_share_the_limit(store: str, seeded_template: tuple[Path, Seeded],
                                     tmp_path: Path) -> None:
    if store == "redis":
        redis.Redis.from_url(REDIS_URL).ping()  # the test needs the real Redis
    results = {}
    for workers in (1, 2):
        database = tmp_path / f"w{workers}" / "shequ.sqlite3"
        database.parent.mkdir()
        shutil.copyfile(seeded_template[0], database)
        secret = secrets.token_hex(24)  # a fresh namespace in the shared Redis
        server = _serve(workers, database, secret, REDIS_URL if store == "redis" else None)
        try:
            results[workers] = _not_refused(server.port, 45)  # type: ignore[attr-defined]
        finally:
            server.terminate()
            server.wait(timeout=30)
    # Counters in each process would let 2 × 20 through with two workers.
    assert results == {1: SIGN_IN_PER_ADDRESS, 2: SIGN_IN_PER_ADDRESS}
