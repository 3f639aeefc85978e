"""Bounds on every request, enforced before any route runs (an ASGI middleware).

- **Body size.**  A ``Content-Length`` over the limit is refused at once (413); a body
  without one is counted as it streams and refused when it passes the limit — before
  sign-in is checked and before it is read whole.  File uploads (``/api/v1/imports/…``,
  ``/upkeep/import``, and photos of requests sent as multipart bodies) have their own,
  larger limit.  Settings: ``max_body_bytes``,
  ``max_upload_bytes``.
- **Odd text.**  A NUL character or a lone UTF-16 surrogate in the path, a query
  parameter, a form field or a JSON string is a 422 naming the field; so is JSON nested
  deeper than :data:`MAX_JSON_DEPTH`.  Databases refuse such text (PostgreSQL has no NUL
  in text; UTF-8 has no surrogates), so it is refused here once, for every route.
  Multipart bodies (file uploads) are checked where their contents are read; what is
  stored is checked again against the columns (:func:`shequ.registry.db.session_factory`).
- **Admission.**  At most ``db_pool_size`` requests of a process run at once (a file
  upload is admitted at once: its body streams into the route first); the others
  wait here, on the event loop, without holding a thread or a connection, and are
  answered 503 with ``Retry-After`` after ``db_pool_timeout`` seconds.  FastAPI runs
  each synchronous dependency in its own trip to the thread pool, so a request holding
  a connection needs a thread again later; admitting no more requests than there are
  connections, with threads to spare, keeps those trips from waiting on requests that
  wait on the pool.

Every refusal is a :class:`~shequ.errors.ShequError` answered by
:func:`shequ.http.problems.error_answer`.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shequ.errors import Problem, ShequError, ValidationError
from shequ.http.problems import busy, error_answer, too_large
from shequ.registry.db import unstorable_text
from shequ.settings import Settings

UPLOAD_PATHS = ("/api/v1/imports/", "/upkeep/import")
# Multipart bodies carrying photos of a request (each up to ``max_photo_bytes``, several at
# once): a request's own upload, Open311 submissions with ``media``, and the report form.
PHOTO_UPLOADS = re.compile(r"/api/v1/service-requests/\d+/photos|/open311/v2/requests\.(json|xml)"
                           r"|/services/requests")
UNCHECKED_PATHS = ("/static/",)  # files on disk: no database, no body
MAX_JSON_DEPTH = 32
# Threads beyond the admitted requests: static files and the first directory sync.
SPARE_THREADS = 4

def _pairs_problem(pairs: list[tuple[str, str]], where: str) -> Problem | None:
    for key, value in pairs:
        reason = unstorable_text(key) or unstorable_text(value)
        if reason:
            return Problem(where, reason, column=key if not unstorable_text(key) else repr(key))
    return None


def json_problem(body: bytes) -> Problem | None:
    """What is wrong with the text of a JSON body, or None (malformed JSON is left to the
    route, which answers it with the position of the error)."""
    try:
        document = json.loads(body)
    except RecursionError:
        return Problem("body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                       hint="flatten the document")
    except ValueError:
        return None
    # Depth-first without recursion (the depth is what is being checked); ``depth`` counts
    # the arrays and objects a value is inside of.
    stack: list[tuple[str, Any, int]] = [("body", document, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict | list) and depth >= MAX_JSON_DEPTH:
            return Problem("body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
                           column=path, hint="flatten the document")
        if isinstance(value, str):
            reason = unstorable_text(value)
            if reason:
                return Problem("body", reason, column=path)
        elif isinstance(value, dict):
            for key, item in value.items():
                reason = unstorable_text(key)
                if reason:
                    return Problem("body", f"a key {reason}", column=path)
                stack.append((f"{path}.{key}", item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))
    return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _is_form(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"


class RequestLimits:
    """The ASGI middleware enforcing the module's bounds (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.body_limit = settings.max_body_bytes
        self.upload_limit = settings.max_upload_bytes
        self.admitted = settings.effective_pool_size
        self.wait_s = settings.db_pool_timeout
        # One gate per event loop (a test client runs one loop per client).
        self._gate: RunVar[anyio.Semaphore] = RunVar(f"shequ-admission-{id(self)}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNCHECKED_PATHS):
            await self.app(scope, receive, send)
            return
        try:
            await self._bounded(scope, receive, send)
        except ShequError as exc:
            await error_answer(exc, scope)(scope, receive, send)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        photos = (headers.get("content-type", "").lower().startswith("multipart/form-data")
                  and PHOTO_UPLOADS.fullmatch(scope["path"]) is not None)
        limit = (self.upload_limit if photos or scope["path"].startswith(UPLOAD_PATHS)
                 else self.body_limit)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large(limit)
        problem = self._head_problem(scope)
        content_type = headers.get("content-type", "")
        checked = _is_json(content_type) or _is_form(content_type)
        if problem is None and checked:
            body = await self._read(receive, limit)
            problem = json_problem(body) if _is_json(content_type) else _pairs_problem(
                parse_qsl(body.decode("latin-1"), keep_blank_values=True), "form")
            receive = _replay(body, receive)
        if problem is not None:
            raise ValidationError([problem], summary=f"request rejected: {problem}")
        if content_type and not checked:
            # A file upload streams into the route, which reads it before it signs the
            # caller in or takes a connection: it waits for no place, so a slow sender
            # holds none.
            await _counted(self.app, limit, scope, receive, send)
            return
        gate = self._gate_of_this_loop()
        with anyio.move_on_after(self.wait_s) as waiting:
            await gate.acquire()
        if waiting.cancelled_caught:
            raise busy(self.wait_s)
        try:
            await _counted(self.app, limit, scope, receive, send)
        finally:
            gate.release()

    def _head_problem(self, scope: Scope) -> Problem | None:
        reason = unstorable_text(scope["path"])
        if reason:
            return Problem("path", reason)
        query: bytes = scope.get("query_string", b"")
        if not query:
            return None
        # As Starlette reads it, so the check sees exactly what the route will.
        return _pairs_problem(parse_qsl(query.decode("latin-1"), keep_blank_values=True),
                              "query parameter")

    async def _read(self, receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _gate_of_this_loop(self) -> anyio.Semaphore:
        try:
            return self._gate.get()
        except LookupError:
            gate = anyio.Semaphore(self.admitted)
            self._gate.set(gate)
            # A thread for every admitted request's trips, and some to spare: more would
            # only queue on the pool, fewer would leave connections idle.
            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = self.admitted + SPARE_THREADS
            return gate


async def _counted(app: ASGIApp, limit: int, scope: Scope, receive: Receive, send: Send
                   ) -> None:
    """Run ``app`` with a ``receive`` that counts the body as it streams: past ``limit``
    the read fails, and whatever the app answers to that is replaced by the 413."""
    size = 0
    exceeded = started = False

    async def counted_receive() -> Message:
        nonlocal size, exceeded
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                exceeded = True
                raise too_large(limit)
        return message

    async def guarded_send(message: Message) -> None:
        nonlocal started
        if exceeded and not started:
            return  # the app's answer to a body it could not read (FastAPI makes it a 400)
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, counted_receive, guarded_send)
    except Exception:
        if not exceeded or started:
            raise
    if exceeded and not started:
        await error_answer(too_large(limit), scope)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
