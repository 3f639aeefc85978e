"""Fixtures of the notification tests: a real SMTP server (aiosmtpd on 127.0.0.1) that
keeps every message it accepts, and the seeded region on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shequ.services.accounts import User
from tests.services.conftest import Seeded, free_port, seed


@dataclass
class Mailbox:
    """What the SMTP server accepted, in order (parsed), and the envelope recipients."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Seconds the server waits before answering DATA (a slow server, for the kill test).
    delay: float = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"

    def message_ids(self) -> list[str]:
        """The Message-ID of each message received, in order."""
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


@dataclass(frozen=True)
class SmtpServer:
    """A running aiosmtpd server and its mailbox."""

    host: str
    port: int
    mailbox: Mailbox


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1, stopped after the test."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def region(sessions: sessionmaker[Session]) -> tuple[Seeded, dict[str, int]]:
    """The seeded region (committed) and the user ids by username."""
    with sessions.begin() as session:
        info = seed(session)
    with sessions() as session:
        users = {u.username: u.id for u in session.scalars(select(User))}
    return info, users
