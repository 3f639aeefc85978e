"""Reporting a problem without a browser, on SQLite and PostgreSQL: who will handle it and
by when before it is sent (page and JSON), photos stored and shown as thumbnails to the
reporter and the worker, a bad photo or a missing place shown beside its field with
everything else kept, and nothing stored then."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from shequ.app import create_app
from shequ.context import Context
from shequ.registry.db import make_engine, session_factory
from shequ.services.requests.models import ServiceRequest, ServiceRequestPhoto

from .conftest import DIVISIONS, FACILITIES, PASSWORD, Seeded, seed, services_settings
from .visible import han_outside, latin_words, raw_keys

# 多福巷社区综合服务站's point: 多福巷社区 (110101001001) is the nearest community.
PIN = {"latitude": "39.9152", "longitude": "116.4052"}


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Context, Seeded]]:
    """The app over the seeded region on ``db_url`` (SQLite, then PostgreSQL)."""
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
    engine.dispose()
    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with TestClient(create_app(ctx)) as http:
        yield http, ctx, seeded
    ctx.close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def _login(client: TestClient, username: str) -> None:
    client.cookies.clear()
    token = _csrf(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def _requests(ctx: Context) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(ServiceRequest)) or 0)


def test_the_form_says_who_handles_it_and_by_when(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _, seeded = served
    _login(client, "resident1")
    fid = seeded.facilities["隆福寺图书分馆"]
    form = client.get(f"/services/requests/new?facility={fid}&kind=public_repair")
    assert form.status_code == 200
    handling = re.search(r'<div id="handling-lines">(.*?)</div>', form.text, re.S)
    assert handling is not None
    lines = [unescape(x) for x in re.findall(r"<p>([^<]+)</p>", handling.group(1))]
    # 隆福寺图书分馆 lies in 隆福寺社区 (110101002001); a repair is handled by the
    # community, and goes up to 景山街道 when overdue; 72 hours.
    assert lines[0] == "隆福寺图书分馆属于隆福寺社区，“公共空间维修”由社区一级承办：隆福寺社区。"
    assert lines[1].startswith("应在 72 小时内办结，即 ")
    assert lines[1].endswith("之前；逾期未办结的，转由景山街道督办。")
    assert re.search(rf'<option value="{fid}" selected>隆福寺图书分馆</option>', form.text)


def test_the_handling_endpoint_answers_for_a_pin(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _, _ = served
    before = dt.datetime.now(dt.UTC)
    answer = client.get("/api/v1/request-handling", params={
        "service_code": "public_repair", "lat": PIN["latitude"], "lon": PIN["longitude"],
        "lang": "en"})
    after = dt.datetime.now(dt.UTC)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["reason"], body["place_code"], body["office_code"], body["office_level"],
            body["escalates_to_name"]) == ("point", "110101001001", "110101001001", 5,
                                           "东华门街道")
    deadline = dt.datetime.fromisoformat(body["deadline_at"])
    assert before + dt.timedelta(hours=72) - dt.timedelta(seconds=1) <= deadline \
        <= after + dt.timedelta(hours=72)
    assert body["summary"][0] == ("The pin is nearest to 多福巷社区, so “Repair in public "
                                  "space” is handled at community level, by 多福巷社区.")
    assert body["summary"][1].startswith("It should be resolved within 72 hours, by ")
    nowhere = client.get("/api/v1/request-handling", params={"service_code": "public_repair"})
    assert nowhere.status_code == 422
    unknown = client.get("/api/v1/request-handling", params={
        "service_code": "no_such_kind", "lat": "39.9", "lon": "116.4"})
    assert unknown.status_code == 422


def test_a_report_with_a_photo_is_stored_and_shown_as_a_thumbnail(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, ctx, _ = served
    _login(client, "resident1")
    token = _csrf(client.get("/services/requests/new").text)
    posted = client.post("/services/requests", data={
        "csrf_token": token, "service_code": "public_repair", "description": "路灯不亮",
        "attr.public_repair.fixture": "streetlight", **PIN},
        files=[("photos", ("lamp.png", png(), "image/png"))], follow_redirects=False)
    assert posted.status_code == 303, posted.text
    location = posted.headers["location"]
    assert location.startswith("/services/requests/") and "msg=services.submitted_message" \
        in location
    request_id = int(location.split("/")[-1].split("?")[0])
    with ctx.sessions() as session:
        photos = session.scalars(select(ServiceRequestPhoto)
                                 .where(ServiceRequestPhoto.request_id == request_id)).all()
        stored = session.get(ServiceRequest, request_id)
        assert stored is not None and stored.responsible_code == "110101001001"
    assert len(photos) == 1 and (photos[0].width, photos[0].height) == (40, 30)
    page = client.get(location)
    assert "诉求已提交，承办单位会按时限办理。" in page.text
    assert 'data-testid="responsible">多福巷社区</span>' in page.text
    thumbs = re.findall(r'<a href="([^"]+)" data-testid="photo-link"><img src="([^"]+)"',
                        page.text)
    assert thumbs == [(f"http://testserver/media/requests/{photos[0].token}.jpg",
                       f"http://testserver/media/requests/{photos[0].token}/thumb.jpg")]
    thumb = client.get(thumbs[0][1])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    history = re.search(r'<table data-testid="history">(.*?)</table>', page.text, re.S)
    assert history is not None and "<td>提交</td><td>已提交</td>" in history.group(1)

    # The community worker sees the thumbnail in the queue.
    _login(client, "worker_dfx")
    queue = client.get("/services/queue")
    row = queue.text.split(f'data-testid="queue-row-{request_id}"', 1)[1].split("</tr>", 1)[0]
    assert f"/media/requests/{photos[0].token}/thumb.jpg" in row


def test_a_bad_photo_is_shown_beside_its_field_and_everything_else_is_kept(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, ctx, seeded = served
    _login(client, "resident1")
    fid = seeded.facilities["多福巷社区综合服务站"]
    token = _csrf(client.get("/services/requests/new").text)
    count = _requests(ctx)
    posted = client.post("/services/requests", data={
        "csrf_token": token, "service_code": "public_repair", "description": "健身器材松动",
        "attr.public_repair.fixture": "fitness", "facility_id": str(fid), **PIN},
        files=[("photos", ("notes.png", b"these are not pixels", "image/png"))])
    assert posted.status_code == 422
    html = posted.text
    error = re.search(r'<p class="field-error" id="photos-error"[^>]*data-field="photos">([^<]+)'
                      r"</p>", html)
    assert error is not None
    assert 'aria-invalid="true"' in html.split('id="photos"', 1)[1].split(">", 1)[0]
    assert ">健身器材松动</textarea>" in html
    assert '<option value="fitness" selected>' in html
    assert '<option value="public_repair" selected>' in html
    assert re.search(rf'<option value="{fid}" selected>', html)
    assert f'value="{PIN["latitude"]}" data-testid="latitude"' in html
    assert "浏览器不会保留已选的照片，请重新选择。" in html
    assert _requests(ctx) == count  # nothing stored


def test_a_report_without_a_place_or_answer_names_what_is_missing(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, ctx, _ = served
    _login(client, "resident1")
    token = _csrf(client.get("/services/requests/new?lang=en").text)
    count = _requests(ctx)
    posted = client.post("/services/requests", data={
        "csrf_token": token, "service_code": "public_repair", "description": "坏了"})
    assert posted.status_code == 422
    summary = re.search(r'data-testid="error-summary">(.*?)</div>', posted.text, re.S)
    assert summary is not None
    items = [unescape(x) for x in re.findall(r'<a href="#([^"]+)">', summary.group(1))]
    # Both problems at once, each linking to its field: the question, then the place.
    assert items == ["attr.public_repair.fixture", "location"]
    texts = [unescape(x) for x in re.findall(r'<a href="#[^"]+">([^<]+)</a>', summary.group(1))]
    assert texts == ["What is broken is required",
                     "Mark the place on the map, use your location, or choose a facility."]
    assert 'id="location-error"' in posted.text
    assert _requests(ctx) == count


def test_workers_see_refusals_on_the_page_in_their_language(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _, seeded = served
    created = client.post("/api/v1/service-requests", headers={
        "Authorization": f"Bearer {seeded.tokens['resident1']}"}, json={
        "service_code": "public_repair", "division_code": "110101001001",
        "attributes": {"fixture": "path"}}).json()
    _login(client, "worker_dfx")
    queue = client.get("/services/queue?lang=zh-CN")
    refused = client.post(f"/services/requests/{created['id']}/act", data={
        "action": "resolve", "csrf_token": _csrf(queue.text), "back": "queue"})
    assert refused.status_code == 409
    assert "该诉求当前的状态不允许这一操作。" in refused.text
    missing = client.post(f"/services/requests/{created['id']}/act", data={
        "action": "assign", "csrf_token": _csrf(queue.text)})
    assert missing.status_code == 422
    assert "派单时请选择承办人。" in missing.text
    assert f'data-testid="request-id">{created["id"]}</span>' in missing.text


def test_chinese_pages_show_no_latin_words_or_keys(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _, seeded = served
    _login(client, "resident1")
    token = _csrf(client.get("/services/requests/new?lang=zh-CN").text)
    posted = client.post("/services/requests", data={
        "csrf_token": token, "service_code": "public_repair", "description": "路灯不亮",
        "attr.public_repair.fixture": "streetlight", **PIN},
        files=[("photos", ("lamp.png", png(), "image/png"))], follow_redirects=False)
    request_id = int(posted.headers["location"].split("/")[-1].split("?")[0])
    failed = client.post("/services/requests", data={"csrf_token": token,
                                                     "service_code": "public_repair"})
    pages = {"form": client.get(f"/services/requests/new?facility="
                                f"{seeded.facilities['隆福寺图书分馆']}").text,
             "failed form": failed.text,
             "request": client.get(posted.headers["location"]).text,
             "mine": client.get("/services/requests").text}
    _login(client, "worker_dfx")
    pages["queue"] = client.get("/services/queue").text
    pages["worker's request"] = client.get(f"/services/requests/{request_id}").text
    names = frozenset({"resident1", "worker_dfx", "officer_dhm"})
    for name, html in pages.items():
        assert latin_words(html, names=names) == [], name
        assert raw_keys(html) == [], name


def test_english_pages_show_chinese_only_in_names(
        served: tuple[TestClient, Context, Seeded]) -> None:
    client, _, seeded = served
    names = {row[0] for row in FACILITIES} | {row[3] for row in DIVISIONS} | {
        f"{row[0]}门口" for row in FACILITIES} | {"路灯不亮"}
    _login(client, "resident1")
    token = _csrf(client.get("/services/requests/new?lang=en").text)
    posted = client.post("/services/requests", data={
        "csrf_token": token, "service_code": "public_repair", "description": "路灯不亮",
        "attr.public_repair.fixture": "streetlight", **PIN},
        files=[("photos", ("lamp.png", png(), "image/png"))], follow_redirects=False)
    pages = {"form": client.get(f"/services/requests/new?facility="
                                f"{seeded.facilities['隆福寺图书分馆']}").text,
             "failed form": client.post("/services/requests", data={
                 "csrf_token": token, "service_code": "public_repair"}).text,
             "request": client.get(posted.headers["location"]).text,
             "mine": client.get("/services/requests").text,
             "directory": client.get("/services?lat=39.92&lon=116.41").text,
             "service": client.get(f"/services/{seeded.facilities['银闸社区卫生服务站']}").text}
    _login(client, "worker_dfx")
    pages["queue"] = client.get("/services/queue?lang=en").text
    for name, html in pages.items():
        assert han_outside(html, names) == [], name
        assert raw_keys(html) == [], name
