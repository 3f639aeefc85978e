"""Where the dispatcher runs: a background thread of each server (the default) or its own
process (``shequ notify run``), with the channels the settings configure and the
periodic job: reminders (staff's daily reminders, bookings starting within a day) and
the server's upkeep (idempotency keys past their retention are purged).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shequ.services.notify.channels import (
    ChannelAdapter,
    EmailAdapter,
    SmsAdapter,
    WechatAdapter,
)
from shequ.services.notify.dispatcher import Dispatcher, DispatchPolicy
from shequ.services.notify.models import Channel
from shequ.settings import Settings

log = logging.getLogger(__name__)


def adapters_from(settings: Settings) -> dict[str, ChannelAdapter]:
    """The channels ``settings`` configure (e-mail when an SMTP host is set, and so on)."""
    adapters: dict[str, ChannelAdapter] = {}
    if settings.smtp_host:
        adapters[Channel.EMAIL.value] = EmailAdapter(
            settings.smtp_host, settings.smtp_port, settings.smtp_sender,
            username=settings.smtp_username, password=settings.smtp_password,
            starttls=settings.smtp_starttls, base_url=settings.public_url)
    if settings.sms_url and settings.sms_token:
        adapters[Channel.SMS.value] = SmsAdapter(settings.sms_url, settings.sms_token)
    if settings.wechat_appid and settings.wechat_secret and settings.wechat_template:
        adapters[Channel.WECHAT.value] = WechatAdapter(
            settings.wechat_base_url, settings.wechat_appid, settings.wechat_secret,
            settings.wechat_template)
    return adapters


def remind(sessions: sessionmaker[Session]) -> int:
    """The periodic job: staff reminders and bookings starting within a day; how many
    notifications it wrote.  Another server doing the same at the same moment wins the
    race on the event ids, and this one's transaction is dropped."""
    # Imported here: a dispatcher process starts without the services' modules it needs
    # only for the periodic jobs.
    from shequ.services.bookings import service as bookings
    from shequ.services.notify.reminders import round_reminders, staff_reminders

    try:
        with sessions.begin() as session:
            written = len(staff_reminders(session)) + len(round_reminders(session))
            due = bookings.due_reminders(session)
            bookings.mark_reminded(session, due)
            return written + len(due)
    except IntegrityError:
        log.info("another dispatcher wrote these reminders first")
        return 0


def forget_old_keys(sessions: sessionmaker[Session], settings: Settings, *,
                    now: dt.datetime | None = None) -> int:
    """Purge the idempotency keys older than ``settings.idempotency_retention_days``; how
    many were purged."""
    from shequ.services import offline

    with sessions() as session:
        return offline.forget_expired(
            session, retention_days=settings.idempotency_retention_days, now=now)


def periodic_jobs(sessions: sessionmaker[Session], settings: Settings) -> None:
    """What the dispatcher's loop runs every so often: the reminders, then the upkeep.
    Each runs even when the other failed (the failure is logged)."""
    try:
        remind(sessions)
    except Exception:  # the keys are still purged
        log.exception("the reminders job failed")
    purged = forget_old_keys(sessions, settings)
    if purged:
        log.info("purged %d idempotency key(s) older than %d day(s)", purged,
                 settings.idempotency_retention_days)


def dispatcher_for(sessions: sessionmaker[Session], settings: Settings, *,
                   policy: DispatchPolicy | None = None) -> Dispatcher:
    """A dispatcher over ``sessions`` with the channels ``settings`` configure."""
    return Dispatcher(sessions, adapters_from(settings), policy=policy)


@dataclass
class BackgroundDispatcher:
    """A dispatcher running in a daemon thread until :meth:`stop`."""

    thread: threading.Thread
    stopping: threading.Event

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to finish its current delivery and wait for it."""
        self.stopping.set()
        self.thread.join(timeout)


def start_in_background(sessions: sessionmaker[Session], settings: Settings, *,
                        idle_seconds: float = 2.0,
                        remind_every: dt.timedelta = dt.timedelta(minutes=15)
                        ) -> BackgroundDispatcher:
    """Start the dispatcher (and its periodic jobs) in a thread of this process."""
    dispatcher = dispatcher_for(sessions, settings)
    stopping = threading.Event()
    thread = threading.Thread(
        target=dispatcher.run, args=(stopping,), name="shequ-notify", daemon=True,
        kwargs={"idle_seconds": idle_seconds,
                "periodic": lambda: periodic_jobs(sessions, settings),
                "periodic_seconds": remind_every.total_seconds()})
    thread.start()
    return BackgroundDispatcher(thread, stopping)
