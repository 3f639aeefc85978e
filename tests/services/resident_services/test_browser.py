"""Real-browser flows of the resident services (Debian Chromium through Playwright, no internet):
a resident books a room and a worker approves it; a resident applies for a day-care place
and receives an offer; a volunteer signs up and a worker confirms the hours; a resident
rates a facility and the worker publishes the comment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from shequ.registry.models import Facility
from shequ.services.bookings import service as bookings
from shequ.services.bookings.clock import local_now
from shequ.services.volunteers import service as volunteers
from shequ.services.volunteers.models import OrganiserKind, VolunteerActivity
from tests.web.axe import assert_no_serious_axe_violations

pytestmark = pytest.mark.browser
PASSWORD = "password-123"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN")
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def login(page: Any, base: str, username: str, target: str) -> None:
    page.goto(f"{base}/login?next={target}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("[data-testid=login-form] button[type=submit]")
    page.wait_for_url(f"**{target}*")


def next_weekday() -> dt.date:
    day = local_now().date() + dt.timedelta(days=2)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def test_resident_books_a_room_and_worker_approves(live_server: Any, browser: Any) -> None:
    base, ctx = live_server.url, live_server.ctx
    with ctx.sessions.begin() as s:
        centre = s.scalar(select(Facility.id).where(Facility.name == "多福巷社区综合服务站"))
        room = bookings.create_resource(s, facility_id=centre, name="书画室", capacity=20).id
    day = next_weekday()
    resident = browser.new_context(locale="zh-CN").new_page()
    login(resident, base, "resident1", "/bookings")
    resident.click(f"[data-testid=open-venue-{room}]")
    assert_no_serious_axe_violations(resident)
    resident.goto(f"{base}/bookings/resources/{room}?day={day.isoformat()}")
    assert_no_serious_axe_violations(resident)
    resident.fill("[data-testid=purpose]", "老年书法班")
    resident.fill("[data-testid=attendees]", "25")  # more than the room holds
    with resident.expect_navigation(url="**/bookings/book"):
        resident.click(f"[data-testid=slot-{day.strftime('%Y%m%d')}1430]")
    assert resident.inner_text("[data-testid=field-error][data-field=attendees]") == (
        "25 人超过场地容量 20 人")
    assert resident.input_value("[data-testid=purpose]") == "老年书法班"
    assert resident.get_attribute("#attendees", "aria-invalid") == "true"
    assert_no_serious_axe_violations(resident)
    resident.fill("[data-testid=attendees]", "12")
    with resident.expect_navigation(url="**/bookings?msg=*"):
        resident.click(f"[data-testid=slot-{day.strftime('%Y%m%d')}1430]")
    assert "等待社区审批" in resident.inner_text("[data-testid=message]")
    row = resident.locator("[data-testid=my-bookings] tr", has_text="老年书法班")
    assert row.locator("[data-status]").get_attribute("data-status") == "pending"

    worker = browser.new_context(locale="zh-CN").new_page()
    login(worker, base, "worker_dfx", "/bookings/manage")
    pending = worker.locator("[data-testid=pending] tr", has_text="老年书法班")
    booking_id = pending.get_attribute("data-booking")
    with worker.expect_navigation(url="**/bookings/manage?msg=*"):
        worker.click(f"[data-testid=approve-{booking_id}]")
    assert worker.inner_text("[data-testid=message]") == "已批准。"
    assert_no_serious_axe_violations(worker)
    assert "老年书法班" in worker.inner_text("[data-testid=upcoming]")

    resident.goto(f"{base}/bookings")
    row = resident.locator("[data-testid=my-bookings] tr", has_text="老年书法班")
    assert row.locator("[data-status]").get_attribute("data-status") == "approved"
    resident.goto(f"{base}/bookings/resources/{room}?day={day.isoformat()}")
    assert resident.locator(f"[data-testid=slot-{day.strftime('%Y%m%d')}1430]").count() == 0
    resident.context.close()
    worker.context.close()


def test_resident_applies_for_day_care_and_receives_an_offer(live_server: Any,
                                                              page: Any) -> None:
    base, ctx = live_server.url, live_server.ctx
    with ctx.sessions.begin() as s:
        centre = s.scalar(select(Facility.id).where(Facility.name == "多福巷老年人日间照料中心"))
        s.execute(update(Facility).where(Facility.id == centre).values(capacity=1))
    login(page, base, "resident1", "/care")
    assert_no_serious_axe_violations(page)
    page.select_option("[data-testid=care-facility]", str(centre))
    page.fill("[data-testid=beneficiary]", "张三")
    page.fill("[data-testid=birth-date]", "1949-12-31")
    page.check("input[name=priority_groups][value=living_alone]")
    with page.expect_navigation(url="**/care?msg=*"):
        page.click("[data-testid=apply]")
    assert "已为您保留" in page.inner_text("[data-testid=message]")
    offer = page.inner_text("[data-testid=my-applications] [data-testid=offer]")
    assert "第 1 号名额" in offer
    app_id = page.locator("[data-testid=my-applications] tr[data-application]").get_attribute(
        "data-application")
    with page.expect_navigation(url="**/care?msg=*"):
        page.click(f"[data-testid=accept-{app_id}]")
    row = page.locator(f"tr[data-application='{app_id}'] [data-status]")
    assert row.get_attribute("data-status") == "accepted"
    page.goto(f"{base}/care?lang=en")
    assert "Place 1" in page.inner_text("[data-testid=my-applications]")
    page.fill("[data-testid=beneficiary]", "张小明")
    page.fill("[data-testid=birth-date]", "2001-02-03")
    with page.expect_navigation(url="**/care/apply"):
        page.click("[data-testid=apply]")
    assert page.inner_text("[data-testid=field-error][data-field=beneficiary_birth_date]") == (
        "day-care places are for people aged 60 or over")
    assert page.input_value("[data-testid=beneficiary]") == "张小明"
    assert_no_serious_axe_violations(page)


def test_volunteer_signs_up_and_worker_confirms_hours(live_server: Any, browser: Any) -> None:
    base, ctx = live_server.url, live_server.ctx
    with ctx.sessions.begin() as s:
        start = local_now() + dt.timedelta(days=2)
        activity = volunteers.publish(
            s, division_code="110101001001", organiser_kind=OrganiserKind.SOCIAL_ORGANISATION,
            organiser_name="幸福社工事务所", organiser_user_id=1, title="楼道清洁",
            starts_at=start, ends_at=start + dt.timedelta(hours=3)).id
    resident = browser.new_context(locale="zh-CN").new_page()
    login(resident, base, "resident1", "/volunteers")
    with resident.expect_navigation(url="**/volunteers?msg=*"):
        resident.click("[data-testid=register]")
    with resident.expect_navigation(url="**/volunteers?msg=*"):
        resident.click(f"[data-testid=signup-{activity}]")
    assert resident.inner_text("[data-testid=message]") == "报名成功。"
    with ctx.sessions.begin() as s:  # the activity has taken place
        s.execute(update(VolunteerActivity).where(VolunteerActivity.id == activity).values(
            starts_at=start - dt.timedelta(days=5), ends_at=start - dt.timedelta(days=5, hours=-3)))
    resident.goto(f"{base}/volunteers")
    row = resident.locator("[data-testid=my-record] tr", has_text="楼道清洁")
    row.locator("input[name=minutes]").fill("150")
    row.locator("button").click()
    resident.wait_for_url("**/volunteers?msg=*")

    worker = browser.new_context(locale="zh-CN").new_page()
    login(worker, base, "worker_dfx", "/volunteers/manage")
    signup = worker.locator("[data-testid=hours-pending] tr", has_text="楼道清洁")
    signup_id = signup.get_attribute("data-signup")
    with worker.expect_navigation(url="**/volunteers/manage?msg=*"):
        worker.click(f"[data-testid=confirm-{signup_id}]")
    resident.goto(f"{base}/volunteers")
    assert resident.inner_text("[data-testid=confirmed-hours]") == "2.5"
    resident.context.close()
    worker.context.close()


def test_resident_rates_a_facility_and_worker_publishes_the_comment(live_server: Any,
                                                                    browser: Any) -> None:
    base = live_server.url
    resident = browser.new_context(locale="zh-CN").new_page()
    login(resident, base, "resident1", "/reviews")
    resident.select_option("[data-testid=subject]", label="多福巷社区综合服务站")
    resident.check("[data-testid=score-5]")
    resident.fill("[data-testid=comment]", "工作人员很耐心")
    with resident.expect_navigation(url="**/reviews?msg=*"):
        resident.click("[data-testid=submit-review]")
    assert "工作人员很耐心" in resident.inner_text("[data-testid=my-reviews]")
    worker = browser.new_context(locale="zh-CN").new_page()
    login(worker, base, "worker_dfx", "/reviews/manage")
    review_id = worker.locator("[data-testid=to-moderate] tr", has_text="工作人员很耐心"
                               ).get_attribute("data-review")
    with worker.expect_navigation(url="**/reviews/manage?msg=*"):
        worker.click(f"[data-testid=publish-{review_id}]")
    assert "5.00" in worker.inner_text("[data-testid=scores]")
    resident.context.close()
    worker.context.close()
