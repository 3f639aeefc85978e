"""Each write sent with an idempotency key is applied once (:mod:`shequ.services.offline`).

A pure ASGI middleware in front of every route.  A signed-in caller's unsafe request
(POST, PUT, PATCH, DELETE) carrying an ``Idempotency-Key`` header, or an
``idempotency_key`` field in a form post (``application/x-www-form-urlencoded``), has its
key claimed before the route runs and its answer stored after; the same key sent again by
the same user gets that first answer back (marked ``Idempotent-Replayed: true``) and the
route does not run.  A key reused for another write is a 422 and one whose first write
still runs a 409, both as problem documents.  Requests without a key, or by anonymous
callers, pass as they are.

The caller is the user named by a token the server signed (no database read here); the
route still checks the session, CSRF and roles as usual, and an answer it refuses (401,
403, 5xx), or gives to a caller whose session it did not accept, frees the key again.
"""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shequ import i18n
from shequ.context import Context
from shequ.errors import ShequError
from shequ.http.caller import SESSION_COOKIE
from shequ.services import offline
from shequ.services.accounts.models import SessionKind
from shequ.services.accounts.tokens import read_token

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADER = b"idempotency-key"
FIELD = "idempotency_key"
FORM_TYPE = b"application/x-www-form-urlencoded"
# A form body read here to find the field; larger ones (RequestLimits refuses them
# anyway) pass without a key.
MAX_FORM_BYTES = 1 << 20


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:  # a malformed cookie header names no one
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def caller_id(scope: Scope, secret: str) -> int | None:
    """The user id inside the bearer token or page cookie the server signed, else None."""
    auth = _header(scope, b"authorization") or ""
    if auth.lower().startswith("bearer "):
        claims = read_token(secret, auth[7:].strip(), kind=SessionKind.BEARER.value)
    else:
        cookie = _cookie(scope, SESSION_COOKIE)
        claims = read_token(secret, cookie, kind=SessionKind.PAGE.value) if cookie else None
    return claims.user_id if claims else None


class IdempotentWrites:
    """Apply each keyed write once and answer a repeat with the first answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        ctx: Context = scope["app"].state.ctx
        user_id = caller_id(scope, ctx.settings.secret_key)
        if user_id is None:
            await self.app(scope, receive, send)
            return
        key, receive = await _key(scope, receive)
        if not key:
            await self.app(scope, receive, send)
            return
        key = key.strip()
        method, path = scope["method"], scope["path"]

        def claim() -> offline.Answer | None:
            with ctx.sessions() as session:
                return offline.claim(session, key=key, user_id=user_id, method=method,
                                     path=path)

        try:
            answer = await anyio.to_thread.run_sync(claim)
        except ShequError as exc:
            await _problem(scope, send, exc)
            return
        if answer is not None:
            await _replay(send, answer)
            return
        status = 500
        location: str | None = None
        content_type: str | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, location, content_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"location":
                        location = value.decode("latin-1")
                    elif name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        # The routes record the session they authenticated here (http.caller); the dict is
        # made first so that every copy of the scope below shares it.
        state = scope.setdefault("state", {})
        try:
            await self.app(scope, receive, capture)
        finally:
            body = b"".join(chunks)
            # An answer to a caller the route did not authenticate (a session ended since,
            # sent to the sign-in page) is not the write's: the key is freed for later.
            kept = status if "account_session" in state else 401

            def finish() -> None:
                with ctx.sessions() as session:
                    offline.finish(session, key=key, user_id=user_id, status=kept,
                                   location=location, content_type=content_type, body=body)

            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(finish)


async def _key(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """The request's idempotency key (header, else form field) and the ``receive`` that
    gives the route its body."""
    key = _header(scope, HEADER)
    if key is None and (_header(scope, b"content-type") or "").encode().lower(
            ).startswith(FORM_TYPE):
        body, receive = await _buffered(receive)
        if body is not None:
            found = parse_qs(body.decode("utf-8", "replace")).get(FIELD)
            key = found[0] if found else None
    return key, receive


async def _buffered(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole request body (None when over the bound) and a ``receive`` that gives
    the route the same body again."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > MAX_FORM_BYTES or not message.get("more_body", False):
            break
    complete = size <= MAX_FORM_BYTES and messages[-1].get("type") == "http.request" and \
        not messages[-1].get("more_body", False)
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return (body if complete else None), replay


async def _replay(send: Send, answer: offline.Answer) -> None:
    headers = [(b"idempotent-replayed", b"true"),
               (b"content-length", str(len(answer.body)).encode())]
    if answer.location:
        headers.append((b"location", answer.location.encode("latin-1")))
    if answer.content_type:
        headers.append((b"content-type", answer.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _problem(scope: Scope, send: Send, exc: ShequError) -> None:
    """A problem document (RFC 9457) in the caller's language for a refused key."""
    lang = i18n.negotiate(_header(scope, b"accept-language")) or "en"
    status = 409 if exc.kind == "conflict" else 422
    body = json.dumps({"type": "about:blank", "title": i18n.translate(lang, f"errors.{exc.code}",
                                                                      **exc.params),
                       "status": status, "code": exc.code,
                       "detail": str(exc).split("\n", 1)[0]}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
