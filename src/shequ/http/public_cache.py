"""A short-lived cache of public answers: what every anonymous reader of a public read
gets, kept for a second or two so that a busy server computes it once, not hundreds of
times (the "micro-cache" of web servers).

Only these are kept: a ``GET`` with no ``Authorization`` header and no sign-in cookie,
to a path under :data:`PUBLIC_READS` (the registry, the directory, Open311 and the short
boards: what anyone may read), answered ``200`` with no ``Set-Cookie``, of at most
:data:`MAX_BODY` bytes.  The key is the path, the query and the headers an answer may
depend on (``Accept``, ``Accept-Language`` and the cookies, whose language cookie picks
the words).

How stale an answer may be: at most ``seconds`` (``SHEQU_PUBLIC_CACHE_SECONDS``, 2 by
default, 0 turns the cache off).  A write this process serves (a method other than
``GET``/``HEAD``) clears the whole cache once it is answered, so a reader of the same
process sees a write at once; another process of the same deployment sees it within
``seconds``.  Two kinds of write leave the cache alone, because they cannot change a
public answer: a refused one (answered 4xx or 5xx: its transaction was rolled back) and
one under :data:`PRIVATE_WRITES` (a booking, a sign-in, one's own notifications).  Under
a steady mix of reads and bookings, clearing on every write kept almost nothing.

Answers are kept up to :data:`MAX_BODY` bytes each and :data:`MAX_BYTES` in all, the
least recently used dropped first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shequ.http.caller import SESSION_COOKIE

# Reads anyone may make whose answer is the same for every anonymous reader.
PUBLIC_READS = (
    "/api/v1/divisions", "/api/v1/facilities", "/api/v1/region",
    "/api/v1/indicators/short-boards", "/hsds/", "/open311/v2/",
)
# Writes that change no public answer: bookings of rooms, signing in and out, one's own
# sessions and notifications.
PRIVATE_WRITES = ("/api/v1/bookings", "/api/v1/auth/", "/api/v1/notifications", "/login",
                  "/logout")
MAX_BODY = 4 * 1024 * 1024  # the Open311 list of 1,000 requests is about 0.5 MB
MAX_BYTES = 64 * 1024 * 1024
SAFE = frozenset({"GET", "HEAD"})
_VARY = (b"accept", b"accept-language", b"cookie")


@dataclass(frozen=True, slots=True)
class _Answer:
    expires: float
    start: Message
    body: bytes


class PublicCache:
    """The ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.seconds = seconds
        self.clock = clock
        self._answers: OrderedDict[tuple[object, ...], _Answer] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Bumped by every clear: an answer computed across a write is not kept.
        self._generation = 0

    def clear(self) -> None:
        """Forget every answer (after a write)."""
        with self._lock:
            self._answers.clear()
            self._bytes = 0
            self._generation += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE:
            if scope["path"].startswith(PRIVATE_WRITES):
                await self.app(scope, receive, send)
                return
            status = 500

            async def watching_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, watching_send)
            finally:
                if status < 400:
                    self.clear()
            return
        key = self._key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        now = self.clock()
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None and answer.expires > now:
                self._answers.move_to_end(key)
            else:
                answer = None
        if answer is not None:
            await send(answer.start)
            await send({"type": "http.response.body", "body": answer.body})
            return
        await self._fill(key, now, scope, receive, send)

    def _key(self, scope: Scope) -> tuple[object, ...] | None:
        path: str = scope["path"]
        if scope["method"] != "GET" or not path.startswith(PUBLIC_READS):
            return None
        headers = Headers(scope=scope)
        if "authorization" in headers or "x-api-key" in headers:
            return None
        cookie = headers.get("cookie", "")
        if SESSION_COOKIE + "=" in cookie:
            return None
        vary = tuple(value for name, value in scope["headers"] if name.lower() in _VARY)
        return (path, scope.get("query_string", b""), vary)

    async def _fill(self, key: tuple[object, ...], now: float, scope: Scope,
                    receive: Receive, send: Send) -> None:
        generation = self._generation
        start: Message | None = None
        chunks: list[bytes] = []
        keep = True
        size = 0

        async def recording_send(message: Message) -> None:
            nonlocal start, keep, size
            if message["type"] == "http.response.start":
                start = message
                keep = message["status"] == 200 and not any(
                    name.lower() == b"set-cookie" for name, _ in message.get("headers", []))
            elif message["type"] == "http.response.body" and keep:
                body: bytes = message.get("body", b"")
                size += len(body)
                if size > MAX_BODY:
                    keep = False
                    chunks.clear()
                else:
                    chunks.append(body)
            await send(message)

        await self.app(scope, receive, recording_send)
        if keep and start is not None:
            with self._lock:
                if generation != self._generation:
                    return
                body = b"".join(chunks)
                replaced = self._answers.pop(key, None)
                self._bytes += len(body) - (len(replaced.body) if replaced else 0)
                self._answers[key] = _Answer(now + self.seconds, start, body)
                while self._bytes > MAX_BYTES:
                    _, dropped = self._answers.popitem(last=False)
                    self._bytes -= len(dropped.body)
