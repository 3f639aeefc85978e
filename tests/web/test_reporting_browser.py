"""The 2025 reporting round in a real browser (Debian Chromium) on the demo county: the
demo worker fills and submits the community's form (a refused figure first, its reason
beside it and nothing stored), the street officer approves it, the county's overview shows
it reported on time, and a change after approval is refused until the officer unapproves
it with a reason.  The rest of the county reported through ``shequ demo``'s round, so N3
has values at every level."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select

from shequ.context import Context
from shequ.indicators.store import latest_run, load_values
from shequ.services.accounts.demo import DEMO_PASSWORD, ensure_demo_accounts
from shequ.services.bookings.clock import local_now
from shequ.services.reporting.demo import DEMO_ROUND_NAME, report_demo_round
from shequ.services.reporting.models import FormValue, ReportingRound, RoundForm
from shequ.settings import Settings
from tests.conftest import running_server
from tests.web.axe import assert_no_serious_axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory, demo_template: Path
             ) -> Iterator[tuple[str, Context, int, str]]:
    """The demo county after ``shequ demo``'s round, served: (url, ctx, round id, the
    worker's community)."""
    folder = tmp_path_factory.mktemp("demo-reporting")
    shutil.copytree(demo_template, folder, dirs_exist_ok=True)
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    with ctx.sessions() as session:
        accounts = ensure_demo_accounts(session, county_code="130123", environment="test")
        session.commit()
    counts = report_demo_round(ctx, county_code="130123", seed=20220101, now=local_now())
    assert counts["forms submitted"] == 186 and counts["forms signed off"] == 184
    worker_unit = next(a.jurisdiction_code for a in accounts if a.username == "demo_worker")
    assert worker_unit is not None
    with ctx.sessions() as session:
        round_id = session.scalars(select(ReportingRound.id).where(
            ReportingRound.name == DEMO_ROUND_NAME)).one()
    with running_server(ctx) as url:
        yield url, ctx, round_id, worker_unit
    ctx.close()


def _sign_in(browser: Any, url: str, username: str) -> Any:
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{url}/login?next=/reporting")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/reporting*")
    return page


def test_n3_has_values_at_every_level_after_the_demo_round(
        reported: tuple[str, Context, int, str]) -> None:
    _, ctx, _, _ = reported
    with ctx.sessions() as session:
        values = load_values(session, run_id=latest_run(session).id, indicators=["N3"],
                             periods=[2025])
    known = values.filter(pl.col("value").is_not_null())
    assert sorted(known["level"].unique().to_list()) == [0, 1, 2, 3, 4, 5]  # 0: nation
    county = known.filter(pl.col("division_code") == "130123000000")["value"].item()
    assert 3.0 <= county <= 8.0  # commercial space drawn at 3–8 % of residential


def test_a_community_reports_the_street_approves_and_the_figures_lock(
        chromium: Any, reported: tuple[str, Context, int, str]) -> None:
    url, ctx, round_id, unit = reported
    form_path = f"/reporting/rounds/{round_id}/forms/{unit}"
    worker = _sign_in(chromium, url, "demo_worker")
    worker.goto(f"{url}/work")  # the workbench counts the form not yet submitted
    assert worker.get_by_test_id("count-work_forms").inner_text() == "1"
    worker.goto(f"{url}/reporting")
    worker.click(f"[data-testid=fill-{round_id}]")
    worker.wait_for_url(f"{url}{form_path}")
    # prefilled from the registry's 2025 figures
    residents = worker.input_value("[data-testid=item-residents]")
    assert residents.isdigit() and int(residents) > 0
    assert_no_serious_axe_violations(worker)
    sixty = int(worker.input_value("[data-testid=item-age_60_plus]"))
    worker.fill("[data-testid=item-age_80_plus]", str(sixty + 1))
    worker.fill("[data-testid=item-residential_floor_area]", "180000")
    worker.fill("[data-testid=item-commercial_service_floor_area]", "9000")
    worker.fill("[data-testid=item-home_visited_elderly]", "120")
    with worker.expect_navigation() as refused:
        worker.click("[data-testid=submit]")
    assert refused.value is not None and refused.value.status == 422
    # the rule's message beside its field, in Chinese; what was typed is kept
    assert worker.locator("#age_80_plus-error").inner_text().startswith("80 岁及以上")
    assert worker.input_value("[data-testid=item-residential_floor_area]") == "180000"
    with ctx.sessions() as session:  # nothing stored
        assert session.scalars(select(RoundForm).where(
            RoundForm.round_id == round_id, RoundForm.division_code == unit)).first() is None
    worker.fill("[data-testid=item-age_80_plus]", str(sixty // 5))
    # 30 % more residents than last year: a warning of the round's rules, not an error
    worker.fill("[data-testid=item-residents]", str(round(int(residents) * 1.3)))
    with worker.expect_navigation() as warned:
        worker.click("[data-testid=submit]")
    assert warned.value is not None and warned.value.status == 422
    assert "比上期增长超过20%" in worker.locator("#residents-error").inner_text()
    worker.fill("[data-testid=comment-residents]", "新建小区今年交付，人口增长属实")
    with worker.expect_navigation(url=re.compile(r".*msg=reporting.submitted.*")):
        worker.click("[data-testid=submit]")
    assert worker.get_by_test_id("message").inner_text() == "表单已提交。"
    assert worker.get_by_test_id("form-status").inner_text() == "已提交"

    officer = _sign_in(chromium, url, "demo_officer")
    officer.goto(f"{url}/work")  # two of the demo's submissions and the worker's wait
    assert officer.get_by_test_id("count-work_forms").inner_text() == "3"
    officer.goto(f"{url}{form_path}")
    officer.click("[data-testid=approve]")
    officer.wait_for_url(re.compile(r".*msg=reporting.approved.*"))
    assert officer.get_by_test_id("form-status").inner_text().startswith("已审核")

    planner = _sign_in(chromium, url, "demo_planner")
    planner.goto(f"{url}/reporting/rounds/{round_id}")
    assert planner.get_by_test_id(f"timeliness-{unit}").inner_text() == "按时"
    assert planner.get_by_test_id("total-expected").inner_text() == "187"
    assert planner.get_by_test_id("total-reported").inner_text().startswith("187")
    assert_no_serious_axe_violations(planner)

    # after approval the worker's change is refused and nothing changes
    worker.goto(f"{url}{form_path}")
    assert worker.get_by_test_id("locked").is_visible()
    assert worker.locator("[data-testid=submit]").count() == 0
    with worker.expect_navigation() as locked:
        worker.locator("[data-testid=report-form]").evaluate("f => f.requestSubmit()")
    assert locked.value is not None and locked.value.status == 409
    assert "上级退回" in worker.get_by_test_id("error-summary").inner_text()

    officer.goto(f"{url}{form_path}")
    officer.click("[data-testid=unapprove]")  # no reason: refused beside the box
    officer.wait_for_load_state()
    assert officer.locator("#reason-error").inner_text() == "退回时须说明理由"
    officer.fill("[data-testid=reason]", "商业面积请按竣工验收数核对")
    officer.click("[data-testid=unapprove]")
    officer.wait_for_url(re.compile(r".*msg=reporting.unapproved.*"))
    assert "商业面积请按竣工验收数核对" in officer.get_by_test_id("history").inner_text()

    worker.goto(f"{url}{form_path}")
    worker.fill("[data-testid=item-commercial_service_floor_area]", "8500")
    with worker.expect_navigation(url=re.compile(r".*msg=reporting.submitted.*")):
        worker.click("[data-testid=submit]")
    with ctx.sessions() as session:
        form = session.scalars(select(RoundForm).where(
            RoundForm.round_id == round_id, RoundForm.division_code == unit)).one()
        stored = session.scalars(select(FormValue.value).where(
            FormValue.form_id == form.id,
            FormValue.item == "commercial_service_floor_area")).one()
        assert (form.status, stored) == ("submitted", 8500.0)
