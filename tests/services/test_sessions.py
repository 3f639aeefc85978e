"""Server-side sessions: signing out, password changes and administrators end them at once;
idle and absolute time-outs; the list of one's sign-ins; production refuses demo data and
demo accounts; nobody confirms their own volunteer hours or approves their own booking."""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from shequ.context import Context
from shequ.errors import AccessDenied
from shequ.services.accounts import AuditLog, User, create_user
from shequ.services.accounts.models import AccountSession, SessionKind
from shequ.services.accounts.sessions import (
    SessionPolicy,
    resolve_session,
    start_session,
    utc,
)
from shequ.services.accounts.tokens import csrf_token, read_token
from shequ.services.accounts.users import DEMO_PASSWORD, authenticate

from .conftest import PASSWORD, SECRET, Seeded, password_hash, seed, services_settings

STRONG = "quiet lantern orbit meadow"
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Context, Seeded]]:
    """The app over the seeded region, on SQLite and on PostgreSQL, with the default
    session policy (60 min idle, 8 h page, 12 h token)."""
    from shequ.app import create_app

    ctx = Context.open(services_settings(db_url, tmp_path / "data").with_(
        session_idle_minutes=60, token_max_hours=12), migrate=False)
    with ctx.sessions() as session:
        seeded = seed(session)
    with TestClient(create_app(ctx)) as client:
        yield client, ctx, seeded
    ctx.close()


def _token(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    answer = client.post("/api/v1/auth/token", data={"username": username,
                                                     "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": "Bearer " + answer.json()["access_token"]}


def _page_login(client: TestClient, username: str) -> str:
    """Sign in through the form; the CSRF token of the new page session."""
    client.cookies.clear()
    form = client.get("/login")
    visitor = form.cookies.get("shequ_visitor") or client.cookies.get("shequ_visitor")
    assert visitor
    answer = client.post("/login", data={"username": username, "password": PASSWORD,
                                         "csrf_token": csrf_token(SECRET, "visitor:" + visitor)},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    cookie = client.cookies.get("shequ_session")
    assert cookie
    claims = read_token(SECRET, cookie, kind="page")
    assert claims is not None
    return csrf_token(SECRET, claims.session_key)


def test_sign_out_ends_the_page_session_and_the_old_cookie_is_refused(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _ctx, _seeded = served
    csrf = _page_login(client, "worker_dfx")
    cookie = client.cookies.get("shequ_session")
    assert client.get("/api/v1/auth/me").json()["username"] == "worker_dfx"
    assert client.post("/logout", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    client.cookies.set("shequ_session", cookie or "")  # replay the old cookie
    replay = client.get("/api/v1/auth/me")
    assert replay.status_code == 401
    assert replay.headers["www-authenticate"] == "Bearer"


def test_api_sign_out_revokes_the_bearer_token_only(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _ctx, _seeded = served
    first, second = _token(client, "planner_dc"), _token(client, "planner_dc")
    assert client.post("/api/v1/auth/logout", headers=first).json() == {"sessions_ended": 1}
    refused = client.get("/api/v1/auth/me", headers=first)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert client.get("/api/v1/auth/me", headers=second).status_code == 200


def test_list_and_end_one_of_ones_sessions(served: tuple[TestClient, Context, Seeded]) -> None:
    client, _ctx, _seeded = served
    mine, other = _token(client, "worker_yz"), _token(client, "worker_yz")
    listed = client.get("/api/v1/auth/sessions", headers=mine).json()
    # The seeded token (made without a request) and the two just issued.
    assert sorted((s["kind"], s["current"]) for s in listed) == [
        ("bearer", False), ("bearer", False), ("bearer", True)]
    assert [s["source_address"] for s in listed].count("testclient") == 2
    other_id = max(s["id"] for s in listed if not s["current"])
    assert client.delete(f"/api/v1/auth/sessions/{other_id}", headers=mine).status_code == 200
    assert client.get("/api/v1/auth/me", headers=other).status_code == 401
    assert sorted(s["current"] for s in client.get("/api/v1/auth/sessions",
                                                   headers=mine).json()) == [False, True]
    # Another user's session id is not found (and stays valid).
    stranger = _token(client, "worker_xjmx")
    theirs = client.get("/api/v1/auth/sessions", headers=stranger).json()[0]["id"]
    assert client.delete(f"/api/v1/auth/sessions/{theirs}", headers=mine).status_code == 404
    assert client.get("/api/v1/auth/me", headers=stranger).status_code == 200


def test_password_change_ends_every_session_and_refuses_weak_passwords(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _ctx, _seeded = served
    one, two = _token(client, "officer_dhm"), _token(client, "officer_dhm")
    weak = client.post("/api/v1/auth/password", headers=one,
                       json={"current_password": PASSWORD, "new_password": "password1"})
    assert weak.status_code == 422
    assert "too easy to guess" in weak.json()["detail"]
    assert "passphrase" in weak.json()["problems"][0]["hint"]
    wrong = client.post("/api/v1/auth/password", headers=one,
                        json={"current_password": "not the password", "new_password": STRONG})
    assert wrong.status_code == 403
    changed = client.post("/api/v1/auth/password", headers=one,
                          json={"current_password": PASSWORD, "new_password": STRONG})
    assert changed.json() == {"sessions_ended": 3}  # with the seeded token
    for headers in (one, two):
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert client.post("/api/v1/auth/token", data={"username": "officer_dhm",
                                                   "password": PASSWORD}).status_code == 401
    assert client.get("/api/v1/auth/me",
                      headers=_token(client, "officer_dhm", STRONG)).status_code == 200


def test_administrator_deactivates_resets_and_changes_role_with_audit(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, ctx, seeded = served
    admin_h = _token(client, "admin")
    worker_h = _token(client, "worker_dfx")
    uid = seeded.users["worker_dfx"]
    assert client.post(f"/api/v1/accounts/{uid}/deactivate",
                       headers=worker_h).status_code == 403  # not an administrator
    ended = client.post(f"/api/v1/accounts/{uid}/deactivate", headers=admin_h)
    assert ended.json() == {"sessions_ended": 2}  # with the seeded token
    assert client.get("/api/v1/auth/me", headers=worker_h).status_code == 401
    assert client.post("/api/v1/auth/token", data={"username": "worker_dfx",
                                                   "password": PASSWORD}).status_code == 401
    back = client.post(f"/api/v1/accounts/{uid}/reactivate", headers=admin_h)
    assert back.json()["active"] is True
    worker_h = _token(client, "worker_dfx")
    moved = client.put(f"/api/v1/accounts/{uid}/role", headers=admin_h,
                       json={"role": "street_officer", "jurisdiction_code": "110101002000"})
    assert (moved.json()["role"], moved.json()["jurisdiction_code"]) == (
        "street_officer", "110101002000")
    assert client.get("/api/v1/auth/me", headers=worker_h).status_code == 401
    wrong_level = client.put(f"/api/v1/accounts/{uid}/role", headers=admin_h,
                             json={"role": "community_worker",
                                   "jurisdiction_code": "110101002000"})
    assert wrong_level.status_code == 422 and "level" in wrong_level.json()["detail"]
    weak = client.post(f"/api/v1/accounts/{uid}/reset-password", headers=admin_h,
                       json={"new_password": "12345678"})
    assert weak.status_code == 422
    reset = client.post(f"/api/v1/accounts/{uid}/reset-password", headers=admin_h,
                        json={"new_password": STRONG})
    assert reset.status_code == 200
    self_off = client.post(f"/api/v1/accounts/{seeded.users['admin']}/deactivate",
                           headers=admin_h)
    assert self_off.status_code == 409 and "another administrator" in self_off.json()["detail"]
    with ctx.sessions() as session:
        actions = session.scalars(select(AuditLog.action).where(
            AuditLog.entity == "user", AuditLog.entity_id == str(uid),
            AuditLog.user_id == seeded.users["admin"]).order_by(AuditLog.id)).all()
    assert actions == ["deactivate", "reactivate", "change_role", "reset_password"]


def test_idle_and_absolute_time_outs_and_last_seen_written_once_a_minute(
        sessions: sessionmaker[Session]) -> None:
    policy = SessionPolicy()  # 60 min idle, 8 h page
    with sessions() as session:
        user = create_user(session, username="clock", password_hash=password_hash(),
                           role="resident")
        row, token = start_session(session, SECRET, user, kind=SessionKind.PAGE,
                                   policy=policy, now=T0)
        session.commit()
        row_id = row.id

        def at(minutes: float) -> bool:
            found = resolve_session(session, SECRET, token, kind=SessionKind.PAGE,
                                    policy=policy, now=T0 + dt.timedelta(minutes=minutes))
            session.commit()
            return found is not None

        def seen() -> dt.datetime:
            stored = session.get(AccountSession, row_id)
            assert stored is not None
            session.refresh(stored)
            return utc(stored.last_seen_at)

        assert at(0.5) and seen() == T0  # under a minute: no write
        assert at(1.5) and seen() == T0 + dt.timedelta(minutes=1.5)
        assert not at(1.5 + 60)  # an hour unused
        # Used every 50 minutes, it still ends 8 hours after it began.
        _row2, token2 = start_session(session, SECRET, user, kind=SessionKind.PAGE,
                                     policy=policy, now=T0)
        session.commit()
        alive = [resolve_session(session, SECRET, token2, kind=SessionKind.PAGE, policy=policy,
                                 now=T0 + dt.timedelta(minutes=50 * k)) is not None
                 for k in range(1, 11)]
        assert alive == [True] * 9 + [False]  # 450 min ok, 500 min > 480 refused
        # A page token is not a bearer token, and a forged one never reaches the rows.
        assert resolve_session(session, SECRET, token2, kind=SessionKind.BEARER,
                               policy=policy, now=T0) is None
        assert resolve_session(session, "x" * 40, token2, kind=SessionKind.PAGE,
                               policy=policy, now=T0) is None


def test_the_sessions_page_lists_and_signs_out_in_both_languages(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _ctx, _seeded = served
    api = _token(client, "resident1")
    csrf = _page_login(client, "resident1")
    zh = client.get("/account/sessions")
    assert zh.status_code == 200 and "我的登录" in zh.text and "API 令牌" in zh.text
    en = client.get("/account/sessions?lang=en")
    assert "Your sign-ins" in en.text and "API token" in en.text and "(this one)" in en.text
    bearer_id = next(s["id"] for s in client.get("/api/v1/auth/sessions", headers=api).json()
                     if s["current"])
    ended = client.post(f"/account/sessions/{bearer_id}/end", data={"csrf_token": csrf},
                        follow_redirects=False)
    assert ended.status_code == 303
    assert client.get("/api/v1/auth/me", headers=api).status_code == 401
    weak = {"csrf_token": csrf, "current_password": PASSWORD, "new_password": "password123"}
    english = client.post("/account/password", data=weak)  # the lang cookie says en now
    assert english.status_code == 422 and "too easy to guess" in english.text
    chinese = client.post("/account/password?lang=zh-CN", data=weak)
    assert chinese.status_code == 422 and "太容易被猜到" in chinese.text
    assert client.get("/api/v1/auth/me").status_code == 200  # a refused change ends nothing


def test_production_refuses_demo_accounts_however_they_got_in(
        sessions: sessionmaker[Session]) -> None:
    from argon2 import PasswordHasher

    with sessions() as session:
        demo = create_user(session, username="demo_planner",
                           password_hash=PasswordHasher().hash(DEMO_PASSWORD),
                           role="national_planner")
        other = create_user(session, username="copied_demo",
                            password_hash=PasswordHasher().hash(DEMO_PASSWORD), role="admin")
        session.commit()
        assert authenticate(session, "demo_planner", DEMO_PASSWORD) is not None
        for name in ("demo_planner", "copied_demo"):
            assert authenticate(session, name, DEMO_PASSWORD, environment="production") is None
        _row, token = start_session(session, SECRET, demo, kind=SessionKind.BEARER)
        session.commit()
        production = SessionPolicy(environment="production")
        assert resolve_session(session, SECRET, token, kind=SessionKind.BEARER) is not None
        assert resolve_session(session, SECRET, token, kind=SessionKind.BEARER,
                               policy=production) is None
        assert other.active


def test_demo_refuses_production_before_writing_anything(tmp_path: Path) -> None:
    from shequ.cli import app

    database = tmp_path / "prod.sqlite3"
    key = base64.b64encode(os.urandom(32)).decode()
    env = {"SHEQU_ENV": "production", "SHEQU_SECRET_KEY": "p" * 48,
           "SHEQU_DATABASE_URL": f"sqlite:///{database}", "SHEQU_DATA_DIR": str(tmp_path),
           "SHEQU_DATA_KEYS": f"k1:{key}", "SHEQU_LOOKUP_KEY": key}
    result = CliRunner().invoke(app, ["demo", "--no-serve"], env=env)
    assert result.exit_code != 0
    assert "production" in result.output
    assert not database.exists()  # nothing written, not even an empty schema


def test_nobody_confirms_their_own_hours_or_approves_their_own_booking(
        sessions: sessionmaker[Session]) -> None:
    from shequ.registry.columns import CHINA_TZ
    from shequ.services.bookings import service as bookings
    from shequ.services.bookings.models import BookingStatus
    from shequ.services.bookings.rules import Booker
    from shequ.services.volunteers import service as volunteers
    from shequ.services.volunteers.models import OrganiserKind

    with sessions() as session:
        seeded = seed(session)
        worker, other = seeded.users["worker_dfx"], seeded.users["officer_dhm"]
        community = "110101001001"
        # China local time without a zone, as the services keep it.
        now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ).replace(tzinfo=None)
        volunteers.register(session, user_id=worker, division_code=community,
                            display_name="worker as volunteer", now=now)
        act = volunteers.publish(
            session, division_code=community, organiser_kind=OrganiserKind("community"),
            organiser_name="多福巷社区", organiser_user_id=worker, title="清扫楼道",
            starts_at=now + dt.timedelta(days=1), ends_at=now + dt.timedelta(days=1, hours=2),
            now=now)
        signup = volunteers.sign_up(session, activity_id=act.id, user_id=worker, now=now)
        later = now + dt.timedelta(days=1, hours=3)
        volunteers.record_hours(session, signup.id, minutes=120, recorded_by=worker, now=later)
        with pytest.raises(AccessDenied, match="your own; another community worker"):
            volunteers.confirm_hours(session, signup.id, confirmed_by=worker, now=later)
        confirmed = volunteers.confirm_hours(session, signup.id, confirmed_by=other, now=later)
        assert (confirmed.hours_status, confirmed.minutes) == ("confirmed", 120)

        facility = seeded.facilities["多福巷社区综合服务站"]
        room = bookings.create_resource(session, facility_id=facility, name="活动室",
                                        opening_hours="Mo-Su 08:00-20:00",
                                        approval_required=True, now=now)
        own = bookings.book(session, resource_id=room.id,
                            booker=Booker(user_id=worker, role="community_worker",
                                          division_code=community),
                            starts_at=now + dt.timedelta(days=2),
                            ends_at=now + dt.timedelta(days=2, hours=1),
                            purpose="居民议事会", now=now)
        assert own.status == BookingStatus.PENDING.value
        with pytest.raises(AccessDenied, match="your own; another community worker"):
            bookings.decide(session, own.id, approve=True, decided_by=worker, now=now)
        assert bookings.decide(session, own.id, approve=True, decided_by=other,
                               now=now).status == BookingStatus.APPROVED.value
        assert session.scalar(select(func.count()).select_from(User)) == len(seeded.users)
