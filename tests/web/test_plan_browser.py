"""The whole scenario loop on /plan in a real browser (Debian Chromium), on the demo county:
as demo_planner, from the short board of the 80% village target, a maximal covering
scenario solved as a job whose progress the page shows, evaluated, a set covering
scenario beside it, the two compared, one adopted — the registry then holds its
facilities as planned.  As demo_worker the planning controls are absent and the API
refuses them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from shequ.context import Context
from shequ.plan.models import PlanScenario
from shequ.registry.models import Facility
from shequ.services.accounts.demo import ensure_demo_accounts
from shequ.services.accounts.users import DEMO_PASSWORD
from shequ.settings import Settings
from tests.conftest import running_server
from tests.web.axe import assert_no_serious_axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COUNTY = "130123000000"
# Codes that must never reach a reader: snake_case codes and message keys.
CODE = re.compile(r"\b[a-z]+_[a-z0-9_]+\b|\b(?:plan|jobs)\.[a-z_]+\b")
LONG = 240_000  # ms: a solve on a loaded two-CPU machine


@pytest.fixture
def served(demo_settings: Settings) -> Iterator[tuple[str, Context]]:
    """The demo county with its demo accounts, served on a free port."""
    ctx = Context.open(demo_settings)
    with ctx.sessions.begin() as session:
        ensure_demo_accounts(session, county_code=COUNTY, environment="test")
    with running_server(ctx) as url:
        yield url, ctx
    ctx.close()


def _sign_in(page: Any, url: str, username: str, target: str = "/plan") -> None:
    page.goto(f"{url}/login?next={target}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def _solve(page: Any, url: str, *, model: str, name: str, candidates: str = "both",
           on_the_map: bool = False) -> int:
    """From the short board of N2, solve ``model`` as a job; the scenario's id."""
    page.goto(f"{url}/plan")
    page.select_option("[data-testid=board-form] select[name=indicator]", "N2")
    with page.expect_navigation():
        page.click("[data-testid=board-button]")
    assert "N2" in page.get_by_test_id("board-start").inner_text()
    assert page.input_value("#target") == "80"
    assert page.input_value("#area") == "rural"
    assert page.input_value("#division_code") == COUNTY
    page.fill("#name", name)
    page.select_option("#model", model)
    page.select_option("#candidates", candidates)
    if on_the_map:
        # One new-build candidate dropped and one point added, on the candidates' map.
        page.click("[data-testid=candidates-load]")
        new_site = page.locator('#candidates-map path.leaflet-interactive[stroke="#b42318"]')
        new_site.first.wait_for()
        new_site.first.click()
        box = page.locator("#candidates-map").bounding_box()
        page.locator("#candidates-map").click(position={"x": 3, "y": box["height"] - 3})
        assert page.get_by_test_id("candidates-status").inner_text() == (
            "已排除 1 个候选点位，已增加 1 个点位。")
        assert page.input_value("#drop_sites").startswith("new:1301")
        assert len(page.input_value("#extra_sites").split(",")) == 2
    with page.expect_navigation(url="**/plan?job=*"):
        page.click("[data-testid=solve-button]")
    # The job's panel and its bar, then the page drawn again with the solved scenario.
    page.wait_for_selector("[data-testid=job]")
    assert page.locator("[data-testid=job-progress]").count() == 1
    page.wait_for_selector("[data-testid=scenario-title]", timeout=LONG)
    assert page.get_by_test_id("job-status").inner_text() == "已完成"
    assert name in page.get_by_test_id("scenario-title").inner_text()
    return int(page.locator("#scenario").get_attribute("data-id"))


def _evaluate(page: Any, scenario_id: int) -> None:
    with page.expect_navigation(url=f"**/plan?scenario={scenario_id}&job=*"):
        page.click("[data-testid=evaluate-button]")
    page.wait_for_selector("[data-testid=job-status][data-status=done]", timeout=LONG)
    assert "→" in page.get_by_test_id("headlines").inner_text()


def test_a_planner_goes_from_short_board_to_adopted_plan(
        chromium: Any, served: tuple[str, Context]) -> None:
    url, ctx = served
    outside: list[str] = []
    page = chromium.new_page(locale="zh-CN")
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    _sign_in(page, url, "demo_planner")
    assert page.get_by_test_id("plan-form").count() == 1
    assert_no_serious_axe_violations(page)

    # New builds only: the budget of the target buys exactly the 80% (with reuse of public
    # space, the same money covers every village — what the set covering costs).
    covering = _solve(page, url, model="mclp", name="八成村覆盖：最大覆盖", candidates="new",
                      on_the_map=True)
    text = str(page.locator("main").inner_text())
    assert "新建" in text and CODE.findall(text) == []
    # What each chosen site covers: maximal covering of villages counts the village a site
    # stands in, so every site serves one village, joined to it by one line.
    page.wait_for_selector("[data-testid=site-coverage] tbody tr")
    rows = page.locator("[data-testid=site-coverage] tbody tr")
    sites = page.locator(".plan-site").count()
    assert rows.count() == sites > 0
    assert page.locator("path.coverage-line").count() == sites
    # the dots follow the lines' rule: each site's village (none had a centre) is the one
    # newly covered dot, and the counts under the map say so
    assert page.locator('#map path.leaflet-interactive[stroke="#1d6fb8"]').count() == sites
    assert page.locator("#counts .stat .value").nth(1).inner_text() == str(sites)
    assert {r.locator("td").nth(1).inner_text() for r in rows.all()} == {"1"}
    assert int(rows.first.locator("td").nth(2).inner_text().replace(",", "")) > 0
    assert "每个地点服务其所在的社区或村" in page.get_by_test_id("coverage-rule").inner_text()
    _evaluate(page, covering)
    headlines = page.get_by_test_id("headlines").inner_text()
    assert "农村社区综合服务设施覆盖率" in headlines
    page.wait_for_selector("#scenario-before-after svg")

    every = _solve(page, url, model="lscp", name="村村覆盖：集合覆盖")
    assert every != covering

    page.goto(f"{url}/plan")
    page.check(f"[data-testid=compare-{covering}]")
    page.check(f"[data-testid=compare-{every}]")
    with page.expect_navigation(url="**/plan?compare=*"):
        page.click("[data-testid=compare-button]")
    table = page.get_by_test_id("compared-table")
    head = table.locator("thead").inner_text()
    assert "八成村覆盖：最大覆盖" in head and "村村覆盖：集合覆盖" in head
    costs = [float(c.replace(",", "")) for c in
             page.locator("[data-testid=compared-cost]").all_inner_texts()]
    assert len(costs) == 2 and 0 < costs[0] < costs[1]  # 80% costs less than every village
    units = page.locator("[data-testid=compared-units]").all_inner_texts()
    assert all("→" in u for u in units)
    body = table.locator("tbody").inner_text()
    assert "农村社区综合服务设施覆盖率" in body and "未评估" in body
    # One small map per scenario, all on the same extent, each with its own sites.
    for scenario_id in (covering, every):
        page.wait_for_selector(f"[data-testid=compared-map-{scenario_id}][data-drawn=true]")
    maps = [page.get_by_test_id(f"compared-map-{i}") for i in (covering, every)]
    extents = [m.get_attribute("data-extent") for m in maps]
    assert extents[0] == extents[1] and extents[0]
    drawn = [int(m.get_attribute("data-sites") or 0) for m in maps]
    assert [m.locator(".compare-site").count() for m in maps] == drawn
    assert 0 < drawn[0] < drawn[1]  # 80% of the villages needs fewer sites than all
    assert CODE.findall(str(page.locator("main").inner_text())) == []
    assert_no_serious_axe_violations(page)

    # Adopting asks for the box to be ticked first.
    page.goto(f"{url}/plan?scenario={covering}")
    with page.expect_navigation():
        page.click("[data-testid=adopt-button]")
    assert page.locator("#confirm-error").inner_text() == "请勾选以确认采纳"
    page.check("#confirm")
    with page.expect_navigation(url=f"**/plan?scenario={covering}&msg=*"):
        page.click("[data-testid=adopt-button]")
    assert page.get_by_test_id("message").inner_text().startswith("方案已采纳")
    assert page.get_by_test_id("adopt-form").count() == 0
    with ctx.sessions() as session:
        scenario = session.get(PlanScenario, covering)
        assert scenario is not None and scenario.status == "adopted"
        made = [c.adopted_facility_id for c in scenario.changes]
        assert made and None not in made
        planned = session.scalar(select(func.count()).select_from(Facility).where(
            Facility.id.in_(made), Facility.status == "planned"))
        assert planned == len(made)
    page.goto(f"{url}/jobs")
    assert page.locator("[data-testid=jobs] tbody tr").count() == 3
    assert CODE.findall(str(page.locator("main").inner_text())) == []
    page.close()
    assert outside == []


def test_a_community_worker_has_no_planning_controls_and_the_api_refuses(
        chromium: Any, served: tuple[str, Context]) -> None:
    url, _ = served
    page = chromium.new_page(locale="zh-CN")
    _sign_in(page, url, "demo_worker")
    page.goto(f"{url}/plan?indicator=N2")
    for control in ("plan-form", "board-form", "solve-button", "evaluate-button",
                    "adopt-form"):
        assert page.get_by_test_id(control).count() == 0, control
    token = page.request.post(f"{url}/api/v1/auth/token", form={
        "username": "demo_worker", "password": DEMO_PASSWORD}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    for path, body in (("/api/v1/plan/solve-jobs", {"division_code": COUNTY, "target": 0.8}),
                       ("/api/v1/plan/solve", {"division_code": COUNTY, "target": 0.8})):
        answer = page.request.post(f"{url}{path}", data=body, headers=auth)
        assert answer.status == 403, (path, answer.status)
    page.close()
