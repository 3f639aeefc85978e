"""The staff's pages on a phone (390 px wide, as a worker's phone is), in Debian's
Chromium, and the pages of tables of inputs on a laptop (1280 px): no page is wider than
the screen (a wide table scrolls sideways inside itself,
a long choice or a form of tables stays within the screen), and the outbox's count,
empty while nothing waits, is not drawn as an empty badge."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shequ.context import Context
from shequ.registry import queries
from shequ.services.accounts.demo import ensure_demo_accounts
from shequ.services.accounts.users import DEMO_PASSWORD
from shequ.services.bookings.clock import local_now
from shequ.services.care.rules import load_priority_rules
from shequ.services.demo_activity import populate_demo_activity
from shequ.services.reporting.demo import run_demo_round
from shequ.services.reporting.models import ReportingRound
from shequ.services.reporting.service import reporting_config
from shequ.services.requests import load_request_catalog
from shequ.settings import Settings
from tests.conftest import running_server
from tests.web.crawl import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
# What the page is wider than the screen by, and the widest elements that stick out.
OVERFLOW_JS = """() => {
  const width = document.documentElement.clientWidth;
  const out = Array.from(document.querySelectorAll("body *"))
    .filter((el) => el.getBoundingClientRect().right > width + 1 && el.checkVisibility())
    .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""));
  return [document.documentElement.scrollWidth - width, out.slice(0, 5)];
}"""
WORKER_PAGES = ("/work", "/upkeep", "/reporting", "/reporting/violations", "/indicators",
                "/indicators/assessment", "/access", "/jobs", "/notifications",
                "/account/notifications", "/offline/outbox")
PLANNER_PAGES = ("/plan", "/access", "/indicators", "/reporting", "/jobs")


@pytest.fixture(scope="module")
def lived_in(tmp_path_factory: pytest.TempPathFactory, demo_template: Path
             ) -> Iterator[tuple[str, str]]:
    """The demo county with its accounts and activity (a reporting round with the demo
    worker's form) served live; the URL and the path of the worker's form."""
    folder = tmp_path_factory.mktemp("phone")
    shutil.copytree(demo_template, folder, dirs_exist_ok=True)
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    with ctx.sessions() as session:
        county = queries.meta(session)["region_code"]
        ensure_demo_accounts(session, county_code=county, environment="test")
        session.commit()
        populate_demo_activity(
            session, county_code=county, seed=int(queries.meta(session)["seed"]),
            now=local_now(), catalog=ctx.catalog,
            request_catalog=load_request_catalog(ctx.settings.catalog_dir),
            care_rules=load_priority_rules(ctx.settings.catalog_dir))
        session.commit()
        run_demo_round(session, reporting_config(ctx.settings.catalog_dir), county_code=county,
                       seed=int(queries.meta(session)["seed"]), now=local_now(),
                       catalog_dir=ctx.settings.catalog_dir)
        session.commit()
        round_id = session.scalars(select(ReportingRound.id).order_by(ReportingRound.id)).first()
    assert round_id is not None
    with running_server(ctx) as url:
        # the demo worker's community: the first urban community by code
        yield url, f"/reporting/rounds/{round_id}/forms/130123001001"
    ctx.close()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize(("username", "pages"), [("demo_worker", WORKER_PAGES),
                                                 ("demo_planner", PLANNER_PAGES)])
def test_no_page_is_wider_than_a_phone(chromium: Any, lived_in: tuple[str, str],
                                       username: str, pages: tuple[str, ...],
                                       lang: str) -> None:
    url, form = lived_in
    context = chromium.new_context(locale=lang, viewport=PHONE)
    try:
        sign_in(context, url, username, DEMO_PASSWORD, lang)
        page = context.new_page()
        wide: dict[str, Any] = {}
        for path in (*pages, *((form,) if username == "demo_worker" else ())):
            answer = page.goto(f"{url}{path}?lang={lang}")
            assert answer is not None and answer.status == 200, path
            by, sticking_out = page.evaluate(OVERFLOW_JS)
            if by > 0:
                wide[path] = (by, sticking_out)
            # the outbox's count is empty and hidden while nothing waits
            assert page.locator("[data-testid=offline-count]").is_hidden(), path
        assert wide == {}
    finally:
        context.close()


def test_tables_of_inputs_stay_within_a_laptop_screen(chromium: Any,
                                                      lived_in: tuple[str, str]) -> None:
    """/upkeep's facilities (a row of inputs each) and the reporting form on 1280 px."""
    url, form = lived_in
    context = chromium.new_context(locale="en", viewport={"width": 1280, "height": 800})
    try:
        sign_in(context, url, "demo_worker", DEMO_PASSWORD, "en")
        page = context.new_page()
        wide: dict[str, Any] = {}
        for path in ("/upkeep", form):
            page.goto(f"{url}{path}?lang=en")
            by, sticking_out = page.evaluate(OVERFLOW_JS)
            if by > 0:
                wide[path] = (by, sticking_out)
        assert wide == {}
        # the facilities' table scrolls inside itself: its Save buttons are reached so
        page.goto(f"{url}/upkeep?lang=en")
        table = page.locator("table[data-testid=facilities]")
        assert table.evaluate("(t) => getComputedStyle(t).overflowX") == "auto"
    finally:
        context.close()
