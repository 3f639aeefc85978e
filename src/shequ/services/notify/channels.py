"""Channel adapters: e-mail over SMTP, SMS through an HTTP gateway, WeChat subscription
messages.  Each sends one :class:`Outgoing` message and raises :class:`SendFailed` when
it could not (``permanent``: retrying will not help, e.g. an address refused).

Each message carries its event id so that a receiver can tell a repeat: the e-mail's
``Message-ID`` is made from it, the SMS gateway gets it as ``idempotency_key``, and the
WeChat call as the ``client_msg_id`` of the request.

Just before a channel commits to a message, the adapter calls the dispatcher's
``hand_over`` (the dispatcher checks it still holds the delivery and logs the attempt):
for e-mail after the whole text went over DATA, before the final ``.`` that makes the SMTP
server take the message; for the HTTP channels before the request.  When it answers
False the message is not handed over (:class:`HandOverRefused`; an SMTP connection in
DATA is dropped, so the server discards what it got).  Only what the channel needs is
sent: the address, and a text with no name, number or address of a person.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import smtplib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import httpx

from shequ.registry.columns import utc_now


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to one address on one channel."""

    event_id: str
    address: str
    language: str
    title: str
    body: str
    link: str


class SendFailed(Exception):
    """A message was not sent; ``permanent`` when retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class HandOverRefused(Exception):
    """The dispatcher no longer holds the delivery: the message was not handed over."""


# Called just before the channel commits to a message; False: do not send it.
HandOver = Callable[[], bool]


def _handing(hand_over: HandOver | None) -> None:
    if hand_over is not None and not hand_over():
        raise HandOverRefused("the delivery's lease lapsed before it was handed over")


class ChannelAdapter(Protocol):
    """What the dispatcher needs of a channel."""

    def send(self, message: Outgoing, *, hand_over: HandOver | None = None) -> None:
        """Deliver ``message`` or raise :class:`SendFailed`; call ``hand_over`` once just
        before committing to it and raise :class:`HandOverRefused` when it says no."""

    def close(self) -> None:
        """Let go of connections kept between messages."""


def message_id(event_id: str, domain: str) -> str:
    """The e-mail ``Message-ID`` of an event: the same event gives the same id."""
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:32]
    return f"<{digest}.notify@{domain}>"


_LINE_START_DOT = re.compile(rb"(?m)^\.")


class _HandingSMTP(smtplib.SMTP):
    """An SMTP client whose DATA asks ``hand_over`` between the message's text and the
    final ``.`` (RFC 5321 §4.1.1.4: the server takes the message only with that dot)."""

    hand_over: HandOver | None = None
    handed = False

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # The final dot goes alone after the hand-over: sent at once, not held by Nagle's
        # algorithm until the server's delayed ACK of the text (40 ms a message on Linux).
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock  # type: ignore[no-any-return]

    def data(self, msg: bytes | str) -> tuple[int, bytes]:  # type: ignore[override]
        if self.hand_over is None:
            return super().data(msg)
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        text = msg.encode("ascii") if isinstance(msg, str) else msg
        text = _LINE_START_DOT.sub(b"..", text)  # dot-stuffing (RFC 5321 §4.5.2)
        if not text.endswith(b"\r\n"):
            text += b"\r\n"
        self.send(text)
        if not self.hand_over():
            self.close()  # mid-DATA: dropping the connection makes the server discard it
            raise HandOverRefused("the delivery's lease lapsed before it was handed over")
        self.handed = True
        self.send(b".\r\n")
        return self.getreply()


class EmailAdapter:
    """E-mail through an SMTP server (one connection kept for a batch; STARTTLS and
    sign-in when configured)."""

    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, starttls: bool = False,
                 base_url: str = "", timeout: float = 10.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls = username, password, starttls
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.domain = sender.rpartition("@")[2] or "shequ.invalid"
        self._smtp: _HandingSMTP | None = None

    def _connection(self) -> _HandingSMTP:
        if self._smtp is None:
            smtp = _HandingSMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            self._smtp = smtp
        return self._smtp

    def compose(self, message: Outgoing) -> EmailMessage:
        """The e-mail of ``message`` (plain text, UTF-8, its Message-ID from the event)."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = message.title
        mail["Message-ID"] = message_id(message.event_id, self.domain)
        mail["Date"] = format_datetime(utc_now())
        mail["Content-Language"] = message.language
        mail["Auto-Submitted"] = "auto-generated"
        link = f"{self.base_url}{message.link}" if self.base_url else message.link
        mail.set_content(f"{message.body}\n\n{link}\n")
        return mail

    def send(self, message: Outgoing, *, hand_over: HandOver | None = None) -> None:
        """Send over the kept connection; one reconnect when the server dropped it before
        the message was handed over (after, it may have the message: the dispatcher's
        retry sends it again, under the same Message-ID)."""
        mail = self.compose(message)
        for attempt in (1, 2):
            smtp: _HandingSMTP | None = None
            try:
                smtp = self._connection()
                smtp.hand_over, smtp.handed = hand_over, False
                smtp.send_message(mail)
                return
            except HandOverRefused:
                self._smtp = None
                raise
            except smtplib.SMTPServerDisconnected as exc:
                self._smtp = None
                if attempt == 2 or (smtp is not None and smtp.handed):
                    raise SendFailed(f"SMTP server disconnected: {exc}") from exc
            except smtplib.SMTPRecipientsRefused as exc:
                raise SendFailed(f"SMTP refused the recipient: {exc.recipients}",
                                 permanent=True) from exc
            except smtplib.SMTPResponseException as exc:
                self.close()
                raise SendFailed(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
                                 permanent=500 <= exc.smtp_code < 600) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._smtp = None
                raise SendFailed(f"SMTP {self.host}:{self.port}: {exc}") from exc
            finally:
                if smtp is not None:
                    smtp.hand_over = None

    def close(self) -> None:
        """Say QUIT to the server, if connected."""
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None


def _http_failure(response: httpx.Response, what: str) -> SendFailed:
    # 4xx but 408 and 429 are the request's fault: sending it again will not help.
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    return SendFailed(f"{what} answered {response.status_code}: {response.text[:200]}",
                      permanent=permanent)


class SmsAdapter:
    """SMS through an HTTP gateway: ``POST <url>`` with a bearer token and the JSON
    ``{"to", "text", "idempotency_key"}``; any 2xx is accepted."""

    def __init__(self, url: str, token: str, *, client: httpx.Client | None = None,
                 max_chars: int = 300) -> None:
        self.url, self.token, self.max_chars = url, token, max_chars
        self.client = client or httpx.Client(timeout=10.0)

    def send(self, message: Outgoing, *, hand_over: HandOver | None = None) -> None:
        """POST the message to the gateway."""
        text = f"{message.title}: {message.body}"[: self.max_chars]
        _handing(hand_over)
        try:
            response = self.client.post(
                self.url, json={"to": message.address, "text": text,
                                "idempotency_key": f"{message.event_id}:sms"},
                headers={"Authorization": f"Bearer {self.token}"})
        except httpx.HTTPError as exc:
            raise SendFailed(f"SMS gateway: {exc}") from exc
        if not response.is_success:
            raise _http_failure(response, "SMS gateway")

    def close(self) -> None:
        """Close the HTTP client's connections."""
        self.client.close()


# WeChat error codes: the access token expired or is invalid (fetch another and retry);
# the user has not subscribed, or refused (do not retry).
_TOKEN_ERRORS = {40001, 40014, 42001}
_REFUSED = {43101, 40003}


class WechatAdapter:
    """WeChat subscription messages (小程序订阅消息): an access token from
    ``<base>/cgi-bin/token``, then ``POST <base>/cgi-bin/message/subscribe/send``.

    The template's fields are ``thing1`` (title) and ``thing2`` (body), each at most 20
    characters as WeChat's ``thing`` allows; ``page`` is the link in the mini program.
    """

    THING_CHARS = 20

    def __init__(self, base_url: str, appid: str, secret: str, template_id: str, *,
                 client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.appid, self.secret, self.template_id = appid, secret, template_id
        self.client = client or httpx.Client(timeout=10.0)
        self._token: str | None = None
        self._token_until = 0.0

    def _access_token(self, *, fresh: bool = False) -> str:
        if fresh or self._token is None or time.monotonic() >= self._token_until:
            try:
                response = self.client.get(f"{self.base_url}/cgi-bin/token", params={
                    "grant_type": "client_credential", "appid": self.appid,
                    "secret": self.secret})
            except httpx.HTTPError as exc:
                raise SendFailed(f"WeChat token: {exc}") from exc
            if not response.is_success:
                raise _http_failure(response, "WeChat token")
            body = response.json()
            if "access_token" not in body:
                raise SendFailed(f"WeChat token: errcode {body.get('errcode')} "
                                 f"{body.get('errmsg')}")
            self._token = str(body["access_token"])
            # Renewed a minute before WeChat's expiry (7200 s).
            self._token_until = time.monotonic() + int(body.get("expires_in", 7200)) - 60
        return self._token

    def payload(self, message: Outgoing) -> dict[str, object]:
        """The JSON body of ``message/subscribe/send``."""
        return {
            "touser": message.address,
            "template_id": self.template_id,
            "page": message.link,
            "lang": "zh_CN" if message.language == "zh-CN" else "en_US",
            "client_msg_id": f"{message.event_id}:wechat",
            "data": {"thing1": {"value": self.thing(message.title)},
                     "thing2": {"value": self.thing(message.body)}},
        }

    @classmethod
    def thing(cls, text: str) -> str:
        """``text`` as a ``thing`` value: cut to 20 characters with an ellipsis."""
        if len(text) <= cls.THING_CHARS:
            return text
        return text[: cls.THING_CHARS - 1].rstrip() + "…"

    def send(self, message: Outgoing, *, hand_over: HandOver | None = None) -> None:
        """Send, fetching a new access token once when WeChat says it expired."""
        for fresh in (False, True):
            token = self._access_token(fresh=fresh)
            if not fresh:
                _handing(hand_over)
            try:
                response = self.client.post(
                    f"{self.base_url}/cgi-bin/message/subscribe/send",
                    params={"access_token": token}, json=self.payload(message))
            except httpx.HTTPError as exc:
                raise SendFailed(f"WeChat: {exc}") from exc
            if not response.is_success:
                raise _http_failure(response, "WeChat")
            body = response.json()
            code = int(body.get("errcode", 0))
            if code == 0:
                return
            if code in _TOKEN_ERRORS and not fresh:
                continue
            raise SendFailed(f"WeChat errcode {code}: {body.get('errmsg')}",
                             permanent=code in _REFUSED)
        raise SendFailed("WeChat refused a fresh access token")  # pragma: no cover

    def close(self) -> None:
        """Close the HTTP client's connections."""
        self.client.close()
