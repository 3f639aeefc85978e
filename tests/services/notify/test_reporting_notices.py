"""Reporting tells the community's workers: a round due within three days and overdue
(each once), and their figures signed off or sent back (not the one who did it)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from shequ.services.notify.models import Notification
from shequ.services.notify.reminders import round_reminders
from tests.services.reporting.test_rounds import (  # the reporting tests' own helpers
    TODAY,
    WORKER_UNIT,
    Served,
    _open,
    _submit,
    served,
)

__all__ = ["served"]  # the fixture, used by name


def _told(served: Served, username: str) -> list[tuple[str, dict[str, object]]]:
    _, ctx, seeded, _ = served
    with ctx.sessions() as session:
        rows = session.scalars(select(Notification).where(
            Notification.user_id == seeded.users[username]).order_by(Notification.id)).all()
        return [(row.kind, json.loads(row.params)) for row in rows]


def test_rounds_due_and_overdue_remind_the_workers_whose_form_is_not_in(
        served: Served) -> None:
    client, ctx, _, auth = served
    soon = _open(client, auth, days_left=2)
    _open(client, auth, days_left=20)  # not due yet: no reminder
    now = dt.datetime.combine(TODAY, dt.time(4), tzinfo=dt.UTC)  # noon in China
    with ctx.sessions.begin() as session:
        written = round_reminders(session, now=now)
    assert {w.kind.value for w in written} == {"round_due"}
    assert ("round_due", {"round": "2025 年度社区基础数据",
                          "due": (TODAY + dt.timedelta(days=2)).isoformat()}) \
        in _told(served, "worker_dfx")
    assert _submit(client, auth, soon).status_code == 200
    later = now + dt.timedelta(days=3)  # past the due date
    with ctx.sessions.begin() as session:
        overdue = round_reminders(session, now=later)
        assert round_reminders(session, now=later + dt.timedelta(hours=1)) == []  # once
    told = {w.user_id for w in overdue if w.kind.value == "round_overdue"}
    _, _, seeded, _ = served
    assert seeded.users["worker_yz"] in told
    assert seeded.users["worker_dfx"] not in told  # submitted in time


def test_figures_signed_off_and_sent_back_are_told_to_the_communitys_workers(
        served: Served) -> None:
    client, _, _, auth = served
    round_id = _open(client, auth)
    form_id = _submit(client, auth, round_id).json()["form_id"]
    assert client.post(f"/api/v1/reporting/forms/{form_id}/approve",
                       headers=auth("officer_dhm")).status_code == 200
    assert client.post(f"/api/v1/reporting/forms/{form_id}/unapprove",
                       headers=auth("officer_dhm"),
                       json={"reason": "请核对 80 岁以上人口"}).status_code == 200
    expected = {"round": "2025 年度社区基础数据", "division": "多福巷社区"}
    assert _told(served, "worker_dfx") == [("figures_approved", expected),
                                           ("figures_unapproved", expected)]
    assert [kind for kind, _ in _told(served, "officer_dhm")] == []  # who signed it off
    assert _told(served, "worker_yz") == []  # another community
    assert WORKER_UNIT == "110101001001"
