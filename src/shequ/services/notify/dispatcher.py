"""The dispatcher: claims due deliveries under a lease, sends them, records each outcome.

A claim is one statement that marks up to ``batch`` due deliveries ``sending`` with a
random token and a lease (``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) AND
<still due>``), so two dispatchers never hold the same delivery.  Each delivery is
marked ``sent`` in its own transaction right after the channel accepted it, and only
while the lease is still the claimer's.  A dispatcher killed mid-batch leaves its
unsent deliveries ``sending``; when the lease lapses another dispatcher claims them.
A delivery is one row per notification and channel, so an event reaches a channel once;
the one message that may be repeated is the one in flight at the moment of a kill, and
it carries the same event id (the e-mail's Message-ID, the gateway's idempotency key).

A failed try is retried after ``backoff × 2^(attempt-1)`` (capped), moved past the
user's quiet hours, until ``max_attempts``; every try is logged
(``notification_attempt``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from shequ.registry.columns import utc_now
from shequ.services.notify.channels import ChannelAdapter, Outgoing, SendFailed
from shequ.services.notify.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    NotificationPreference,
)
from shequ.services.notify.service import in_quiet_hours, render

log = logging.getLogger(__name__)
ERROR_CHARS = 500  # the column's length


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """How many deliveries a claim takes, how long it holds them, how failures retry."""

    batch: int = 100
    lease: dt.timedelta = dt.timedelta(seconds=120)
    max_attempts: int = 8
    backoff: dt.timedelta = dt.timedelta(seconds=30)
    backoff_cap: dt.timedelta = dt.timedelta(hours=6)

    def retry_at(self, attempts: int, now: dt.datetime) -> dt.datetime:
        """When the try after the ``attempts``-th failed one is due."""
        delay: dt.timedelta = min(self.backoff * (2 ** max(attempts - 1, 0)), self.backoff_cap)
        return now + delay


@dataclass(slots=True)
class DispatchReport:
    """What one pass did: deliveries sent, put back to retry, given up, skipped."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    lost_leases: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Claimed:
    delivery_id: int
    channel: str
    attempts: int
    event_id: str
    user_id: int
    kind: str
    params: str


def _due(now: dt.datetime) -> object:
    return or_(and_(Delivery.status == DeliveryStatus.PENDING.value,
                    Delivery.next_attempt_at <= now),
               and_(Delivery.status == DeliveryStatus.SENDING.value,
                    Delivery.lease_until < now))


class Dispatcher:
    """Delivers due notifications through ``adapters`` (by channel name)."""

    def __init__(self, sessions: sessionmaker[Session],
                 adapters: Mapping[str, ChannelAdapter], *,
                 policy: DispatchPolicy | None = None,
                 clock: Callable[[], dt.datetime] = utc_now) -> None:
        self.sessions = sessions
        self.adapters = dict(adapters)
        self.policy = policy or DispatchPolicy()
        self.clock = clock

    def claim(self, now: dt.datetime) -> tuple[str, list[_Claimed]]:
        """Lease up to ``policy.batch`` due deliveries; the lease's token and them."""
        token = uuid.uuid4().hex
        due = _due(now)
        with self.sessions.begin() as session:
            ids = (select(Delivery.id).where(due)  # type: ignore[arg-type]
                   .order_by(Delivery.next_attempt_at, Delivery.id).limit(self.policy.batch))
            if session.get_bind().dialect.name == "postgresql":
                ids = ids.with_for_update(skip_locked=True)
            # Fetched first, not as a subquery of the UPDATE: PostgreSQL may run such a
            # subquery again per row, and its LIMIT would not bound the claim.
            chosen = list(session.scalars(ids))
            if not chosen:
                return token, []
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(chosen), due)  # type: ignore[arg-type]
                .values(status=DeliveryStatus.SENDING.value, lease_token=token,
                        lease_until=now + self.policy.lease, attempts=Delivery.attempts + 1)
                .execution_options(synchronize_session=False))
            rows = session.execute(
                select(Delivery.id, Delivery.channel, Delivery.attempts, Notification.event_id,
                       Notification.user_id, Notification.kind, Notification.params)
                .join(Notification, Notification.id == Delivery.notification_id)
                .where(Delivery.lease_token == token)
                .order_by(Delivery.next_attempt_at, Delivery.id)).all()
        return token, [_Claimed(*row) for row in rows]

    def _finish(self, token: str, item: _Claimed, outcome: str, *, now: dt.datetime,
                error: str | None = None, next_at: dt.datetime | None = None,
                attempts: int | None = None) -> bool:
        """Record ``outcome`` of a leased delivery (only while the lease is ours)."""
        status = {"sent": DeliveryStatus.SENT, "retry": DeliveryStatus.PENDING,
                  "postponed": DeliveryStatus.PENDING, "failed": DeliveryStatus.FAILED,
                  "skipped": DeliveryStatus.SKIPPED}[outcome]
        values: dict[str, object] = {"status": status.value, "lease_token": None,
                                     "lease_until": None}
        if outcome == "sent":
            values.update(sent_at=now, last_error=None)
        elif error is not None:
            values["last_error"] = error[:ERROR_CHARS]
        if next_at is not None:
            values["next_attempt_at"] = next_at
        if attempts is not None:
            values["attempts"] = attempts
        with self.sessions.begin() as session:
            result = session.execute(
                update(Delivery).where(Delivery.id == item.delivery_id,
                                       Delivery.lease_token == token)
                .values(**values).execution_options(synchronize_session=False))
            if not getattr(result, "rowcount", 0):
                return False
            if outcome != "postponed":
                session.execute(insert(DeliveryAttempt).values(
                    delivery_id=item.delivery_id, at=now, outcome=outcome,
                    error=error[:ERROR_CHARS] if error else None))
        return True

    def _preferences(self, user_ids: set[int]) -> dict[int, NotificationPreference]:
        with self.sessions() as session:
            rows = session.scalars(select(NotificationPreference).where(
                NotificationPreference.user_id.in_(sorted(user_ids)))).all()
            session.expunge_all()
        return {row.user_id: row for row in rows}

    def run_once(self) -> DispatchReport:
        """Claim one batch and deliver it."""
        report = DispatchReport()
        token, items = self.claim(self.clock())
        report.claimed = len(items)
        if not items:
            return report
        prefs = self._preferences({item.user_id for item in items})
        for item in items:
            self._deliver(token, item, prefs.get(item.user_id), report)
        return report

    def _deliver(self, token: str, item: _Claimed, pref: NotificationPreference | None,
                 report: DispatchReport) -> None:
        now = self.clock()
        address = None
        if pref is not None:
            address = {Channel.EMAIL.value: pref.email if pref.email_on else None,
                       Channel.SMS.value: pref.phone if pref.sms_on else None,
                       Channel.WECHAT.value: pref.wechat_openid if pref.wechat_on else None
                       }.get(item.channel)
        adapter = self.adapters.get(item.channel)
        if address is None or adapter is None:
            reason = ("the user turned this channel off" if address is None
                      else f"no {item.channel} channel is configured on this server")
            self._finish(token, item, "skipped", now=now, error=reason)
            report.skipped += 1
            return
        quiet_until = in_quiet_hours(pref, now)
        if quiet_until > now:  # quiet hours begun since it was written: wait, uncounted
            self._finish(token, item, "postponed", now=now, next_at=quiet_until,
                         attempts=item.attempts - 1)
            return
        lang = pref.language if pref is not None else "zh-CN"
        message = render(item.kind, json.loads(item.params or "{}"), lang)
        outgoing = Outgoing(event_id=item.event_id, address=address, language=lang,
                            title=message.title, body=message.body, link=message.link)
        try:
            adapter.send(outgoing)
        except SendFailed as exc:
            error = str(exc)
            report.errors.append(error)
            if exc.permanent or item.attempts >= self.policy.max_attempts:
                self._finish(token, item, "failed", now=now, error=error)
                report.failed += 1
            else:
                retry = in_quiet_hours(pref, self.policy.retry_at(item.attempts, now))
                self._finish(token, item, "retry", now=now, error=error, next_at=retry)
                report.retried += 1
            return
        if self._finish(token, item, "sent", now=now):
            report.sent += 1
        else:
            report.lost_leases += 1
            log.warning("delivery %s was sent after its lease lapsed", item.delivery_id)

    def close(self) -> None:
        """Close every adapter's connections."""
        for adapter in self.adapters.values():
            adapter.close()

    def run(self, stop: threading.Event, *, idle_seconds: float = 2.0,
            periodic: Callable[[], object] | None = None,
            periodic_seconds: float = 900.0) -> None:
        """Deliver until ``stop`` is set: batches back to back while there is work, a
        pause of ``idle_seconds`` when there is none; ``periodic`` (the staff reminders)
        every ``periodic_seconds``."""
        last_periodic = float("-inf")
        try:
            while not stop.is_set():
                clock = self.clock().timestamp()
                if periodic is not None and clock - last_periodic >= periodic_seconds:
                    last_periodic = clock
                    try:
                        periodic()
                    except Exception:  # a failing reminder job must not stop deliveries
                        log.exception("the periodic notification job failed")
                try:
                    report = self.run_once()
                except Exception:  # the database away for a moment: try again later
                    log.exception("a notification dispatch pass failed")
                    report = DispatchReport()
                if report.claimed == 0:
                    self.close()  # no SMTP connection held open while idle
                    stop.wait(idle_seconds)
        finally:
            self.close()
