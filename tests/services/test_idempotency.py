"""Writes queued on a device without signal, on SQLite and PostgreSQL: each idempotency
key is applied once and answered with its first answer, and a write made against an
older version of the record is refused with both versions.

First the service (:mod:`shequ.services.offline`) on its own, then the real app: a
worker's workflow step and a facility's correction sent twice with one key (one event,
one change), a key reused elsewhere, and a stale version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shequ.app import create_app
from shequ.context import Context
from shequ.errors import ConfigurationError, ConflictError, ValidationError
from shequ.registry.db import make_engine, session_factory
from shequ.registry.models import Facility
from shequ.registry.queries import set_meta
from shequ.services import offline
from shequ.services.requests.models import ServiceRequestEvent
from shequ.settings import Settings

from .conftest import PASSWORD, Seeded, seed, services_settings

KEY = "0f8b6a52-3c1d-4e9a-9b7e-5d2c1a0e4f11"
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Context, Seeded]]:
    """The app over the seeded region on ``db_url`` (SQLite, then PostgreSQL)."""
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
        set_meta(session, region_code="110101000000")
        session.commit()
    engine.dispose()
    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with TestClient(create_app(ctx)) as http:
        yield http, ctx, seeded
    ctx.close()


# ---- the service ------------------------------------------------------------------------


def test_a_key_is_applied_once_and_answered_with_its_first_answer(
        served: tuple[TestClient, Context, Seeded]) -> None:
    _, ctx, seeded = served
    worker = seeded.users["worker_dfx"]
    with ctx.sessions() as session:
        assert offline.claim(session, key=KEY, user_id=worker, method="post",
                             path="/upkeep/facilities/1", now=T0) is None
        # While the first write runs, the same key waits (409), it is not run twice.
        with pytest.raises(ConflictError) as running:
            offline.claim(session, key=KEY, user_id=worker, method="POST",
                          path="/upkeep/facilities/1")
        assert running.value.code == "offline.key_running"
        offline.finish(session, key=KEY, user_id=worker, status=303,
                       location="/upkeep?code=110101001001&msg=upkeep.facility_saved",
                       content_type=None, body=b"", now=T0)
        answer = offline.claim(session, key=KEY, user_id=worker, method="POST",
                               path="/upkeep/facilities/1")
        assert answer == offline.Answer(
            status=303, location="/upkeep?code=110101001001&msg=upkeep.facility_saved",
            content_type=None, body=b"",
            # SHA-256 of nothing, as every reference lists it
            body_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        # The key is the user's own: another user's same key is another write.
        other = seeded.users["worker_yz"]
        assert offline.claim(session, key=KEY, user_id=other, method="POST",
                             path="/upkeep/facilities/1") is None
        # Used for another address, the key is refused, naming the first use.
        with pytest.raises(ValidationError) as reused:
            offline.claim(session, key=KEY, user_id=worker, method="POST",
                          path="/upkeep/facilities/2")
        assert reused.value.code == "offline.key_reused"
        assert reused.value.params == {"method": "POST", "path": "/upkeep/facilities/1"}
        rows = session.scalar(select(func.count()).select_from(offline.IdempotencyKey))
        assert rows == 2


def test_a_refused_caller_frees_the_key_and_bad_keys_are_refused(
        served: tuple[TestClient, Context, Seeded]) -> None:
    _, ctx, seeded = served
    worker = seeded.users["worker_dfx"]
    with ctx.sessions() as session:
        for status in (401, 403, 500, 503):
            assert offline.claim(session, key=KEY, user_id=worker, method="POST",
                                 path="/x") is None
            offline.finish(session, key=KEY, user_id=worker, status=status)
        assert session.scalar(select(func.count()).select_from(offline.IdempotencyKey)) == 0
        # A problem of the form (422) or a conflict (409) is the write's answer: kept.
        offline.claim(session, key=KEY, user_id=worker, method="POST", path="/x")
        offline.finish(session, key=KEY, user_id=worker, status=409,
                       content_type="text/html; charset=utf-8", body="冲突".encode())
        answer = offline.claim(session, key=KEY, user_id=worker, method="POST", path="/x")
        assert answer is not None and (answer.status, answer.body) == (409, "冲突".encode())
        assert answer.body_sha256 == hashlib.sha256("冲突".encode()).hexdigest()
        for bad in ("short", "has space in it", "x" * 65, "semi;colon-1234"):
            with pytest.raises(ValidationError) as refused:
                offline.claim(session, key=bad, user_id=worker, method="POST", path="/x")
            assert refused.value.code == "offline.bad_key"
        assert offline.forget_before(session, dt.datetime.now(dt.UTC) + dt.timedelta(1)) == 1


def _keys_left(ctx: Context) -> list[str]:
    with ctx.sessions() as session:
        return sorted(session.scalars(select(offline.IdempotencyKey.key)))


def test_keys_past_their_retention_are_purged_and_fresh_ones_stay(
        served: tuple[TestClient, Context, Seeded], monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from shequ.cli import app as shequ
    from shequ.services.notify.runner import periodic_jobs

    _, ctx, seeded = served
    worker = seeded.users["worker_dfx"]
    assert ctx.settings.idempotency_retention_days == 7  # the default
    ages = {"eight-days-old": dt.timedelta(days=8), "seven-days-old": dt.timedelta(days=7),
            "six-days-23h-old": dt.timedelta(days=6, hours=23),
            "just-now-sent": dt.timedelta(0)}
    with ctx.sessions() as session:
        for key, age in ages.items():
            offline.claim(session, key=key, user_id=worker, method="POST", path="/x",
                          now=T0 - age)
        # Older than the 7 days before T0 is purged; exactly 7 days old is not yet.
        assert offline.forget_expired(session, retention_days=7, now=T0) == 1
    assert _keys_left(ctx) == ["just-now-sent", "seven-days-old", "six-days-23h-old"]

    # The dispatcher's periodic job purges by the settings' retention, from the real clock.
    now = dt.datetime.now(dt.UTC)
    with ctx.sessions() as session:
        offline.claim(session, key="a-fortnight-old", user_id=worker, method="POST",
                      path="/x", now=now - dt.timedelta(days=14))
        offline.claim(session, key="an-hour-old-key", user_id=worker, method="POST",
                      path="/x", now=now - dt.timedelta(hours=1))
    periodic_jobs(ctx.sessions, ctx.settings)
    assert _keys_left(ctx) == ["an-hour-old-key"]

    # By hand: `shequ offline forget-keys`, with the setting or --days.
    with ctx.sessions() as session:
        offline.claim(session, key="three-days-old", user_id=worker, method="POST",
                      path="/x", now=now - dt.timedelta(days=3))
    monkeypatch.setenv("SHEQU_DATABASE_URL", ctx.settings.effective_database_url)
    monkeypatch.setenv("SHEQU_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("SHEQU_ENV", "test")
    monkeypatch.setenv("SHEQU_IDEMPOTENCY_RETENTION_DAYS", "4")
    runner = CliRunner()
    kept = runner.invoke(shequ, ["offline", "forget-keys"])
    assert kept.exit_code == 0, kept.output
    assert "0 idempotency key(s) older than 4 day(s) purged" in kept.output
    purged = runner.invoke(shequ, ["offline", "forget-keys", "--days", "2"])
    assert purged.exit_code == 0, purged.output
    assert "1 idempotency key(s) older than 2 day(s) purged" in purged.output
    assert _keys_left(ctx) == ["an-hour-old-key"]
    refused = runner.invoke(shequ, ["offline", "forget-keys", "--days", "0"])
    assert refused.exit_code == 2 and "--days" in refused.output
    monkeypatch.setenv("SHEQU_IDEMPOTENCY_RETENTION_DAYS", "0")
    with pytest.raises(ConfigurationError, match="SHEQU_IDEMPOTENCY_RETENTION_DAYS='0'"):
        Settings.from_env()


def test_a_version_is_the_hash_of_what_the_form_showed() -> None:
    shown = {"name": "多福巷社区综合服务站", "phone": "", "capacity": "30"}
    text = '{"capacity": "30", "name": "多福巷社区综合服务站", "phone": ""}'
    assert json.dumps(shown, sort_keys=True, ensure_ascii=False) == text
    version = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert offline.version_of(shown) == version
    offline.check_seen(version, shown, entity="facility", entity_id=7)
    offline.check_seen("", shown, entity="facility", entity_id=7)  # no version: unchecked
    with pytest.raises(ConflictError) as stale:
        offline.check_seen(version, {**shown, "capacity": "40"}, entity="facility",
                           entity_id=7)
    assert stale.value.code == "offline.stale_version"
    assert stale.value.params["seen"] == version
    assert stale.value.params["current"] == offline.version_of({**shown, "capacity": "40"})


# ---- through the app ----------------------------------------------------------------------


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _login(client: TestClient, username: str) -> None:
    token = _csrf(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text


def _version(html: str, action: str) -> str:
    form = html.split(f'action="{action}', 1)[1].split("</form>", 1)[0]
    found = re.search(r'name="seen_version" value="([0-9a-f]{16})"', form)
    assert found is not None, form
    return found.group(1)


def test_a_workflow_step_sent_twice_is_one_step(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, ctx, seeded = served
    created = client.post("/api/v1/service-requests",
                          headers={"Authorization": f"Bearer {seeded.tokens['resident1']}"},
                          json={"service_code": "public_repair",
                                "division_code": "110101001001",
                                "attributes": {"fixture": "path"}}).json()
    _login(client, "worker_dfx")
    act = f"/services/requests/{created['id']}/act"
    queue = client.get("/services/queue").text
    form = {"action": "accept", "note": "已受理", "back": "queue",
            "csrf_token": _csrf(queue), "seen_version": _version(queue, act)}
    answers = [client.post(act, data=form, headers={"Idempotency-Key": KEY},
                           follow_redirects=False) for _ in range(3)]
    assert [a.status_code for a in answers] == [303, 303, 303]
    assert {a.headers["location"] for a in answers} == {"/services/queue?msg=services.saved"}
    assert [a.headers.get("idempotent-replayed") for a in answers] == [None, "true", "true"]
    # The hidden form field is a key too (a form posted twice by a double tap).
    form_key = {**form, "action": "update", "note": "上门查看", "seen_version": "",
                "idempotency_key": "5e0c2d9a-77aa-4b43-8f0e-0d7f7f1c2b30"}
    for _ in range(2):
        assert client.post(act, data=form_key, follow_redirects=False).status_code == 303
    with ctx.sessions() as session:
        actions = list(session.scalars(select(ServiceRequestEvent.action).where(
            ServiceRequestEvent.request_id == created["id"]).order_by(ServiceRequestEvent.id)))
    assert actions == ["submit", "accept", "update"]
    # The same key for another address is a problem document, nothing is done.
    reused = client.post(f"/upkeep/facilities/{seeded.facilities['多福巷社区综合服务站']}",
                         data={"csrf_token": form["csrf_token"]},
                         headers={"Idempotency-Key": KEY, "Accept-Language": "en"})
    assert reused.status_code == 422
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["code"] == "offline.key_reused"
    assert act in reused.json()["title"]
    # A device still holding the cookie of a session that ended: the refusal is not the
    # write's answer, so the key stays free for when the worker signs in again.
    cookies = dict(client.cookies)
    assert client.post("/logout", data={"csrf_token": form["csrf_token"]},
                       follow_redirects=False).status_code == 303
    client.cookies.update(cookies)
    late = "9d1f6a0e-2b3c-4d5e-8f90-a1b2c3d4e5f6"
    ended = client.post(act, data={**form, "action": "update", "note": "迟到的记录",
                                   "seen_version": ""},
                        headers={"Idempotency-Key": late}, follow_redirects=False)
    assert ended.status_code == 401
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(offline.IdempotencyKey).where(
            offline.IdempotencyKey.key == late)) == 0
        assert session.scalar(select(func.count()).select_from(ServiceRequestEvent).where(
            ServiceRequestEvent.request_id == created["id"])) == 3


def test_a_correction_against_an_older_version_shows_both(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, ctx, seeded = served
    facility_id = seeded.facilities["多福巷社区综合服务站"]
    _login(client, "worker_dfx")
    page = client.get("/upkeep?code=110101001001").text
    action = f"/upkeep/facilities/{facility_id}"
    seen = _version(page, action)
    with ctx.sessions() as session:
        found = session.get(Facility, facility_id)
        assert found is not None
        before = offline.facility_snapshot(found)
        assert seen == offline.version_of(before)
        found.phone = "010-65550000"  # someone else, meanwhile
        session.commit()
    mine = {**before, "phone": "010-12345678", "code": "110101001001",
            "csrf_token": _csrf(page), "seen_version": seen}
    refused = client.post(action, data=mine, headers={"Idempotency-Key": KEY})
    assert refused.status_code == 409
    assert "这条记录在您看到之后已被修改" in refused.text
    # Sent again (the outbox retrying), the same refusal; nothing was overwritten.
    again = client.post(action, data=mine, headers={"Idempotency-Key": KEY})
    assert (again.status_code, again.text) == (409, refused.text)
    # The outbox asks for the server's version to show beside the worker's.
    current = client.get("/api/v1/offline/current", params={"path": action}).json()
    assert current["entity"] == "facility" and current["id"] == facility_id
    assert current["fields"] == {**before, "phone": "010-65550000"}
    assert current["version"] == offline.version_of(current["fields"])
    # Keeping theirs: sent again against the new version, with a new key.
    kept = client.post(action, data={**mine, "seen_version": current["version"]},
                       headers={"Idempotency-Key": "b1c2d3e4-0000-4000-8000-000000000001"},
                       follow_redirects=False)
    assert kept.status_code == 303
    with ctx.sessions() as session:
        stored = session.get(Facility, facility_id)
        assert stored is not None and stored.phone == "010-12345678"
    # Another community's worker may not read the record.
    client.cookies.clear()
    _login(client, "worker_xjmx")
    assert client.get("/api/v1/offline/current",
                      params={"path": action}).status_code == 403
