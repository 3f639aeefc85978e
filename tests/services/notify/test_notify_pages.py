"""The bell, the list and the preferences, as pages and as JSON: a resident's request is
accepted, the bell shows 1, the list says so in the page's language, mark as read and mark
all clear it, and preferences refused are drawn again beside their fields; the server's
own dispatcher thread delivers what the preferences ask for."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.app import create_app
from shequ.context import Context
from shequ.services.accounts import User
from shequ.services.notify import service as notices
from shequ.services.notify.models import Notification
from shequ.services.requests import load_request_catalog
from shequ.services.requests import service as rs
from tests.services.conftest import PASSWORD, Seeded

from .conftest import SmtpServer

CATALOG = load_request_catalog()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def _login(client: TestClient, username: str) -> None:
    token = _csrf(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text


def _accepted_request(ctx: Context, seeded: Seeded) -> int:
    with ctx.sessions.begin() as session:
        draft = rs.RequestDraft(service_code="public_repair",
                                attributes={"fixture": "streetlight"},
                                longitude=116.4054, latitude=39.9156)
        resident = session.get_one(User, seeded.users["resident1"])
        request = rs.submit_request(session, CATALOG, draft, submitter=resident).request
        session.flush()
        rs.act(session, CATALOG, request,
               user=session.get_one(User, seeded.users["worker_dfx"]), action="accept")
        return request.id


def test_the_bell_counts_and_the_list_marks_read_in_both_languages(
        client: TestClient, ctx: Context, seeded: Seeded) -> None:
    request_id = _accepted_request(ctx, seeded)
    _login(client, "resident1")
    home = client.get("/services").text
    assert 'data-testid="bell-count">1</b>' in home
    listing = client.get("/notifications?lang=en").text
    assert f"Your request #{request_id} was accepted" in listing
    assert f'href="/services/requests/{request_id}"' in listing
    chinese = client.get("/notifications?lang=zh-CN").text
    assert f"您的诉求 #{request_id} 已受理" in chinese
    with ctx.sessions() as session:
        [row] = session.scalars(select(Notification)).all()
    token = _csrf(chinese)
    done = client.post(f"/notifications/{row.id}/read", data={"csrf_token": token},
                       follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/notifications?msg=notify.marked"
    assert 'data-testid="bell-count"' not in client.get("/notifications").text
    # Someone else's notification is not found, and a post without the token is refused.
    _login(client, "resident2")
    other = client.post(f"/notifications/{row.id}/read",
                        data={"csrf_token": _csrf(client.get("/account/notifications").text)},
                        follow_redirects=False)
    assert other.status_code == 404
    assert client.post("/notifications/read-all", data={},
                       follow_redirects=False).status_code == 403


def test_preferences_are_saved_and_refused_entries_shown_beside_their_fields(
        client: TestClient, ctx: Context, seeded: Seeded) -> None:
    _login(client, "resident1")
    page = client.get("/account/notifications?lang=en").text
    assert "Quiet hours" in page
    token = _csrf(page)
    bad = client.post("/account/notifications", data={
        "csrf_token": token, "language": "en", "email_on": "1", "email": "nope",
        "quiet_start": "22:00", "quiet_end": ""})
    assert bad.status_code == 422
    errors = dict(re.findall(r'data-field="([a-z_]+)">([^<]+)<', bad.text))
    assert errors == {"email": "This is not an e-mail address; write it like name@example.com.",
                      "quiet_end": "Quiet hours need both a start and an end."}
    assert 'value="nope"' in bad.text  # what was typed is shown again
    good = client.post("/account/notifications", data={
        "csrf_token": token, "language": "en", "email_on": "1", "email": "r1@example.org",
        "quiet_start": "22:00", "quiet_end": "07:00"}, follow_redirects=False)
    assert good.status_code == 303
    with ctx.sessions() as session:
        pref = notices.preference_of(session, seeded.users["resident1"])
        assert (pref.language, pref.email_on, pref.email, pref.quiet_start, pref.quiet_end) \
            == ("en", True, "r1@example.org", 22 * 60, 7 * 60)
    shown = client.get("/account/notifications").text
    assert 'value="r1@example.org"' in shown and 'value="22:00"' in shown


def test_the_json_api_lists_counts_marks_and_sets_preferences(
        client: TestClient, ctx: Context, seeded: Seeded,
        auth: Callable[[str], dict[str, str]]) -> None:
    request_id = _accepted_request(ctx, seeded)
    me = auth("resident1")
    assert client.get("/api/v1/notifications/unread", headers=me).json() == {"unread": 1}
    [item] = client.get("/api/v1/notifications?lang=en", headers=me).json()
    assert (item["kind"], item["title"], item["link"], item["read_at"]) == (
        "request_accepted", f"Your request #{request_id} was accepted",
        f"/services/requests/{request_id}", None)
    put = client.put("/api/v1/notifications/preferences", headers=me, json={
        "language": "en", "sms_on": True, "phone": "13800000000"})
    assert put.status_code == 200 and put.json()["phone"] == "13800000000"
    [default_lang] = client.get("/api/v1/notifications", headers=me).json()
    assert default_lang["title"] == f"Your request #{request_id} was accepted"
    refused = client.put("/api/v1/notifications/preferences", headers=me,
                         json={"sms_on": True})
    assert refused.status_code == 422
    assert refused.json()["problems"][0]["code"] == "notify.address_needed"
    read = client.post(f"/api/v1/notifications/{item['id']}/read", headers=me).json()
    assert read["read_at"] is not None
    assert client.post("/api/v1/notifications/read-all", headers=me).json() == {"marked": 0}
    assert client.get(f"/api/v1/notifications/{item['id']}/deliveries",
                      headers=me).json() == []  # it was written before e-mail was chosen
    assert client.get(f"/api/v1/notifications/{item['id']}/deliveries",
                      headers=auth("resident2")).status_code == 404


def test_the_server_runs_the_dispatcher_when_its_settings_ask(
        ctx: Context, seeded: Seeded, smtp_server: SmtpServer) -> None:
    with ctx.sessions.begin() as session:
        notices.save_preferences(
            session, session.get_one(User, seeded.users["resident1"]), language="en",
            email_on=True, email="r1@example.org", sms_on=False, phone=None, wechat_on=False,
            wechat_openid=None, quiet_start=None, quiet_end=None)
    request_id = _accepted_request(ctx, seeded)
    served = Context(ctx.settings.with_(notify_in_server=True, smtp_host=smtp_server.host,
                                        smtp_port=smtp_server.port,
                                        smtp_sender="noreply@shequ.example"),
                     ctx.engine, ctx.sessions, ctx.catalog)
    with TestClient(create_app(served)):
        deadline = time.monotonic() + 30
        while not smtp_server.mailbox.messages and time.monotonic() < deadline:
            time.sleep(0.1)
    [message] = smtp_server.mailbox.messages
    assert message["Subject"] == f"Your request #{request_id} was accepted"


def _main_texts(html: str) -> list[str]:
    """The visible strings of the page's <main> (tags, scripts and attributes taken out)."""
    main = html.split('<main id="main">', 1)[1].split("</main>", 1)[0]
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)
    return [t.strip() for t in re.split(r"<[^>]+>", main) if t.strip()]


def test_the_notification_pages_speak_only_the_pages_language(
        client: TestClient, ctx: Context, seeded: Seeded) -> None:
    from tests.web.crawl import DataWords, language_problems

    _accepted_request(ctx, seeded)
    _login(client, "resident1")
    for path in ("/notifications", "/account/notifications"):
        for lang in ("zh-CN", "en"):
            response = client.get(f"{path}?lang={lang}")
            assert response.status_code == 200
            texts = _main_texts(response.text)
            assert texts, path
            assert language_problems(texts, lang, DataWords([]), path) == [], (path, lang)
