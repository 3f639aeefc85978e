"""A dispatcher process killed with SIGKILL in the middle of a batch, and another started:
every notification reaches the SMTP server, each recorded as sent once, on SQLite and
PostgreSQL.

The one message the server may get twice is the one in flight at the kill (accepted by
the server, not yet marked sent); it carries the same Message-ID, made from the event
id, so that the receiver sees it is the same message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.services.accounts import User
from shequ.services.notify import service as notices
from shequ.services.notify.channels import message_id
from shequ.services.notify.models import Delivery, DeliveryAttempt
from tests.services.conftest import Seeded

from .conftest import SmtpServer

N = 60


def _dispatcher(db_url: str, tmp_path: Path, smtp: SmtpServer, *extra: str
                ) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHEQU_DATABASE_URL": db_url, "SHEQU_DATA_DIR": str(tmp_path),
           "SHEQU_ENV": "test", "SHEQU_SMTP_HOST": smtp.host, "SHEQU_SMTP_PORT": str(smtp.port),
           "SHEQU_SMTP_SENDER": "noreply@shequ.example"}
    return subprocess.Popen(
        [sys.executable, "-m", "shequ.services.notify.cli", "run", "--batch", "20", "--lease", "3",
         "--idle", "0.2", "--no-reminders", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_killed_dispatchers_batch_is_delivered_once_by_the_next(
        db_url: str, tmp_path: Path, sessions: sessionmaker[Session],
        region: tuple[Seeded, dict[str, int]], smtp_server: SmtpServer) -> None:
    _, users = region
    with sessions.begin() as session:
        notices.save_preferences(
            session, session.get_one(User, users["resident1"]), language="en", email_on=True,
            email="resident1@example.org", sms_on=False, phone=None, wechat_on=False,
            wechat_openid=None, quiet_start=None, quiet_end=None)
        events = [f"test:kill:{n}" for n in range(N)]
        for n, event in enumerate(events):
            notices.notify(session, users["resident1"], "request_resolved", {"request": n},
                           event)
    box = smtp_server.mailbox
    box.delay = 0.02  # a slow server, so that the kill lands inside a batch

    first = _dispatcher(db_url, tmp_path, smtp_server)
    _wait(lambda: len(box.messages) >= 15, 60, "15 messages from the first dispatcher")
    first.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    with sessions() as session:
        held = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.status == "sending"))
        assert held, "the kill should leave a leased part of the batch"
    received_at_kill = len(box.messages)
    assert received_at_kill < N

    second = _dispatcher(db_url, tmp_path, smtp_server)

    def all_sent() -> bool:
        with sessions() as session:
            return session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.status == "sent")) == N

    try:
        _wait(all_sent, 90, "every delivery sent")
    finally:
        second.send_signal(signal.SIGTERM)
        output = second.communicate(timeout=20)[0].decode()
    assert second.returncode == 0, output

    ids = Counter(box.message_ids())
    assert set(ids) == {message_id(event, "shequ.example") for event in events}  # none lost
    assert sum(ids.values()) - len(ids) <= 1  # at most the one in flight at the kill
    with sessions() as session:
        sent_log = session.scalar(select(func.count()).select_from(DeliveryAttempt).where(
            DeliveryAttempt.outcome == "sent"))
        assert sent_log == N  # each recorded as sent exactly once
        retaken = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.attempts == 2))
        assert retaken == held  # the killed batch's rest, taken over when its lease lapsed
