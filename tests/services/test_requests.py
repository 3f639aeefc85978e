"""Service request workflow on SQLite and PostgreSQL: routing by nearest community,
responsible levels, the state machine, reopening, escalation, duplicates, ratings."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from shequ import i18n
from shequ.errors import AccessDenied, ConflictError, NotFoundError, ValidationError
from shequ.registry.models import Division
from shequ.services.accounts import AuditLog, User
from shequ.services.requests import RequestStatus, ServiceRequest, load_request_catalog
from shequ.services.requests import service as rs
from shequ.services.requests.workflow import handler_moves, open311_status

from .conftest import Seeded, seed

CATALOG = load_request_catalog()
T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[tuple[Session, Seeded, dict[str, User]]]:
    session = sessions()
    info = seed(session)
    users = {u.username: u for u in session.scalars(select(User))}
    yield session, info, users
    session.close()


def _submit(session: Session, users: dict[str, User], code: str = "public_repair",
            **kw: object) -> ServiceRequest:
    answers = {"public_repair": {"fixture": "streetlight"}, "elderly_help": {"need": "visit"},
               "facility_complaint": {"topic": "hours"},
               "health_referral": {"urgency": "routine"}}[code]
    now = kw.pop("now", T0)
    draft = rs.RequestDraft(**{"service_code": code, "attributes": answers,  # type: ignore[arg-type]
                               "longitude": 116.4054, "latitude": 39.9156, **kw})
    result = rs.submit_request(session, CATALOG, draft, submitter=users["resident1"],
                               now=now)  # type: ignore[arg-type]
    session.flush()
    return result.request


def test_points_route_to_the_nearest_community(db) -> None:
    session, _, _ = db
    communities = session.scalars(select(Division).where(Division.level == 5)).all()
    rng = random.Random(11)
    for _ in range(30):
        lon, lat = rng.uniform(116.38, 116.42), rng.uniform(39.90, 39.935)

        def dist(d: Division, lon: float = lon, lat: float = lat) -> float:
            # spherical law of cosines: an oracle independent of the haversine code
            assert d.longitude is not None and d.latitude is not None
            p1, p2, dl = map(math.radians, (lat, d.latitude, d.longitude - lon))
            return math.acos(min(1.0, math.sin(p1) * math.sin(p2)
                                 + math.cos(p1) * math.cos(p2) * math.cos(dl)))

        assert rs.nearest_community(session, lon, lat).code == min(communities, key=dist).code


def test_each_kind_goes_to_its_responsible_level(db) -> None:
    session, _, users = db
    assert _submit(session, users).responsible_code == "110101001001"
    assert _submit(session, users, "facility_complaint").responsible_code == "110101001000"
    referral = _submit(session, users, "health_referral")
    assert (referral.division_code, referral.responsible_code) == ("110101001001",
                                                                   "110101000000")
    given = _submit(session, users, longitude=None, latitude=None,
                    division_code="110102001001")
    assert given.responsible_code == "110102001001"
    assert rs.aware(given.deadline_at) - T0 == dt.timedelta(hours=72)


def test_full_workflow_to_a_rating(db) -> None:
    session, _, users = db
    request = _submit(session, users)
    worker = users["worker_dfx"]
    for action, state in [("accept", "accepted"), ("start", "in_progress"),
                          ("resolve", "resolved"), ("close", "closed")]:
        if action == "start":
            rs.act(session, CATALOG, request, user=worker, action="assign",
                   assignee_id=worker.id, now=T0)
            assert request.status == "assigned"
        rs.act(session, CATALOG, request, user=worker, action=action, note=action, now=T0)
        assert request.status == state
    assert open311_status(request.status) == "closed"
    with pytest.raises(AccessDenied):
        rs.rate(session, request, user=users["resident2"], rating=5)
    rs.rate(session, request, user=users["resident1"], rating=4, comment="及时")
    assert request.rating == 4
    with pytest.raises(ConflictError):
        rs.rate(session, request, user=users["resident1"], rating=5)
    history = [e.action for e in rs.events(session, request)]
    assert history == ["submit", "accept", "assign", "start", "resolve", "close", "rate"]


def test_a_submission_leaves_its_event_and_its_audit_row(db) -> None:
    session, _, users = db
    request = _submit(session, users)
    session.commit()
    events = [(e.action, e.from_status, e.to_status, e.user_id)
              for e in rs.events(session, request)]
    assert events == [("submit", None, "submitted", users["resident1"].id)]
    rows = session.scalars(select(AuditLog).where(AuditLog.entity == "service_request",
                                                  AuditLog.entity_id == str(request.id))).all()
    assert [(a.action, a.user_id, a.username) for a in rows] == [
        ("create", users["resident1"].id, "resident1")]
    assert json.loads(rows[0].detail or "") == {
        "api_key_id": None, "division_code": "110101001001", "service_code": "public_repair"}
    assert rs.aware(rows[0].at) == T0


def test_a_submission_after_a_rolled_back_one_is_stored(db) -> None:
    # SQLite hands the rolled-back row's id out again; the session must take the new row.
    session, _, users = db
    session.commit()
    first = _submit(session, users)  # still referenced, as a retry's traceback keeps it
    session.rollback()
    again = _submit(session, users, description="second try")
    session.commit()
    session.expire_all()
    stored = session.get(ServiceRequest, again.id)
    assert stored is again and stored.description == "second try"
    assert first is not again
    assert session.scalar(select(func.count()).select_from(ServiceRequest)) == 1


def test_state_machine_and_jurisdiction_are_enforced(db) -> None:
    session, _, users = db
    request = _submit(session, users)
    with pytest.raises(ConflictError, match="cannot be 'resolve'"):
        rs.act(session, CATALOG, request, user=users["worker_dfx"], action="resolve")
    with pytest.raises(AccessDenied):
        rs.act(session, CATALOG, request, user=users["worker_yz"], action="accept")
    with pytest.raises(AccessDenied):
        rs.act(session, CATALOG, request, user=users["planner_dc"], action="accept")
    with pytest.raises(AccessDenied):
        rs.act(session, CATALOG, request, user=users["resident1"], action="close")
    with pytest.raises(ValidationError, match="cannot handle"):
        rs.act(session, CATALOG, request, user=users["worker_dfx"], action="assign",
               assignee_id=users["worker_xjmx"].id)
    rs.act(session, CATALOG, request, user=users["officer_dhm"], action="accept")
    assert request.status == "accepted"


def test_reopen_only_within_the_window(db) -> None:
    session, _, users = db
    request = _submit(session, users)
    rs.act(session, CATALOG, request, user=users["worker_dfx"], action="close", now=T0)
    rs.act(session, CATALOG, request, user=users["resident1"], action="reopen",
           now=T0 + dt.timedelta(days=6))
    assert (request.status, request.reopen_count) == ("accepted", 1)
    rs.act(session, CATALOG, request, user=users["worker_dfx"], action="close", now=T0)
    with pytest.raises(ConflictError, match="more than 7 days"):
        rs.act(session, CATALOG, request, user=users["resident1"], action="reopen",
               now=T0 + dt.timedelta(days=7, seconds=1))
    with pytest.raises(AccessDenied):
        rs.act(session, CATALOG, request, user=users["resident2"], action="reopen",
               now=T0 + dt.timedelta(days=1))


def test_overdue_requests_escalate_one_level_each_deadline(db) -> None:
    session, _, users = db
    request = _submit(session, users)
    done = _submit(session, users, longitude=116.4121, latitude=39.9301)
    assert rs.escalate_overdue(session, CATALOG, now=T0 + dt.timedelta(hours=71)) == []
    moved = rs.escalate_overdue(session, CATALOG, now=T0 + dt.timedelta(hours=73))
    assert {r.id for r in moved} == {request.id, done.id}
    assert (request.responsible_code, request.escalation_level) == ("110101001000", 1)
    assert rs.aware(request.deadline_at) == T0 + dt.timedelta(hours=73 + 72)
    with pytest.raises(AccessDenied):
        rs.act(session, CATALOG, request, user=users["worker_dfx"], action="accept")
    rs.escalate_overdue(session, CATALOG, now=T0 + dt.timedelta(hours=146))
    assert request.responsible_code == "110101000000"
    rs.act(session, CATALOG, request, user=users["admin"],
           action="accept")
    rs.act(session, CATALOG, request, user=users["admin"], action="resolve")
    later = rs.escalate_overdue(session, CATALOG, now=T0 + dt.timedelta(days=30))
    assert request not in later and done in later  # resolved requests stop escalating
    assert request.status == RequestStatus.RESOLVED.value


def test_duplicates_are_nearby_open_requests_of_the_same_kind(db) -> None:
    session, _, users = db
    first = _submit(session, users)
    near = rs.submit_request(session, CATALOG, rs.RequestDraft(
        "public_repair", attributes={"fixture": "path"}, longitude=116.4055, latitude=39.9157),
        submitter=users["resident2"], now=T0)
    assert [r.id for r in near.possible_duplicates] == [first.id]  # about 14 m away
    far = rs.submit_request(session, CATALOG, rs.RequestDraft(
        "public_repair", attributes={"fixture": "path"}, longitude=116.4070, latitude=39.9156),
        submitter=users["resident2"], now=T0)
    assert far.possible_duplicates == []  # about 137 m, outside the 100 m radius
    rs.act(session, CATALOG, first, user=users["worker_dfx"], action="close", now=T0)
    again = rs.possible_duplicates(session, CATALOG.service("public_repair"), 116.4054,
                                   39.9156, now=T0)
    assert [r.id for r in again] == [near.request.id]


def test_contact_phone_is_encrypted_and_masked_for_outsiders(db) -> None:
    session, _, users = db
    request = _submit(session, users, contact_phone="13900001111")
    stored = session.execute(text("SELECT contact_phone_enc FROM service_request WHERE id = :i"),
                             {"i": request.id}).scalar_one()
    assert len(stored) > 11 and b"13900001111" not in bytes(stored)
    assert rs.contact_phone(request, user=users["worker_dfx"],
                            session=session) == "13900001111"
    assert rs.contact_phone(request, user=users["planner_dc"],
                            session=session) == "139****1111"
    assert rs.contact_phone(request, user=None, session=session) == "139****1111"


def test_the_moves_a_device_without_signal_shows_follow_the_workflow() -> None:
    moves = handler_moves()
    assert moves["submitted"] == [("accept", "accepted"), ("assign", "assigned"),
                                  ("update", "submitted"), ("close", "closed")]
    assert moves["accepted"] == [("assign", "assigned"), ("start", "in_progress"),
                                 ("update", "accepted"), ("resolve", "resolved"),
                                 ("close", "closed")]
    assert moves["resolved"] == [("update", "resolved"), ("close", "closed")]
    assert moves["closed"] == []  # reopening is the submitter's, not the handler's form


def test_an_unknown_facility_is_told_to_pages_with_the_directory_as_the_way_on(db) -> None:
    session, _, users = db
    with pytest.raises(NotFoundError) as caught:
        _submit(session, users, code="facility_complaint", facility_id=987654)
    exc = caught.value
    assert (exc.code, exc.params, exc.listed_on) == ("services.no_facility", {"id": 987654},
                                                     "/services")
    # the API hint stays in the English text for logs and the command line ...
    assert str(exc) == ("no facility with id 987654; GET /api/v1/facilities?division=… "
                        "lists them")
    # ... while pages and API answers say it in the reader's words
    assert i18n.describe(exc, "zh-CN") == ("没有编号为 987654 的设施，可能已被删除或地址有误。"
                                           "“找服务”页列出了附近的设施。")
    assert i18n.describe(exc, "en") == ("There is no facility 987654; it may have been "
                                        "removed or the address is wrong. Find a service "
                                        "lists the facilities near you.")
