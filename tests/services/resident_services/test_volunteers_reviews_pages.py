"""The volunteering and review pages on SQLite and PostgreSQL: a form with a bad value is
drawn again (422, or 409 for a state that forbids the act) with the problem beside its
field in Chinese or English and every other typed value kept; a resident opening a
worker's page gets the HTML 403 page; what a form does is audited like the API's act."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from shequ.app import create_app
from shequ.context import Context
from shequ.registry.db import make_engine, session_factory
from shequ.services.accounts import AuditLog
from shequ.services.bookings.clock import local_now
from shequ.services.reviews import service as rv
from shequ.services.reviews.models import Review
from shequ.services.volunteers import service as vs
from shequ.services.volunteers.models import OrganiserKind, VolunteerActivity, VolunteerSignup

from ..conftest import PASSWORD, Seeded, seed, services_settings  # noqa: TID252

COMMUNITY = "110101001001"  # 多福巷社区, worker_dfx's community and resident1's home


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Context, Seeded]]:
    """The app over the seeded region on ``db_url`` (SQLite, then PostgreSQL)."""
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
    engine.dispose()
    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with TestClient(create_app(ctx)) as http:
        yield http, ctx, seeded
    ctx.close()


class Form(HTMLParser):
    """What a drawn page shows of its forms: each field's problems (``data-field``), the
    values of inputs and textareas by id, the chosen option of each select, the summary."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.errors: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.selected: dict[str, str] = {}
        self.described: dict[str, str] = {}
        self.summary: list[str] = []
        self._text: tuple[str, str] | None = None
        self._select: str | None = None
        self._in_summary = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("data-testid") == "field-error":
            self._text = ("error", a["data-field"])
            self.errors[a["data-field"]] = ""
        elif a.get("data-testid") == "error-summary":
            self._in_summary = True
        elif tag == "li" and self._in_summary:
            self._text = ("summary", "")
            self.summary.append("")
        elif tag == "input" and "id" in a:
            self.values[a["id"]] = a.get("value", "")
            if "aria-describedby" in a:
                self.described[a["id"]] = a["aria-describedby"]
        elif tag == "textarea" and "id" in a:
            self._text = ("textarea", a["id"])
            self.values[a["id"]] = ""
        elif tag == "select":
            self._select = a.get("id")
        elif tag == "option" and self._select and "selected" in a:
            self.selected[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"p", "li", "textarea"}:
            self._text = None
        if tag == "div" and self._in_summary and self._text is None:
            self._in_summary = False
        if tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._text is None:
            return
        kind, key = self._text
        if kind == "error":
            self.errors[key] += data
        elif kind == "summary":
            self.summary[-1] += data
        else:
            self.values[key] += data


def sign_in(client: TestClient, username: str) -> None:
    token = csrf_of(client.get("/login").text)
    done = client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303


def csrf_of(html: str) -> str:
    match = (re.search(r'name="csrf_token" value="([^"]+)"', html)
             or re.search(r'value="([^"]+)" name="csrf_token"', html))
    assert match, "the page has no form token"
    return match.group(1)


def post(client: TestClient, page: str, action: str, data: dict[str, str], lang: str
         ) -> tuple[int, Form, str]:
    token = csrf_of(client.get(f"{page}?lang={lang}").text)
    answer = client.post(action, data={**data, "csrf_token": token}, follow_redirects=False)
    return answer.status_code, Form(answer.text), answer.headers.get("location", "")


LANGS = ["zh-CN", "en"]


@pytest.mark.parametrize("lang", LANGS)
def test_publish_form_shows_each_problem_beside_its_field_and_keeps_the_rest(
        served: tuple[TestClient, Context, Seeded], lang: str) -> None:
    client, ctx, _ = served
    sign_in(client, "worker_dfx")
    start = (local_now() + dt.timedelta(days=3)).replace(hour=9, minute=0, second=0)
    typed = {"division_code": COMMUNITY, "organiser_kind": "social_organisation",
             "organiser_name": "幸福社工事务所", "title": "义诊", "places": "abc",
             "starts_at": start.strftime("%Y-%m-%dT%H:%M"), "ends_at": "tomorrow",
             "description": "量血压、测血糖"}
    status, form, _ = post(client, "/volunteers/manage", "/volunteers/publish-form", typed,
                           lang)
    assert status == 422
    if lang == "zh-CN":
        assert form.errors == {"places": "名额应为数字，收到“abc”",
                               "ends_at": "结束时间应为日期和时间"}
    else:
        assert form.errors == {"places": "Places must be a number, not “abc”",
                               "ends_at": "End must be a date and time"}
    assert len(form.summary) == 2
    assert form.described["places"] == "places-hint places-error"
    # Everything typed is still there, the wrong values too.
    assert form.values["title"] == "义诊"
    assert form.values["organiser_name"] == "幸福社工事务所"
    assert form.values["places"] == "abc"
    assert form.values["ends_at"] == "tomorrow"
    assert form.values["description"] == "量血压、测血糖"
    assert form.selected == {"division_code": COMMUNITY,
                             "organiser_kind": "social_organisation"}

    # The service's rules: the end before the start, a start in the past.
    past = local_now() - dt.timedelta(days=1)
    status, form, _ = post(client, "/volunteers/manage", "/volunteers/publish-form", {
        **typed, "places": "12", "starts_at": past.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (past - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")}, lang)
    assert status == 422
    if lang == "zh-CN":
        assert form.errors == {"ends_at": "结束时间应晚于开始时间",
                               "starts_at": "开始时间已过；请在活动开始前发布"}
    else:
        assert form.errors == {"ends_at": "The end must be after the start",
                               "starts_at": "The start has passed; publish activities "
                                            "before they begin"}
    assert form.values["places"] == "12"
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(VolunteerActivity)) == 0

    # Corrected, it is published and audited, and the worker is sent back with a message.
    status, _, location = post(client, "/volunteers/manage", "/volunteers/publish-form", {
        **typed, "places": "12", "ends_at": (start + dt.timedelta(hours=2)).strftime(
            "%Y-%m-%dT%H:%M")}, lang)
    assert (status, location) == (303, "/volunteers/manage?msg=resident_services.published")
    with ctx.sessions() as s:
        act = s.scalars(select(VolunteerActivity)).one()
        assert (act.title, act.places, act.starts_at, act.organiser_kind) == (
            "义诊", 12, start.replace(microsecond=0), "social_organisation")
        assert s.scalar(select(AuditLog.action).where(
            AuditLog.entity == "volunteer_activity",
            AuditLog.entity_id == str(act.id))) == "create"


@pytest.mark.parametrize("lang", LANGS)
def test_hours_beside_their_row_and_a_full_activity_in_the_summary(
        served: tuple[TestClient, Context, Seeded], lang: str) -> None:
    client, ctx, seeded = served
    me = seeded.users["resident1"]
    start = local_now() + dt.timedelta(days=1)
    with ctx.sessions.begin() as s:
        vs.register(s, user_id=me, division_code=COMMUNITY, display_name="张三")
        held = vs.publish(s, division_code=COMMUNITY, organiser_kind=OrganiserKind.COMMUNITY,
                          organiser_name="居委会", organiser_user_id=seeded.users["worker_dfx"],
                          title="楼道清洁", starts_at=start,
                          ends_at=start + dt.timedelta(hours=2))
        signup = vs.sign_up(s, activity_id=held.id, user_id=me).id
        # The clean-up took place two days ago (two hours: 120 minutes at most).
        s.execute(update(VolunteerActivity).where(VolunteerActivity.id == held.id).values(
            starts_at=start - dt.timedelta(days=3),
            ends_at=start - dt.timedelta(days=3) + dt.timedelta(hours=2)))
        full = vs.publish(s, division_code=COMMUNITY, organiser_kind=OrganiserKind.COMMUNITY,
                          organiser_name="居委会", organiser_user_id=seeded.users["worker_dfx"],
                          title="义诊", starts_at=start, ends_at=start + dt.timedelta(hours=1),
                          places=1)
        vs.register(s, user_id=seeded.users["resident2"], division_code=COMMUNITY,
                    display_name="李四")
        vs.sign_up(s, activity_id=full.id, user_id=seeded.users["resident2"])
    sign_in(client, "resident1")
    field = f"minutes-{signup}"

    status, form, _ = post(client, "/volunteers", f"/volunteers/signups/{signup}/hours-form",
                           {"minutes": "500"}, lang)
    assert status == 422
    assert form.errors == {field: "分钟数应在 1 到 120（活动时长）之间，收到 500"
                           if lang == "zh-CN" else
                           "Minutes must be between 1 and 120 (the activity's length); got 500"}
    assert form.values[field] == "500"
    assert form.described[field] == f"{field}-error"

    status, form, _ = post(client, "/volunteers", f"/volunteers/signups/{signup}/hours-form",
                           {"minutes": "1441"}, lang)
    assert status == 422
    assert form.errors == {field: "分钟数超出允许的范围" if lang == "zh-CN"
                           else "Minutes is outside the allowed range"}

    # A full activity is a state, not a value: said above the page, 409.
    status, form, _ = post(client, "/volunteers", f"/volunteers/activities/{full.id}/signup-form",
                           {}, lang)
    assert status == 409
    assert form.errors == {}
    assert form.summary == ["活动名额已满（共 1 个）。" if lang == "zh-CN"
                            else "The activity has no free place left (limit: 1)."]

    status, _, location = post(client, "/volunteers",
                               f"/volunteers/signups/{signup}/hours-form", {"minutes": "90"},
                               lang)
    assert (status, location) == (303, "/volunteers?msg=resident_services.hours_recorded")
    with ctx.sessions() as s:
        row = s.get(VolunteerSignup, signup)
        assert row is not None and (row.minutes, row.hours_status) == (90, "recorded")


@pytest.mark.parametrize("lang", LANGS)
def test_review_form_problem_beside_the_item_and_the_comment_kept(
        served: tuple[TestClient, Context, Seeded], lang: str) -> None:
    client, ctx, seeded = served
    sign_in(client, "resident1")
    planned = seeded.facilities["银闸托育园"]  # planned, not in service
    status, form, _ = post(client, "/reviews", "/reviews/submit-form", {
        "subject": f"facility:{planned}", "score": "4", "comment": "还没开门"}, lang)
    assert status == 422
    assert form.errors == {"subject": "该设施未在运营，不能评价" if lang == "zh-CN"
                           else "The facility is not in service and cannot be rated"}
    assert form.values["comment"] == "还没开门"
    assert form.selected == {}  # the planned nursery is not offered

    centre = seeded.facilities["多福巷社区综合服务站"]
    status, form, _ = post(client, "/reviews", "/reviews/submit-form", {
        "subject": f"facility:{centre}", "comment": "工作人员很耐心"}, lang)
    assert status == 422
    assert form.errors == {"score": "评分不能为空" if lang == "zh-CN" else "Score is required"}
    assert form.selected == {"subject": f"facility:{centre}"}
    assert form.values["comment"] == "工作人员很耐心"

    status, _, location = post(client, "/reviews", "/reviews/submit-form", {
        "subject": f"facility:{centre}", "score": "5", "comment": "工作人员很耐心"}, lang)
    assert (status, location) == (303, "/reviews?msg=resident_services.reviewed")
    status, form, _ = post(client, "/reviews", "/reviews/submit-form", {
        "subject": f"facility:{centre}", "score": "3"}, lang)
    assert status == 409
    year = local_now().year
    assert form.summary == [f"你在 {year} 年已评价过这一项；请修改原来的评价。" if lang == "zh-CN"
                            else f"You already rated this item in {year}; change that "
                                 "review instead."]
    with ctx.sessions() as s:
        assert [(r.score, r.comment) for r in s.scalars(select(Review))] == [(5, "工作人员很耐心")]


@pytest.mark.parametrize("lang", LANGS)
def test_moderation_note_too_long_kept_beside_its_row(
        served: tuple[TestClient, Context, Seeded], lang: str) -> None:
    client, ctx, seeded = served
    with ctx.sessions.begin() as s:
        review = rv.submit(s, user_id=seeded.users["resident1"], subject_kind="facility",
                           subject_id=str(seeded.facilities["多福巷社区综合服务站"]), score=2,
                           comment="门口太暗").id
    sign_in(client, "worker_dfx")
    note = "灯" * 501
    status, form, _ = post(client, "/reviews/manage", f"/reviews/{review}/moderate-form",
                           {"decision": "hide", "note": note}, lang)
    assert status == 422
    assert form.errors == {f"note-{review}": "备注最多 500 个字符" if lang == "zh-CN"
                           else "Note takes at most 500 characters"}
    assert form.values[f"note-{review}"] == note
    status, _, location = post(client, "/reviews/manage", f"/reviews/{review}/moderate-form",
                               {"decision": "approve", "note": "已转物业"}, lang)
    assert (status, location) == (303, "/reviews/manage?msg=resident_services.comment_approve")
    with ctx.sessions() as s:
        row = s.get(Review, review)
        assert row is not None
        assert (row.comment_status, row.moderation_note) == ("approved", "已转物业")
        assert s.scalar(select(AuditLog.action).where(
            AuditLog.entity == "review", AuditLog.entity_id == str(review))) == "approve"


@pytest.mark.parametrize("lang", LANGS)
def test_workers_pages_refuse_residents_with_the_403_page(
        served: tuple[TestClient, Context, Seeded], lang: str) -> None:
    client, _, _ = served
    sign_in(client, "resident1")
    for path in ("/volunteers/manage", "/reviews/manage"):
        page = client.get(f"{path}?lang={lang}")
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert ("没有权限" if lang == "zh-CN" else "Not permitted") in page.text
    # A form of a worker's page, posted by a resident: refused the same way, nothing done.
    token = csrf_of(client.get("/volunteers").text)
    refused = client.post("/volunteers/publish-form", data={
        "csrf_token": token, "division_code": COMMUNITY, "organiser_name": "我",
        "title": "自封活动", "starts_at": "2099-01-01T09:00", "ends_at": "2099-01-01T10:00"})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")


def test_staff_see_no_review_form_and_may_not_rate(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _, seeded = served
    sign_in(client, "worker_dfx")
    page = client.get("/reviews?lang=en")
    assert 'data-testid="review-form"' not in page.text
    assert "staff do not score the services they are assessed on" in page.text
    refused = client.post("/reviews/submit-form", data={
        "csrf_token": csrf_of(page.text), "score": "5",
        "subject": f"facility:{seeded.facilities['多福巷社区综合服务站']}"})
    assert refused.status_code == 403
