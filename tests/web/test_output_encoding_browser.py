"""Nothing a user types runs in another user's browser (Debian Chromium, a live server).

Workers, residents and planners store names and texts carrying script and markup through
the HTTP API — facilities, a division renamed by an import, booking venues and a booking,
volunteer activities, a volunteer, reviews, a service request and its notes, a care
application, a siting scenario.  Every page that shows them is opened, every map marker's
popup and tooltip too; ``window.__xss`` is never set, no dialog opens, no script error or
CSP violation is reported, the markup is shown as literal text, and every page carries the
Content-Security-Policy.  Exports are fetched and read as text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import update

from shequ.context import Context
from shequ.indicators.store import compute_for_registry
from shequ.registry.db import make_engine, session_factory
from shequ.registry.models import Division, Population
from shequ.registry.queries import set_meta
from shequ.services.bookings.clock import local_now
from shequ.settings import Settings
from tests.conftest import running_server
from tests.services.conftest import PASSWORD, SECRET, Seeded, seed

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
SVG = '"><svg onload="window.__xss=1">'
JS_URL = "javascript:window.__xss=1"
PAYLOADS = (IMG, SCRIPT, SVG)
COMMUNITY = "110101001001"  # 多福巷社区: worker_dfx's
RENAMED = "110101001002"  # 银闸社区, renamed by a hostile import
TOWNSHIP = "110101001000"
COMMUNITIES = (COMMUNITY, RENAMED, "110101002001", "110102001001")
DISTRICT = "110101000000"
POLICY = "script-src 'self';"


@dataclass
class Hostile:
    """The live server and the ids of what the hostile users stored."""

    url: str
    facilities: dict[str, int]
    venue: int = 0
    request: int = 0
    scenario: int = 0
    outside: list[str] = field(default_factory=list)


def _token(seeded: Seeded, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.tokens[username]}"}


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
            ) -> Iterator[Hostile]:
    """The seeded Beijing region served live, after hostile users stored their markup."""
    folder = tmp_path_factory.mktemp("hostile")
    path = folder / "hostile.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with session_factory(engine)() as session:
        seeded = seed(session)
        # A division name arrives by import: shown on the maps, indicators and plans.
        session.execute(update(Division).where(Division.code == RENAMED)
                        .values(name=f"银闸{IMG}"))
        for n, code in enumerate(COMMUNITIES):  # figures, so that indicators are computed
            session.add(Population(division_code=code, period=2024, residents=3000 + 500 * n,
                                   households=1100 + 200 * n, age_60_plus=600))
        set_meta(session, region_code=DISTRICT)  # the home page shows the district
        session.commit()
    engine.dispose()
    ctx = Context.open(Settings(data_dir=folder / "data", database_url=f"sqlite:///{path}",
                                environment="test", secret_key=SECRET), migrate=False)
    compute_for_registry(ctx)
    with running_server(ctx) as url, httpx.Client(base_url=url) as http:
        def auth(username: str) -> dict[str, str]:
            return _token(seeded, username)

        worker, resident = auth("worker_dfx"), auth("resident1")
        facilities = {}
        for n, payload in enumerate(PAYLOADS):
            facilities[payload] = _created(http.post("/api/v1/facilities", headers=worker, json={
                "type_code": "comprehensive_service_facility", "division_code": COMMUNITY,
                "name": f"站{n}{payload}", "longitude": 116.4050 + 0.0004 * n,
                "latitude": 39.9150, "opening_hours": "24/7", "status": "in_service",
                "external_id": f"{JS_URL}//{n}", "address": payload, "capacity": 20}))["id"]
        state = Hostile(url, facilities)
        img = facilities[IMG]
        state.venue = _created(http.post("/api/v1/bookings/resources", headers=worker, json={
            "facility_id": img, "name": f"厅{SVG}", "opening_hours": "24/7",
            "min_notice_minutes": 0}))["id"]
        start = (local_now() + dt.timedelta(days=2)).replace(
            hour=10, minute=0, second=0, microsecond=0)
        _created(http.post("/api/v1/bookings", headers=resident, json={
            "resource_id": state.venue, "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(hours=1)).isoformat(), "purpose": SCRIPT}))
        _created(http.post("/api/v1/volunteers/register", headers=resident,
                           json={"display_name": f"志愿者{IMG}", "skills": SVG}))
        _created(http.post("/api/v1/volunteers/activities", headers=worker, json={
            "division_code": COMMUNITY, "organiser_name": SVG, "title": f"活动{IMG}",
            "description": SCRIPT, "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(hours=2)).isoformat()}))
        _created(http.post("/api/v1/reviews", headers=resident, json={
            "subject_kind": "facility", "subject_id": str(img), "score": 4,
            "comment": f"评论{SCRIPT}{IMG}"}))
        state.request = _created(http.post("/api/v1/service-requests", headers=resident, json={
            "service_code": "public_repair", "division_code": COMMUNITY,
            "attributes": {"fixture": "path"}, "description": f"路灯{IMG}{SCRIPT}"}))["id"]
        _created(http.post(f"/api/v1/service-requests/{state.request}/actions", headers=worker,
                           json={"action": "accept", "note": f"已受理{SVG}"}))
        care = seeded.facilities["多福巷老年人日间照料中心"]
        _created(http.post("/api/v1/care/applications", headers=resident, json={
            "facility_id": care, "beneficiary_name": f"老人{IMG}",
            "beneficiary_birth_date": "1940-01-01"}))
        state.scenario = _created(http.post("/api/v1/plan/scenarios", headers=auth(
            "planner_dc"), json={"name": f"方案{IMG}", "division_code": DISTRICT,
            "description": SCRIPT, "changes": [{
                "action": "new", "type_code": "comprehensive_service_facility",
                "division_code": RENAMED, "name": f"新站{SVG}", "longitude": 116.411,
                "latitude": 39.923, "cost_cny": 1_000_000, "funding_source": "other"}]}))["id"]
        yield state
    ctx.close()


@dataclass
class Watch:
    """What a page reported: dialogs, script errors, console errors, CSP headers."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    missing_policy: list[str] = field(default_factory=list)


def _page(chromium: Any, hostile: Hostile, username: str | None) -> tuple[Any, Any, Watch]:
    context = chromium.new_context(locale="zh-CN")
    context.set_default_timeout(15_000)

    def guard(route: Any) -> None:
        if route.request.url.startswith(hostile.url):
            route.continue_()
        else:
            hostile.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    watch = Watch()

    def dialog(opened: Any) -> None:
        watch.dialogs.append(opened.message)
        opened.dismiss()

    def console(message: Any) -> None:
        if message.type == "error":
            watch.console.append(message.text)

    page.on("dialog", dialog)
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.on("console", console)

    def check_policy(response: Any) -> None:  # pages get the pages' policy, redirects one
        if response.request.resource_type != "document":
            return
        html = (response.headers.get("content-type") or "").startswith("text/html")
        policy = response.headers.get("content-security-policy") or ""
        if POLICY not in policy if html else not policy.startswith("default-src 'none'"):
            watch.missing_policy.append(response.url)

    page.on("response", check_policy)
    if username:
        page.goto(f"{hostile.url}/login?next=/services/requests")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{hostile.url}/services/requests*")
    return context, page, watch


# Opens every marker's tooltip (mouseover) and, when asked, its popup (click); returns the
# texts the open tooltips and popups showed.  Leaflet listens on the map container, so
# dispatched events reach it.
OPEN_MARKERS = """([selector, click]) => {
  const map = document.querySelector(selector);
  const shown = new Set();
  const read = () => map.querySelectorAll(".leaflet-tooltip, .leaflet-popup-content")
    .forEach((box) => shown.add(box.textContent));
  for (const el of map.querySelectorAll("path.leaflet-interactive, .leaflet-marker-icon")) {
    el.dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
    read();
    el.dispatchEvent(new MouseEvent("mouseout", {bubbles: true}));
    if (click) {
      el.dispatchEvent(new MouseEvent("click", {bubbles: true}));
      read();
    }
  }
  return [...shown];
}"""


def _clean(page: Any, watch: Watch) -> None:
    """No script of the markup ran, and the page's own scripts ran without complaint."""
    assert page.evaluate("window.__xss") is None
    assert watch.dialogs == [] and watch.errors == []
    assert watch.console == []  # a CSP violation or a failing script would show here
    assert watch.missing_policy == []


def _visit(page: Any, url: str) -> str:
    response = page.goto(url)
    assert response.status == 200, url
    page.wait_for_load_state("networkidle")
    text: str = page.inner_text("body")
    return text


def test_public_pages_show_markup_as_text(chromium: Any, hostile: Hostile) -> None:
    context, page, watch = _page(chromium, hostile, None)
    _visit(page, f"{hostile.url}/")
    page.wait_for_selector("#map[data-loaded]")
    shown = page.evaluate(OPEN_MARKERS, ["#map", True])
    for n, payload in enumerate(PAYLOADS):  # each facility's popup shows its name as text
        assert any(f"站{n}{payload}" in text for text in shown), payload
    assert any(f"银闸{IMG} ({RENAMED})" in text for text in shown)  # a community tooltip

    _visit(page, f"{hostile.url}/services")
    page.wait_for_selector("#results[data-loaded]")
    listed = page.locator("#results").inner_text()
    shown = page.evaluate(OPEN_MARKERS, ["#services-map", False])
    for n, payload in enumerate(PAYLOADS):
        assert f"站{n}{payload}" in listed
        assert f"站{n}{payload}" in shown
    for href in page.locator("[data-testid=ask]").evaluate_all("els => els.map(a => a.href)"):
        assert href.startswith(f"{hostile.url}/services/requests/new?")

    text = _visit(page, f"{hostile.url}/indicators?division={TOWNSHIP}")
    assert f"银闸{IMG}" in text
    page.wait_for_selector("#indicator-map[data-ready]")
    shown = page.evaluate(OPEN_MARKERS, ["#indicator-map", False])
    assert any(text.startswith(f"银闸{IMG}") for text in shown)

    estate = urlencode({"name": IMG, "households": 300, "residents": 800,
                        "total_floor_area_m2": 30000, "service_floor_area_m2": 500,
                        "activity_area_m2": 200, "longitude": 116.41, "latitude": 39.92})
    text = _visit(page, f"{hostile.url}/plan/estate?{estate}")
    assert page.locator("#verdict").inner_text().startswith(f"{IMG}：")  # zh colon
    assert page.locator("input[name=name]").input_value() == IMG
    _clean(page, watch)
    context.close()
    assert hostile.outside == []


def test_resident_pages_show_markup_as_text(chromium: Any, hostile: Hostile) -> None:
    context, page, watch = _page(chromium, hostile, "resident1")
    assert SCRIPT in _visit(page, f"{hostile.url}/bookings")
    text = _visit(page, f"{hostile.url}/bookings/resources/{hostile.venue}")
    assert f"站0{IMG}" in text and f"厅{SVG}" in text
    assert f"老人{IMG}" in _visit(page, f"{hostile.url}/care")
    text = _visit(page, f"{hostile.url}/volunteers")
    assert f"活动{IMG}" in text and SCRIPT in text and SVG in text
    assert f"评论{SCRIPT}{IMG}" in _visit(page, f"{hostile.url}/reviews")
    assert f"{page.locator('[data-testid=subject] option').all_inner_texts()}".count(
        "站") >= 3  # the facility names, as option text
    _visit(page, f"{hostile.url}/services/requests")
    text = _visit(page, f"{hostile.url}/services/requests/{hostile.request}")
    assert f"路灯{IMG}{SCRIPT}" in text and f"已受理{SVG}" in text
    text = _visit(page, f"{hostile.url}/services/requests/new?facility={hostile.facilities[SVG]}")
    assert f"站2{SVG}" in text
    _clean(page, watch)
    context.close()
    assert hostile.outside == []


def test_staff_pages_show_markup_as_text(chromium: Any, hostile: Hostile) -> None:
    context, page, watch = _page(chromium, hostile, "worker_dfx")
    _visit(page, f"{hostile.url}/work")
    text = _visit(page, f"{hostile.url}/services/queue")
    assert f"路灯{IMG}{SCRIPT}" in text
    text = _visit(page, f"{hostile.url}/bookings/manage")
    assert SCRIPT in text and f"厅{SVG}" in text
    assert f"老人{IMG}" in _visit(page, f"{hostile.url}/care/manage")
    text = _visit(page, f"{hostile.url}/volunteers/manage")
    assert f"活动{IMG}" in text
    assert f"评论{SCRIPT}{IMG}" in _visit(page, f"{hostile.url}/reviews/manage")
    _visit(page, f"{hostile.url}/upkeep?code={COMMUNITY}")
    for n, payload in enumerate(PAYLOADS):  # facility names are edited in input boxes
        row = page.get_by_test_id(f"facility-{hostile.facilities[payload]}")
        assert row.locator("input[name=name]").input_value() == f"站{n}{payload}"
    # Exports read as text: CSV, never HTML, and inert if opened in a browser.
    export = page.request.get(f"{hostile.url}/api/v1/exports/facilities"
                              f"?division={COMMUNITY}&format=csv")
    assert export.ok and export.headers["content-type"].startswith("text/csv")
    assert export.headers["x-content-type-options"] == "nosniff"
    assert export.headers["content-security-policy"].startswith("default-src 'none'")
    names = [row["name"] for row in csv.DictReader(io.StringIO(export.text()))
             if row["name"].startswith("站")]
    assert sorted(names) == sorted(f"站{n}{p}" for n, p in enumerate(PAYLOADS))
    _clean(page, watch)
    context.close()
    assert hostile.outside == []


def test_planner_pages_show_markup_as_text(chromium: Any, hostile: Hostile) -> None:
    context, page, watch = _page(chromium, hostile, "planner_dc")
    text = _visit(page, f"{hostile.url}/plan")
    assert f"方案{IMG}" in text
    _visit(page, f"{hostile.url}/plan?scenario={hostile.scenario}")
    page.wait_for_function("document.querySelectorAll('#map .leaflet-marker-icon').length > 0")
    assert page.locator("#scenario-title").inner_text().startswith(f"方案{IMG}")
    shown = page.evaluate(OPEN_MARKERS, ["#map", False])
    assert any(f"新站{SVG}" in text for text in shown)  # the new site's tooltip
    assert any(text.startswith(f"银闸{IMG}") for text in shown)  # the renamed community's
    _visit(page, f"{hostile.url}/indicators?division={DISTRICT}")
    _clean(page, watch)
    context.close()
    assert hostile.outside == []


def test_api_documentation_renders_offline_under_the_policy(chromium: Any, hostile: Hostile
                                                           ) -> None:
    context, page, watch = _page(chromium, hostile, None)
    _visit(page, f"{hostile.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Shequ" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock").count() > 50  # the operations of the whole API
    licence = page.request.get(f"{hostile.url}/static/vendor/swagger-ui/LICENSE")
    assert "Apache License" in licence.text()
    _clean(page, watch)
    context.close()
    assert hostile.outside == []

