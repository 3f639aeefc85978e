"""`shequ bookings reminders` marks each due reminder once; `shequ care expire-offers`
lapses an overdue offer and offers the place to the next applicant."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from typer.testing import CliRunner

from shequ.cli import app
from shequ.context import Context
from shequ.services.bookings import service as bs
from shequ.services.bookings.clock import local_now
from shequ.services.bookings.models import BookerScope
from shequ.services.bookings.rules import Booker
from shequ.services.care import service as cs
from shequ.services.care.models import CareApplication
from shequ.services.care.rules import load_priority_rules
from shequ.settings import Settings

from .helpers import COMMUNITY, add_accounts, add_facility


def test_reminders_and_expiring_offers(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, environment="test")
    ctx = Context.open(settings)
    now = local_now()
    rules = load_priority_rules()
    with ctx.sessions.begin() as s:
        add_accounts(s, [1, 2])
        facility = add_facility(s, opening_hours="Mo-Su 00:00-24:00")
        room = bs.create_resource(s, facility_id=facility.id, name="活动室",
                                  approval_required=False, booker_scope=BookerScope.ANYONE).id
        start = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(10))
        bs.book(s, resource_id=room, booker=Booker(1, "resident", COMMUNITY), starts_at=start,
                ends_at=start + dt.timedelta(hours=1), purpose="会议", now=start -
                dt.timedelta(hours=20))
        centre = add_facility(s, type_code="elderly_day_care", capacity=1).id
        ids = [cs.apply(s, rules, facility_id=centre, applicant_user_id=k + 1,
                        beneficiary_name=f"老人{k}", beneficiary_birth_date=dt.date(1950, 1, 1),
                        division_code=COMMUNITY, now=now - dt.timedelta(days=10 - k)).id
               for k in range(2)]
        cs.fill_free_places(s, rules, centre, now=now - dt.timedelta(days=8))
    ctx.close()
    runner = CliRunner()
    env = {"SHEQU_DATA_DIR": str(tmp_path), "SHEQU_DATABASE_URL": ""}
    first = runner.invoke(app, ["bookings", "reminders", "--hours", "48"], env=env)
    assert first.exit_code == 0, first.output
    assert "1 reminder(s) marked as sent" in first.output
    again = runner.invoke(app, ["bookings", "reminders", "--hours", "48"], env=env)
    assert "0 reminder(s) marked as sent" in again.output
    expired = runner.invoke(app, ["care", "expire-offers"], env=env)
    assert f"1 offer(s) lapsed; 1 new offer(s): [{ids[1]}]" in expired.output
    ctx = Context.open(settings)
    with ctx.sessions() as s:
        applications = [s.get(CareApplication, i) for i in ids]
        assert [a.status if a else None for a in applications] == ["lapsed", "offered"]
    ctx.close()
