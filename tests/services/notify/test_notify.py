"""Notifications on SQLite and PostgreSQL: written with their event, delivered by e-mail to
a real SMTP server in the reader's language, once per event and channel, retried with
back-off, held over quiet hours, and taken over by another dispatcher when a lease lapses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.services.accounts import User
from shequ.services.bookings import service as bookings
from shequ.services.bookings.clock import local_now
from shequ.services.bookings.models import BookableResource, Booking, BookingStatus
from shequ.services.notify import service as notices
from shequ.services.notify.channels import EmailAdapter, HandOver, Outgoing, message_id
from shequ.services.notify.dispatcher import Dispatcher, DispatchPolicy, DispatchReport
from shequ.services.notify.models import (
    Delivery,
    DeliveryAttempt,
    Notification,
    NotificationPreference,
)
from shequ.services.notify.reminders import staff_reminders
from shequ.services.requests import load_request_catalog
from shequ.services.requests import service as rs
from tests.services.conftest import PHONE, Seeded, free_port

from .conftest import SmtpServer

CATALOG = load_request_catalog()
T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)  # 09:00 in China


def _prefs(session: Session, user_id: int, *, language: str, email: str,
           quiet: tuple[str, str] | None = None) -> None:
    notices.save_preferences(
        session, session.get_one(User, user_id), language=language, email_on=True,
        email=email, sms_on=False, phone=None, wechat_on=False, wechat_openid=None,
        quiet_start=quiet[0] if quiet else None, quiet_end=quiet[1] if quiet else None)


def _submit(session: Session, submitter_id: int) -> int:
    draft = rs.RequestDraft(service_code="public_repair", attributes={"fixture": "streetlight"},
                            longitude=116.4054, latitude=39.9156)
    result = rs.submit_request(session, CATALOG, draft,
                               submitter=session.get_one(User, submitter_id), now=T0)
    session.flush()
    return result.request.id


def _act(sessions: sessionmaker[Session], request_id: int, worker_id: int, action: str,
         when: dt.datetime = T0) -> None:
    with sessions.begin() as session:
        rs.act(session, CATALOG, rs.get_request(session, request_id),
               user=session.get_one(User, worker_id), action=action, now=when)


def _clock(start: dt.datetime) -> tuple[list[dt.datetime], Callable[[], dt.datetime]]:
    now = [start]
    return now, lambda: now[0]


def test_a_request_accepted_then_closed_reaches_the_bell_and_the_mailbox_in_the_residents_language(
        sessions: sessionmaker[Session], region: tuple[Seeded, dict[str, int]],
        smtp_server: SmtpServer) -> None:
    _, users = region
    with sessions.begin() as session:
        _prefs(session, users["resident1"], language="en", email="resident1@example.org")
        _prefs(session, users["resident2"], language="zh-CN", email="resident2@example.org")
        mine = _submit(session, users["resident1"])
        theirs = _submit(session, users["resident2"])
    for request_id in (mine, theirs):
        _act(sessions, request_id, users["worker_dfx"], "accept")
        _act(sessions, request_id, users["worker_dfx"], "close")

    with sessions() as session:
        resident = session.get_one(User, users["resident1"])
        shown = notices.notifications_of(session, resident)
        assert [n.kind for n in shown] == ["request_closed", "request_accepted"]
        assert notices.unread_count(session, resident.id) == 2
        event_ids = {n.kind: n.event_id for n in shown}
    # The worker acted, so the worker is told nothing; the other resident only of theirs.
        assert notices.unread_count(session, users["worker_dfx"]) == 0
        assert notices.unread_count(session, users["resident2"]) == 2

    email = EmailAdapter(smtp_server.host, smtp_server.port, "noreply@shequ.example",
                         base_url="https://shequ.example")
    report = Dispatcher(sessions, {"email": email}).run_once()
    assert (report.claimed, report.sent, report.retried, report.failed) == (4, 4, 0, 0)
    box = smtp_server.mailbox
    by_recipient = {tuple(r): [] for r in box.recipients}  # type: dict[tuple[str, ...], list[str]]
    for recipients, message in zip(box.recipients, box.messages, strict=True):
        by_recipient[tuple(recipients)].append(str(message["Subject"]))
    assert sorted(by_recipient[("resident1@example.org",)]) == [
        f"Your request #{mine} was accepted", f"Your request #{mine} was closed"]
    assert sorted(by_recipient[("resident2@example.org",)]) == [
        f"您的诉求 #{theirs} 已关闭", f"您的诉求 #{theirs} 已受理"]
    english = next(m for m in box.messages if "closed" in str(m["Subject"]))
    assert english["Message-ID"] == message_id(event_ids["request_closed"], "shequ.example")
    text = english.get_content()
    assert f"https://shequ.example/services/requests/{mine}" in text
    assert "you can rate how it was handled" in text
    # Nothing of the person beyond the address: no name, no phone number.
    for message in box.messages:
        whole = message.as_string()
        assert "张三" not in whole and PHONE not in whole

    again = Dispatcher(sessions, {"email": email}).run_once()
    assert again.claimed == 0 and len(box.messages) == 4
    with sessions() as session:
        states = session.execute(select(Delivery.status, Delivery.attempts,
                                        func.count()).group_by(Delivery.status,
                                                               Delivery.attempts)).all()
        assert [tuple(s) for s in states] == [("sent", 1, 4)]
        assert session.scalar(select(func.count()).select_from(DeliveryAttempt).where(
            DeliveryAttempt.outcome == "sent")) == 4
        resident = session.get_one(User, users["resident1"])
        first = notices.notifications_of(session, resident)[0]
        notices.mark_read(session, resident, first.id)
        assert notices.unread_count(session, resident.id) == 1
        assert notices.mark_all_read(session, resident) == 1
        assert notices.unread_count(session, resident.id) == 0
    email.close()


def test_a_notification_is_written_once_per_event_and_only_with_its_event(
        sessions: sessionmaker[Session], region: tuple[Seeded, dict[str, int]]) -> None:
    _, users = region
    with sessions.begin() as session:
        _prefs(session, users["resident1"], language="en", email="r1@example.org")
        first = notices.notify(session, users["resident1"], "booking_due",
                               {"booking": 7, "place": "A", "time": "2026-12-01 09:00"},
                               "booking:7:due")
        second = notices.notify(session, users["resident1"], "booking_due",
                                {"booking": 7, "place": "A", "time": "2026-12-01 09:00"},
                                "booking:7:due")
        assert first.id == second.id
    # An event rolled back takes its notification with it (the outbox is transactional).
    session = sessions()
    request_id = _submit(session, users["resident1"])
    rs.act(session, CATALOG, rs.get_request(session, request_id),
           user=session.get_one(User, users["worker_dfx"]), action="accept", now=T0)
    session.rollback()
    session.close()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 1
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1


def test_failed_sends_back_off_exponentially_then_give_up(
        sessions: sessionmaker[Session], region: tuple[Seeded, dict[str, int]]) -> None:
    _, users = region
    with sessions.begin() as session:
        _prefs(session, users["resident1"], language="en", email="r1@example.org")
        notices.notify(session, users["resident1"], "request_accepted", {"request": 1},
                       "test:backoff", now=T0)
    now, clock = _clock(T0)
    nobody = EmailAdapter("127.0.0.1", free_port(), "noreply@shequ.example", timeout=2)
    policy = DispatchPolicy(max_attempts=3, backoff=dt.timedelta(seconds=30))
    dispatcher = Dispatcher(sessions, {"email": nobody}, policy=policy, clock=clock)
    seen = []
    for wait in (0, 29, 1, 59, 1):  # due at T0, then +30 s, then +60 s more
        now[0] += dt.timedelta(seconds=wait)
        report = dispatcher.run_once()
        with sessions() as session:
            row = session.scalars(select(Delivery)).one()
            seen.append((report.claimed, row.status, row.attempts,
                         (row.next_attempt_at - T0).total_seconds()))
    assert seen == [(1, "pending", 1, 30.0), (0, "pending", 1, 30.0),
                    (1, "pending", 2, 90.0), (0, "pending", 2, 90.0),
                    (1, "failed", 3, 90.0)]
    with sessions() as session:
        log = session.scalars(select(DeliveryAttempt.outcome).order_by(DeliveryAttempt.id)).all()
        assert log == ["retry", "retry", "failed"]
        assert "Connection refused" in (session.scalars(select(Delivery)).one().last_error or "")


def test_quiet_hours_hold_the_channels_but_not_the_bell(
        sessions: sessionmaker[Session], region: tuple[Seeded, dict[str, int]]) -> None:
    _, users = region
    late = dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.UTC)  # 23:00 in China
    with sessions.begin() as session:
        _prefs(session, users["resident1"], language="en", email="r1@example.org",
               quiet=("22:00", "07:00"))
        notices.notify(session, users["resident1"], "request_closed", {"request": 3},
                       "test:quiet", now=late)
    with sessions() as session:
        assert notices.unread_count(session, users["resident1"]) == 1
        row = session.scalars(select(Delivery)).one()
        # 07:00 in China the next morning is 23:00 UTC.
        assert row.next_attempt_at == dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC)
        pref = notices.stored_preference(session, users["resident1"])
        assert notices.in_quiet_hours(pref, T0) == T0  # 09:00 is not quiet
        daytime = NotificationPreference(quiet_start=12 * 60, quiet_end=14 * 60)
        lunch = dt.datetime(2026, 11, 30, 4, 30, tzinfo=dt.UTC)  # 12:30 in China
        assert notices.in_quiet_hours(daytime, lunch) == dt.datetime(2026, 11, 30, 6, 0,
                                                                     tzinfo=dt.UTC)


def test_a_lapsed_lease_lets_another_dispatcher_deliver_each_once(
        sessions: sessionmaker[Session], region: tuple[Seeded, dict[str, int]],
        smtp_server: SmtpServer) -> None:
    _, users = region
    with sessions.begin() as session:
        _prefs(session, users["resident1"], language="zh-CN", email="r1@example.org")
        for n in range(5):
            notices.notify(session, users["resident1"], "request_resolved", {"request": n},
                           f"test:lease:{n}", now=T0)
    now, clock = _clock(T0)
    email = EmailAdapter(smtp_server.host, smtp_server.port, "noreply@shequ.example")
    policy = DispatchPolicy(batch=3, lease=dt.timedelta(seconds=60))
    crashed = Dispatcher(sessions, {"email": email}, policy=policy, clock=clock)
    _, held = crashed.claim(now[0])  # claimed, then the process died before sending
    assert len(held) == 3
    survivor = Dispatcher(sessions, {"email": email}, policy=policy, clock=clock)
    now[0] += dt.timedelta(seconds=30)
    assert survivor.run_once().sent == 2  # the two nobody holds
    assert survivor.run_once().claimed == 0  # the lease still holds the other three
    now[0] += dt.timedelta(seconds=31)
    assert survivor.run_once().sent == 3
    ids = smtp_server.mailbox.message_ids()
    assert len(ids) == len(set(ids)) == 5
    with sessions() as session:
        assert sorted(session.scalars(select(Delivery.attempts))) == [1, 1, 2, 2, 2]
    email.close()


def _log(sessions: sessionmaker[Session]) -> list[tuple[int, str]]:
    with sessions() as session:
        return [(row.delivery_id, row.outcome) for row in session.scalars(
            select(DeliveryAttempt).order_by(DeliveryAttempt.id))]


def test_a_dispatcher_whose_lease_lapsed_hands_nothing_over(
        sessions: sessionmaker[Session], region: tuple[Seeded, dict[str, int]],
        smtp_server: SmtpServer) -> None:
    _, users = region
    with sessions.begin() as session:
        _prefs(session, users["resident1"], language="en", email="r1@example.org")
        for n in range(3):
            notices.notify(session, users["resident1"], "request_resolved", {"request": n},
                           f"test:slow:{n}", now=T0)
    now, clock = _clock(T0)
    policy = DispatchPolicy(batch=3, lease=dt.timedelta(seconds=60))
    slow_mail = EmailAdapter(smtp_server.host, smtp_server.port, "noreply@shequ.example")
    slow = Dispatcher(sessions, {"email": slow_mail}, policy=policy, clock=clock)
    token, held = slow.claim(now[0])  # then it stalls past its lease …
    now[0] += dt.timedelta(seconds=61)
    other_mail = EmailAdapter(smtp_server.host, smtp_server.port, "noreply@shequ.example")
    other = Dispatcher(sessions, {"email": other_mail}, policy=policy, clock=clock)
    assert other.run_once().sent == 3  # … and another dispatcher took the batch over
    report = DispatchReport()
    slow.deliver(token, held, report)  # the stalled one wakes up and delivers what it held
    # Each message's text went over DATA, then the hand-over found the lease gone: the
    # connection was dropped before the final dot, so the server kept nothing of it.
    assert (report.sent, report.lost_leases) == (0, 3)
    ids = smtp_server.mailbox.message_ids()
    assert sorted(ids) == sorted(message_id(f"test:slow:{n}", "shequ.example")
                                 for n in range(3))
    with sessions() as session:
        delivery_ids = sorted(session.scalars(select(Delivery.id)))
    assert _log(sessions) == [(d, "sent") for d in delivery_ids]
    slow_mail.close()
    other_mail.close()


class _Killed(BaseException):
    """The process dying right after the SMTP server took a message."""


class _DiesAfterHandingOver:
    """The real e-mail adapter, in a dispatcher killed after the server's 250 and before
    the dispatcher recorded it."""

    def __init__(self, email: EmailAdapter) -> None:
        self.email = email

    def send(self, message: Outgoing, *, hand_over: HandOver | None = None) -> None:
        self.email.send(message, hand_over=hand_over)
        raise _Killed

    def close(self) -> None:
        self.email.close()


def test_a_hand_over_interrupted_by_a_kill_is_sent_again_under_the_same_message_id(
        sessions: sessionmaker[Session], region: tuple[Seeded, dict[str, int]],
        smtp_server: SmtpServer) -> None:
    _, users = region
    with sessions.begin() as session:
        _prefs(session, users["resident1"], language="en", email="r1@example.org")
        notices.notify(session, users["resident1"], "request_resolved", {"request": 9},
                       "test:interrupted", now=T0)
    now, clock = _clock(T0)
    policy = DispatchPolicy(batch=1, lease=dt.timedelta(seconds=60))
    email = EmailAdapter(smtp_server.host, smtp_server.port, "noreply@shequ.example")
    dying = Dispatcher(sessions, {"email": _DiesAfterHandingOver(email)}, policy=policy,
                       clock=clock)
    with pytest.raises(_Killed):
        dying.run_once()
    with sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
        assert (delivery.status, delivery.attempts) == ("sending", 1)
    assert _log(sessions) == [(delivery.id, "handing")]  # the server may have it: it has
    assert len(smtp_server.mailbox.message_ids()) == 1
    now[0] += dt.timedelta(seconds=61)
    survivor = Dispatcher(sessions, {"email": email}, policy=policy, clock=clock)
    report = survivor.run_once()
    assert (report.interrupted, report.sent) == (1, 1)
    # At least once on the wire, both under the event's one Message-ID; once in the log.
    assert smtp_server.mailbox.message_ids() == [message_id("test:interrupted",
                                                            "shequ.example")] * 2
    assert _log(sessions) == [(delivery.id, "interrupted"), (delivery.id, "sent")]
    with sessions() as session:
        row = session.get_one(Delivery, delivery.id)
        assert (row.status, row.attempts, row.lease_token) == ("sent", 2, None)
        reason = session.scalars(select(DeliveryAttempt.error)).first()
        assert reason is not None and "same event id" in reason
    email.close()


def test_booking_decisions_and_reminders_notify_the_booker_and_staff(
        sessions: sessionmaker[Session], region: tuple[Seeded, dict[str, int]]) -> None:
    info, users = region
    facility = info.facilities["多福巷社区综合服务站"]
    start = dt.datetime.combine(local_now().date() + dt.timedelta(days=2), dt.time(9))
    with sessions.begin() as session:
        resource = bookings.create_resource(session, facility_id=facility, name="活动室",
                                            capacity=20, opening_hours="Mo-Su 08:00-20:00")
        booker = session.get_one(User, users["resident1"])
        b = bookings.book_as(session, booker, resource_id=resource.id, starts_at=start,
                             ends_at=start + dt.timedelta(hours=1), purpose="书法课",
                             attendees=5)
        booking_id = b.id
    with sessions.begin() as session:
        written = staff_reminders(session, now=T0)
        assert {(r.user_id, r.kind.value, r.count) for r in written
                if r.kind.value == "bookings_to_approve"} >= {
            (users["worker_dfx"], "bookings_to_approve", 1),
            (users["officer_dhm"], "bookings_to_approve", 1)}
        assert not [r for r in written if r.user_id == users["worker_yz"]]
        assert staff_reminders(session, now=T0 + dt.timedelta(hours=1)) == []  # same day
        bookings.decide_as(session, session.get_one(User, users["worker_dfx"]), booking_id,
                           approve=True)
        due = [x for x in bookings.due_reminders(session, now=start - dt.timedelta(hours=2))
               if x.id == booking_id]
        bookings.mark_reminded(session, due)
    with sessions() as session:
        rows = session.scalars(select(Notification).where(
            Notification.user_id == users["resident1"]).order_by(Notification.id)).all()
        assert [(r.kind, r.event_id) for r in rows] == [
            ("booking_approved", f"booking:{booking_id}:approved"),
            ("booking_due", f"booking:{booking_id}:due")]
        message = notices.message_of(rows[0], "en")
        assert message.body == (f"Your booking at 多福巷社区综合服务站 ({start:%Y-%m-%d %H:%M}) "
                                "was approved.")
        reminders = session.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == users["worker_dfx"]))
        assert reminders == 1  # once a day, however often the job runs
        assert session.get_one(Booking, booking_id).status == BookingStatus.APPROVED.value
        assert session.scalar(select(func.count()).select_from(BookableResource)) == 1


@pytest.mark.parametrize(("field", "value", "code"), [
    ("email", "not-an-address", "notify.bad_email"),
    ("phone", "12ab", "notify.bad_phone"),
    ("quiet_start", "25:00", "notify.bad_time"),
])
def test_preferences_refuse_bad_addresses_and_times(
        sessions: sessionmaker[Session], region: tuple[Seeded, dict[str, int]],
        field: str, value: str, code: str) -> None:
    from shequ.errors import ValidationError

    _, users = region
    values: dict[str, object] = {"language": "en", "email_on": False, "email": None,
                                 "sms_on": False, "phone": None, "wechat_on": False,
                                 "wechat_openid": None, "quiet_start": None,
                                 "quiet_end": "07:00" if field == "quiet_start" else None}
    values[field] = value
    with sessions() as session, pytest.raises(ValidationError) as caught:
        notices.save_preferences(session, session.get_one(User, users["resident1"]),
                                 **values)  # type: ignore[arg-type]
    assert [p.code for p in caught.value.problems] == [code]
