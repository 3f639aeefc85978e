"""The SMS gateway and WeChat adapters against local HTTP servers that check each request
as the real services would (path, token, JSON fields) and answer as they do."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shequ.services.notify.channels import Outgoing, SendFailed, SmsAdapter, WechatAdapter

# (method, path, query, headers, JSON body) -> (status, JSON answer)
Handler = Callable[[str, str, dict[str, list[str]], dict[str, str], Any], tuple[int, Any]]

MESSAGE = Outgoing(event_id="service_request_event:42", address="13800000000",
                   language="zh-CN", title="您的诉求 #7 已受理",
                   body="社区工作人员已受理您的诉求 #7，将尽快处理。",
                   link="/services/requests/7")


class _Server:
    """A local HTTP server answering with ``handler``; every request is kept."""

    def __init__(self, handler: Handler) -> None:
        self.seen: list[tuple[str, str, dict[str, list[str]], dict[str, str], Any]] = []
        outer = self

        class _Request(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                record = (self.command, parts.path, parse_qs(parts.query),
                          {k.lower(): v for k, v in self.headers.items()}, body)
                outer.seen.append(record)
                status, answer = handler(*record)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815 (http.server's method names)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Request)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], _Server]]:
    servers: list[_Server] = []

    def start(handler: Handler) -> _Server:
        servers.append(_Server(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_sms_posts_the_text_with_its_token_and_event_key(
        serve: Callable[[Handler], _Server]) -> None:
    def gateway(method: str, path: str, query: dict[str, list[str]],
                headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if (method, path) != ("POST", "/v1/messages"):
            return 404, {"error": "no such endpoint"}
        if headers.get("authorization") != "Bearer gw-token":
            return 401, {"error": "bad token"}
        if set(body) != {"to", "text", "idempotency_key"}:
            return 400, {"error": "bad body"}
        return 202, {"id": "m-1"}

    server = serve(gateway)
    sms = SmsAdapter(f"{server.url}/v1/messages", "gw-token")
    sms.send(MESSAGE)
    [(_, _, _, headers, body)] = server.seen
    assert headers["content-type"] == "application/json"
    assert body == {"to": "13800000000",
                    "text": "您的诉求 #7 已受理: 社区工作人员已受理您的诉求 #7，将尽快处理。",
                    "idempotency_key": "service_request_event:42:sms"}
    wrong = SmsAdapter(f"{server.url}/v1/messages", "stolen")
    with pytest.raises(SendFailed, match="answered 401") as refused:
        wrong.send(MESSAGE)
    assert refused.value.permanent  # a bad token does not get better by retrying
    sms.close()
    wrong.close()


def test_sms_gateway_errors_and_outages_are_retried(
        serve: Callable[[Handler], _Server]) -> None:
    server = serve(lambda *_: (503, {"error": "busy"}))
    sms = SmsAdapter(f"{server.url}/v1/messages", "gw-token")
    with pytest.raises(SendFailed, match="answered 503") as busy:
        sms.send(MESSAGE)
    assert not busy.value.permanent
    server.stop()
    with pytest.raises(SendFailed, match="SMS gateway") as down:
        sms.send(MESSAGE)
    assert not down.value.permanent
    sms.close()


def test_wechat_fetches_a_token_sends_the_subscription_message_and_renews_the_token(
        serve: Callable[[Handler], _Server]) -> None:
    tokens = iter(["token-1", "token-2"])
    live: set[str] = set()

    def wechat(method: str, path: str, query: dict[str, list[str]],
               headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if (method, path) == ("GET", "/cgi-bin/token"):
            if query != {"grant_type": ["client_credential"], "appid": ["wx-app"],
                         "secret": ["wx-secret"]}:
                return 200, {"errcode": 40013, "errmsg": "invalid appid"}
            token = next(tokens)
            live.clear()
            live.add(token)
            return 200, {"access_token": token, "expires_in": 7200}
        if (method, path) == ("POST", "/cgi-bin/message/subscribe/send"):
            if query.get("access_token", [""])[0] not in live:
                return 200, {"errcode": 42001, "errmsg": "access_token expired"}
            if body["touser"] == "refused-openid":
                return 200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        return 404, {}

    server = serve(wechat)
    adapter = WechatAdapter(server.url, "wx-app", "wx-secret", "tmpl-1")
    to_openid = Outgoing(
        event_id=MESSAGE.event_id, address="oABC123openid", language="en",
        title="Your request #7 was accepted",
        body="A community worker accepted your request #7 and will handle it soon.",
        link="/services/requests/7")
    adapter.send(to_openid)
    assert [(m, p) for m, p, *_ in server.seen] == [
        ("GET", "/cgi-bin/token"), ("POST", "/cgi-bin/message/subscribe/send")]
    body = server.seen[1][4]
    assert body == {"touser": "oABC123openid", "template_id": "tmpl-1",
                    "page": "/services/requests/7", "lang": "en_US",
                    "client_msg_id": "service_request_event:42:wechat",
                    "data": {"thing1": {"value": "Your request #7 was…"},
                             "thing2": {"value": "A community worker…"}}}
    adapter.send(to_openid)  # the token is kept
    assert len(server.seen) == 3
    live.clear()  # WeChat expired it early: one new token, then the message
    adapter.send(to_openid)
    assert [(m, p) for m, p, *_ in server.seen[3:]] == [
        ("POST", "/cgi-bin/message/subscribe/send"), ("GET", "/cgi-bin/token"),
        ("POST", "/cgi-bin/message/subscribe/send")]
    assert server.seen[-1][2]["access_token"] == ["token-2"]
    refused = Outgoing(event_id="e", address="refused-openid", language="zh-CN",
                       title="t", body="b", link="/")
    with pytest.raises(SendFailed, match="43101") as caught:
        adapter.send(refused)
    assert caught.value.permanent
    adapter.close()
