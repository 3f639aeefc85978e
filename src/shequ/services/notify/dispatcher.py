"""The dispatcher: claims due deliveries under a lease, sends them, records each outcome.

A claim is one statement that marks up to ``batch`` due deliveries ``sending`` with a
random token and a lease (``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) AND
<still due>``), so two dispatchers never hold the same delivery.  A dispatcher killed
mid-batch leaves its unsent deliveries ``sending``; when the lease lapses another
dispatcher claims them.  A delivery is one row per notification and channel, so an event
reaches a channel once.

The hand-over.  Just before the channel commits to a message (for e-mail, after the whole
text went over SMTP's DATA, before the final ``.``), the dispatcher checks in one
transaction that the lease is still its own, extends it, and logs the attempt as
``handing``; a lapsed lease stops the send there (another dispatcher may hold the
delivery), so a slow dispatcher never sends what another took.  Right after the channel's
answer the attempt is recorded as ``sent`` with the delivery, in one transaction.

What no protocol step closes (RFC 1047): a dispatcher killed between the server's taking
the message and that transaction.  On the wire, delivery is at least once: the next
dispatcher finds the attempt still ``handing``, logs it ``interrupted`` (it may have
arrived) and sends the message again under the same event id (the e-mail's Message-ID,
the gateway's idempotency key), by which the receiver sees the repeat.  The window is one
reply and one commit long, and at most one message per killed dispatcher falls in it
(it sends one at a time).  In the database it is exactly once: each delivery is recorded
``sent`` once.

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

from sqlalchemy import and_, insert, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from shequ.registry.columns import utc_now
from shequ.services.notify.channels import (
    ChannelAdapter,
    HandOverRefused,
    Outgoing,
    SendFailed,
)
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
HANDING = "handing"  # an attempt between the hand-over and the channel's answer
INTERRUPTED = "interrupted"  # a hand-over whose dispatcher stopped before the answer
INTERRUPTED_REASON = ("the dispatcher stopped while handing the message to the channel; "
                      "it may have arrived, and is sent again under the same event id")


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
    interrupted: int = 0
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
        self.interrupted = 0  # interrupted hand-overs found by the last claim

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
            # Hand-overs of a dispatcher that stopped before the channel answered.
            interrupted = session.execute(
                update(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id.in_(
                    select(Delivery.id).where(Delivery.lease_token == token)),
                    DeliveryAttempt.outcome == HANDING)
                .values(outcome=INTERRUPTED, error=INTERRUPTED_REASON)
                .execution_options(synchronize_session=False))
            self.interrupted = int(getattr(interrupted, "rowcount", 0) or 0)
            if self.interrupted:
                log.warning("%d notification(s) were being handed over when their "
                            "dispatcher stopped; sent again under the same event id",
                            self.interrupted)
            rows = session.execute(
                select(Delivery.id, Delivery.channel, Delivery.attempts, Notification.event_id,
                       Notification.user_id, Notification.kind, Notification.params)
                .join(Notification, Notification.id == Delivery.notification_id)
                .where(Delivery.lease_token == token)
                .order_by(Delivery.next_attempt_at, Delivery.id)).all()
        return token, [_Claimed(*row) for row in rows]

    def _hand_over(self, token: str, item: _Claimed) -> int | None:
        """Just before the channel commits to ``item``: while the lease is ours, extend
        it and log the attempt as handing (committed); its id, or None when the lease
        lapsed (do not send)."""
        now = self.clock()
        with self.sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                # Not waiting for the disk: only a crash of PostgreSQL itself loses this
                # commit, and then the outcome's commit fails too, so the message is sent
                # again as after any unrecorded send (the log just lacks "interrupted").
                # The outcome's commit flushes this one with it.
                session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            result = session.execute(
                update(Delivery).where(Delivery.id == item.delivery_id,
                                       Delivery.lease_token == token)
                .values(lease_until=now + self.policy.lease)
                .execution_options(synchronize_session=False))
            if not getattr(result, "rowcount", 0):
                return None
            attempt: int = session.execute(
                insert(DeliveryAttempt).values(delivery_id=item.delivery_id, at=now,
                                               outcome=HANDING)
                .returning(DeliveryAttempt.id)).scalar_one()
        return attempt

    def _finish(self, token: str, item: _Claimed, outcome: str, *, now: dt.datetime,
                error: str | None = None, next_at: dt.datetime | None = None,
                attempts: int | None = None, attempt_id: int | None = None) -> bool:
        """Record ``outcome`` of a leased delivery (only while the lease is ours), in the
        handed-over attempt's row when there is one."""
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
            logged = {"at": now, "outcome": outcome,
                      "error": error[:ERROR_CHARS] if error else None}
            if attempt_id is not None:
                session.execute(update(DeliveryAttempt).where(DeliveryAttempt.id == attempt_id)
                                .values(**logged)
                                .execution_options(synchronize_session=False))
            elif outcome != "postponed":
                session.execute(insert(DeliveryAttempt).values(
                    delivery_id=item.delivery_id, **logged))
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
        report.interrupted = self.interrupted
        self.deliver(token, items, report)
        return report

    def deliver(self, token: str, items: list[_Claimed], report: DispatchReport) -> None:
        """Deliver a batch claimed under ``token``, one message at a time, into ``report``."""
        if not items:
            return
        prefs = self._preferences({item.user_id for item in items})
        for item in items:
            self._deliver(token, item, prefs.get(item.user_id), report)

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
        handed: list[int | None] = []

        def hand_over() -> bool:
            if not handed:
                handed.append(self._hand_over(token, item))
            return handed[0] is not None

        try:
            adapter.send(outgoing, hand_over=hand_over)
        except HandOverRefused:
            report.lost_leases += 1
            log.warning("delivery %s was not sent: its lease lapsed first", item.delivery_id)
            return
        except SendFailed as exc:
            error = str(exc)
            report.errors.append(error)
            attempt_id = handed[0] if handed else None
            now = self.clock()
            if exc.permanent or item.attempts >= self.policy.max_attempts:
                self._finish(token, item, "failed", now=now, error=error,
                             attempt_id=attempt_id)
                report.failed += 1
            else:
                retry = in_quiet_hours(pref, self.policy.retry_at(item.attempts, now))
                self._finish(token, item, "retry", now=now, error=error, next_at=retry,
                             attempt_id=attempt_id)
                report.retried += 1
            return
        if self._finish(token, item, "sent", now=self.clock(),
                        attempt_id=handed[0] if handed else None):
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
