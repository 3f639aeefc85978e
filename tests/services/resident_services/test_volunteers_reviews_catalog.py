"""Every error the volunteering and review services raise has a code whose message the
catalog holds in Chinese and in English; and the errors a resident meets read as the
catalog says, with their values, in both languages."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from shequ import i18n
from shequ.errors import AccessDenied, ConflictError, NotFoundError, ShequError, ValidationError
from shequ.services import reviews, volunteers
from shequ.services.accounts import User
from shequ.services.bookings.clock import local_now
from shequ.services.reviews import service as rv
from shequ.services.volunteers import service as vs
from shequ.services.volunteers.models import OrganiserKind, VolunteerActivity

from .helpers import COMMUNITY, add_facility

SOURCES = [*Path(volunteers.__file__).parent.glob("*.py"),
           *Path(reviews.__file__).parent.glob("*.py")]
HAN = re.compile(r"[\u3400-\u9fff]")
# The generic problems of errors.po the services use with their own values.
GENERIC = {"required", "not_a_choice", "out_of_range", "too_long"}


def raised_codes() -> set[str]:
    """The codes written in the services' sources: ``code="…"`` and the names given to
    the reviews' helpers (``_not_found``/``_not_reviewable``: ``reviews.<name>``)."""
    codes: set[str] = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        codes.update(re.findall(r'code="([a-z_.]+)"', text))
        for call in re.finditer(r"_not_(?:found|reviewable)\((.*?)\)\n", text, re.S):
            codes.update("reviews." + name for name in re.findall(r'"([a-z_]+)"\s*$',
                                                                   call.group(1)))
    return codes


def test_every_code_has_a_message_in_both_languages() -> None:
    codes = raised_codes()
    # Hand count: 21 of volunteers, 17 of reviews, and the generic ones.
    assert len({c for c in codes if c.startswith("volunteers.")}) == 21, sorted(codes)
    assert len({c for c in codes if c.startswith("reviews.")}) == 17, sorted(codes)
    assert codes - GENERIC == {c for c in codes if c.startswith(("volunteers.", "reviews."))}
    assert codes >= GENERIC
    for code in sorted(codes):
        keys = [f"errors.{code}", f"problems.{code}"]
        zh = [i18n.messages("zh-CN").get(k) for k in keys if k in i18n.messages("zh-CN")]
        en = [i18n.messages("en").get(k) for k in keys if k in i18n.messages("en")]
        assert len(zh) == 1 and len(en) == 1, code
        assert HAN.search(zh[0] or ""), (code, zh)
        assert not HAN.search(en[0] or ""), (code, en)


def said(exc: ShequError) -> tuple[str, str]:
    return i18n.describe(exc, "zh-CN"), i18n.describe(exc, "en")


def problems_said(exc: ValidationError) -> list[tuple[str, str]]:
    return [(i18n.describe_problem(p, "zh-CN"), i18n.describe_problem(p, "en"))
            for p in exc.problems]


def test_errors_read_in_both_languages(sessions: sessionmaker[Session]) -> None:
    start = local_now() + dt.timedelta(days=1)
    with sessions.begin() as s:
        worker, staff = (User(username=name, display_name=name, role="community_worker",
                              password_hash="!", active=True, jurisdiction_code=COMMUNITY)
                         for name in ("dfx", "dfx2"))
        s.add_all([worker, staff])
        s.flush()
        vs.register(s, user_id=worker.id, division_code=COMMUNITY, display_name="社工")
        act = vs.publish(s, division_code=COMMUNITY, organiser_kind=OrganiserKind.COMMUNITY,
                         organiser_name="居委会", organiser_user_id=worker.id, title="清扫",
                         starts_at=start, ends_at=start + dt.timedelta(minutes=90), places=1)
        signup = vs.sign_up(s, activity_id=act.id, user_id=worker.id)
        planned = add_facility(s, name="规划中的托育园")
        planned.status = "planned"

        with pytest.raises(ConflictError) as full:
            vs.register(s, user_id=staff.id, division_code=COMMUNITY, display_name="社工二")
            vs.sign_up(s, activity_id=act.id, user_id=staff.id)
        assert said(full.value) == ("活动名额已满（共 1 个）。",
                                    "The activity has no free place left (limit: 1).")
        with pytest.raises(ConflictError) as early:
            vs.record_hours(s, signup.id, minutes=30, recorded_by=worker.id)
        assert said(early.value) == ("活动尚未开始；请在活动开始后登记时长。",
                                     "The activity has not begun; record the time after "
                                     "it starts.")
        s.execute(update(VolunteerActivity).where(VolunteerActivity.id == act.id).values(
            starts_at=start - dt.timedelta(days=2),
            ends_at=start - dt.timedelta(days=2) + dt.timedelta(minutes=90)))
        s.expire_all()
        with pytest.raises(ValidationError) as long:
            vs.record_served(s, worker, signup.id, 91)
        assert problems_said(long.value) == [(
            "分钟数应在 1 到 90（活动时长）之间，收到 91",
            "Minutes must be between 1 and 90 (the activity's length); got 91")]
        vs.record_served(s, worker, signup.id, 90)
        with pytest.raises(AccessDenied) as own:
            vs.decide_hours(s, worker, signup.id, approve=True)
        assert said(own.value)[0] == ("不能确认自己的服务时长；"
                                      "请由辖区覆盖该社区的其他工作人员确认。")
        with pytest.raises(NotFoundError) as missing:
            vs.decide_hours(s, staff, 999_999, approve=True)
        assert said(missing.value) == ("没有编号为 999999 的报名记录。",
                                       "There is no volunteer sign-up 999999.")
        with pytest.raises(AccessDenied) as staff_rates:
            rv.submit_review(s, staff, subject_kind="facility", subject_id=str(planned.id),
                             score=3)
        assert said(staff_rates.value)[1] == ("Residents rate services; staff do not score "
                                              "the services they are assessed on.")
        with pytest.raises(ValidationError) as closed:
            rv.submit(s, user_id=staff.id, subject_kind="facility",
                      subject_id=str(planned.id), score=9)
        assert problems_said(closed.value) == [("评分应在 1 到 5 之间",
                                                "Score must lie between 1 and 5")]
        with pytest.raises(ValidationError) as not_open:
            rv.submit(s, user_id=staff.id, subject_kind="facility",
                      subject_id=str(planned.id), score=3)
        assert problems_said(not_open.value) == [
            ("该设施未在运营，不能评价", "The facility is not in service and cannot be rated")]
        assert [p.column for p in not_open.value.problems] == ["subject_id"]
