"""The resident-services pages render in both languages for the right people, and their forms work
through the page session (cookie + CSRF token)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.context import Context
from shequ.i18n import message_domains
from shequ.registry.models import Facility
from shequ.services.bookings import service as bs
from shequ.services.bookings.clock import local_now
from shequ.services.bookings.models import Booking

PASSWORD = "password-123"
RESIDENT_PAGES = ["/bookings", "/care", "/volunteers", "/reviews"]
WORKER_PAGES = ["/bookings/manage", "/care/manage", "/volunteers/manage", "/reviews/manage"]
# A message key shown raw (``domain.key``, the domain a translation file): a missing message.
RAW_KEY = re.compile(r"(?<![\w/.-])(?:"
                     + "|".join(sorted(message_domains()))
                     + r")\.[a-z_][a-z_0-9]*\b")


def sign_in(client: TestClient, username: str) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    done = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form token"
    return match.group(1)


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    for path in RESIDENT_PAGES + WORKER_PAGES:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=" + path


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_pages_render_for_residents_and_workers(client: TestClient, lang: str) -> None:
    sign_in(client, "resident1")
    for path in RESIDENT_PAGES:
        page = client.get(f"{path}?lang={lang}")
        assert page.status_code == 200, path
        assert RAW_KEY.findall(page.text) == [], f"untranslated key on {path}"
    for path in WORKER_PAGES:
        assert client.get(path).status_code == 403, path
    sign_in(client, "worker_dfx")
    for path in RESIDENT_PAGES + WORKER_PAGES:
        page = client.get(f"{path}?lang={lang}")
        assert page.status_code == 200, path
        assert RAW_KEY.findall(page.text) == [], f"untranslated key on {path}"
    heading = "Booking approvals" if lang == "en" else "预约审批"
    assert heading in client.get("/bookings/manage").text


def test_weekly_series_from_the_page_and_forms_need_the_token(client: TestClient,
                                                              ctx: Context) -> None:
    with ctx.sessions.begin() as s:
        centre = s.scalar(select(Facility.id).where(Facility.name == "多福巷社区综合服务站"))
        room = bs.create_resource(s, facility_id=int(centre or 0), name="排练厅",
                                  allow_series=True, approval_required=False).id
    sign_in(client, "resident1")
    day = local_now().date() + dt.timedelta(days=2)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    form: dict[str, Any] = {"resource_id": room, "starts_at": f"{day.isoformat()}T09:30",
                            "slots": 2, "purpose": "合唱团排练", "weeks": 3}
    forged = client.post("/bookings/book", data={**form, "csrf_token": "forged"},
                         follow_redirects=False)
    assert forged.status_code == 403
    page = client.get(f"/bookings/resources/{room}?day={day.isoformat()}")
    assert 'data-testid="weeks"' in page.text
    done = client.post("/bookings/book", data={**form, "csrf_token": csrf_of(page.text)},
                       follow_redirects=False)
    assert done.status_code == 303 and "booked_approved" in done.headers["location"]
    with ctx.sessions() as s:
        starts = list(s.scalars(select(Booking.starts_at).where(Booking.resource_id == room)
                                .order_by(Booking.starts_at)))
    first = dt.datetime.combine(day, dt.time(9, 30))
    assert starts == [first + dt.timedelta(weeks=k) for k in range(3)]


def test_a_far_day_on_the_slot_page_falls_back_to_today(client: TestClient,
                                                         ctx: Context) -> None:
    with ctx.sessions.begin() as s:
        centre = s.scalar(select(Facility.id).where(Facility.name == "多福巷社区综合服务站"))
        room = bs.create_resource(s, facility_id=int(centre or 0), name="会议室").id
    sign_in(client, "resident1")
    page = client.get(f"/bookings/resources/{room}?day=9999-12-31")
    assert page.status_code == 200
    week_before = local_now().date() - dt.timedelta(days=7)
    assert f"?day={week_before.isoformat()}" in page.text  # the "previous week" link

    far = client.post("/bookings/book?lang=zh-CN", data={
        "resource_id": room, "starts_at": "9999-12-31T23:30", "purpose": "排练",
        "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    # Drawn again, not sent on with the error in its address; the problem is beside the grid.
    assert far.status_code == 422
    assert re.search(r'id="starts_at-error"[^>]*>日期须在 2000 年至 2100 年之间<', far.text)
    assert re.search(r'<input id="purpose" name="purpose"[^>]*value="排练"', far.text)
