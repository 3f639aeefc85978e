"""Notification delivery: 10,000 e-mails through the dispatcher to a real SMTP server.

Shequ writes each notification with its event (``notify``, the outbox) and a dispatcher
leases due deliveries, renders each in its reader's language, sends it over one kept SMTP
connection and marks it sent in a transaction of its own.  The peer is the floor of any
SMTP sender: the same messages sent by ``smtplib`` over one connection, with no database,
in the same process to the same server (``aiosmtpd`` on 127.0.0.1).

Printed per back-end: notifications written per second, delivered per second (median of
``--repeat`` runs), the ratio to the peer, and what the server received: ``lost`` (event
ids never received) and ``doubled`` (received more than once) must both be 0.  With
``--dispatchers 2`` two dispatchers share the work through their leases.

    python bench/notify_bench.py                          # SQLite, 10,000 notifications
    python bench/notify_bench.py --backend postgres --dispatchers 2
    python bench/notify_bench.py -n 500                   # a quick look
"""

from __future__ import annotations

import argparse
import email
import email.policy
import multiprocessing
import smtplib
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from scratch import database
from shequ.context import Context
from shequ.services.accounts import User, create_user, hash_password
from shequ.services.notify import service as notices
from shequ.services.notify.channels import EmailAdapter, Outgoing, message_id
from shequ.services.notify.dispatcher import Dispatcher, DispatchPolicy
from shequ.services.notify.models import Delivery
from shequ.settings import Settings

USERS = 100
SENDER = "noreply@shequ.example"


class Counting:
    """An SMTP handler that writes the Message-ID of every message it accepts, a line each."""

    def __init__(self, path: Path) -> None:
        self.out = path.open("a", buffering=1, encoding="utf-8")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.out.write(f"{message['Message-ID']}\n")
        return "250 OK"


def _serve(port: int, path: Path, stop: Any) -> None:
    controller = Controller(Counting(path), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


class SmtpServer:
    """aiosmtpd in a process of its own (in this one it would share the interpreter lock
    with the sender, and each reply would wait for a thread switch)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.path = Path(tempfile.mkdtemp()) / "received.txt"
        self.path.touch()
        self.stop = multiprocessing.Event()
        self.process = multiprocessing.Process(target=_serve,
                                               args=(self.port, self.path, self.stop))
        self.process.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=2) as probe:
                    probe.noop()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def received(self) -> list[str]:
        """The Message-IDs received so far."""
        return self.path.read_text(encoding="utf-8").split()

    def close(self) -> None:
        self.stop.set()
        self.process.join(10)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_shequ(backend: str, n: int, dispatchers: int, batch: int
              ) -> tuple[float, float, int, int, int]:
    """Write ``n`` notifications, deliver them; (written/s, delivered/s, lost, doubled,
    deliveries not marked sent)."""
    url, drop = database(backend)
    server = SmtpServer()
    port = server.port
    ctx = Context.open(Settings(data_dir=Path(tempfile.mkdtemp()), database_url=url,
                                environment="test"))
    try:
        password_hash = hash_password("bench-password-0123")
        with ctx.sessions.begin() as session:
            users = [create_user(session, username=f"bench{i}", role="resident",
                                 password_hash=password_hash).id for i in range(USERS)]
            for i, user_id in enumerate(users):
                notices.save_preferences(
                    session, session.get_one(User, user_id),
                    language="en" if i % 2 else "zh-CN", email_on=True,
                    email=f"bench{i}@example.org", sms_on=False, phone=None,
                    wechat_on=False, wechat_openid=None, quiet_start=None, quiet_end=None)
        events = [f"bench:{k}" for k in range(n)]
        started = time.perf_counter()
        with ctx.sessions.begin() as session:
            for k, event in enumerate(events):
                notices.notify(session, users[k % USERS], "request_closed", {"request": k},
                               event)
        written = n / (time.perf_counter() - started)

        def work() -> None:
            adapter = EmailAdapter("127.0.0.1", port, SENDER)
            dispatcher = Dispatcher(ctx.sessions, {"email": adapter},
                                    policy=DispatchPolicy(batch=batch))
            while dispatcher.run_once().claimed:
                pass
            dispatcher.close()

        started = time.perf_counter()
        threads = [threading.Thread(target=work) for _ in range(dispatchers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        delivered = n / (time.perf_counter() - started)
        received = Counter(server.received())
        expected = {message_id(event, "shequ.example") for event in events}
        lost = len(expected - set(received))
        doubled = sum(count - 1 for count in received.values())
        with ctx.sessions() as session:
            unsent = session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.status != "sent")) or 0
    finally:
        ctx.close()
        server.close()
        drop()
    return written, delivered, lost, doubled, unsent


def run_peer(n: int) -> float:
    """The same messages by smtplib over one connection, no database; messages/s."""
    server = SmtpServer()
    port = server.port
    adapter = EmailAdapter("127.0.0.1", port, SENDER)
    try:
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for k in range(n):
                smtp.send_message(adapter.compose(Outgoing(
                    event_id=f"peer:{k}", address=f"bench{k % USERS}@example.org",
                    language="en", title=f"Your request #{k} was closed",
                    body=f"Your request #{k} was closed; you can rate how it was handled.",
                    link=f"/services/requests/{k}")))
        rate = n / (time.perf_counter() - started)
        time.sleep(0.2)
        assert len(server.received()) == n
    finally:
        server.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=10_000, help="notifications")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--dispatchers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    peer = statistics.median(run_peer(args.n) for _ in range(args.repeat))
    print(f"peer (smtplib, one connection, no database): {peer:,.0f} messages/s")
    for backend in backends:
        runs = [run_shequ(backend, args.n, args.dispatchers, args.batch)
                for _ in range(args.repeat)]
        written = statistics.median(r[0] for r in runs)
        delivered = statistics.median(r[1] for r in runs)
        lost = max(r[2] for r in runs)
        doubled = max(r[3] for r in runs)
        unsent = max(r[4] for r in runs)
        print(f"{backend}: {args.n:,} notifications, {args.dispatchers} dispatcher(s): "
              f"written {written:,.0f}/s, delivered {delivered:,.0f}/s "
              f"(ratio to peer {delivered / peer:.2f}); lost {lost}, doubled {doubled}, "
              f"not marked sent {unsent}")


if __name__ == "__main__":
    main()
