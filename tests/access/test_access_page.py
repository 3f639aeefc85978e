"""The life-circle and home pages before anything is loaded, and the life-circle page's
answer to a division it does not know: pages in the reader's language, never JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shequ.app import create_app
from shequ.context import Context
from shequ.settings import Settings
from tests.indicators.test_page import visible


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    ctx = Context.open(settings)
    with TestClient(create_app(ctx)) as test_client:
        yield test_client
    ctx.close()


def test_an_empty_registry_says_what_is_missing(client: TestClient) -> None:
    page = client.get("/access", params={"lang": "zh-CN"})
    assert page.status_code == 200
    text = visible(page.text)
    assert "尚无生活圈结果：登记库中还没有街道网络或带代表点的社区（村）" in text
    assert "生活圈可达性 · 全国" in text
    assert "access-map.js" not in page.text  # no map to draw
    home = client.get("/", params={"lang": "en"})
    assert "An administrator can build the demo county" in visible(home.text)


@pytest.mark.parametrize(("lang", "words"), [
    ("zh-CN", "没有代码为 110101999999 的现行区划。请从面包屑或下级区划列表中选择。"),
    ("en", "There is no division in force with the code 110101999999. Choose one from the "
           "breadcrumbs or the list of divisions below."),
])
def test_an_unknown_division_is_the_not_found_page(client: TestClient, lang: str,
                                                   words: str) -> None:
    page = client.get("/access", params={"division": "110101999999", "lang": lang})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert f'lang="{lang}"' in page.text
    assert words in visible(page.text)


@pytest.mark.parametrize(("lang", "words"), [
    ("zh-CN", ["生活圈层级：生活圈层级不是可选的值", "年份：“abc”不是年份，例如 2021",
               "区划口径（日期）：“soon”不是日期，请写成 YYYY-MM-DD"]),
    ("en", ["life-circle tier: life-circle tier is not one of the choices",
            "Year: abc is not a year (e.g. 2021)",
            "On the divisions of: soon is not a date (write YYYY-MM-DD)"]),
])
def test_a_wrong_tier_year_or_date_in_the_address_is_named_by_its_label(
        client: TestClient, lang: str, words: list[str]) -> None:
    page = client.get("/access", params={"tier": "nope", "period": "abc",
                                         "hierarchy": "soon", "lang": lang})
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    problems = page.text.split('data-testid="error-problems">', 1)[1].split("</ul>", 1)[0]
    assert [visible(item) for item in re.findall(r"<li>(.*?)</li>", problems)] == words
    ways_on = page.text.split('data-testid="ways-on">', 1)[1].split("</p>", 1)[0]
    assert '<a href="/">' in ways_on
    # each alone, the others right: only that one is named
    tier = client.get("/access", params={"tier": "nope", "period": "2024", "lang": lang})
    assert tier.status_code == 422 and words[0] in visible(tier.text)
    assert words[1] not in visible(tier.text)
    # a tier the catalog holds and a year open the page as before
    right = client.get("/access", params={"tier": "5min", "period": "2024", "lang": lang})
    assert right.status_code == 200


@pytest.fixture
def demo_client(demo_settings: Settings) -> Iterator[tuple[TestClient, Context]]:
    """The demo county, its demo accounts, served in-process with its own job runner."""
    from shequ.services.accounts.demo import ensure_demo_accounts
    from shequ.services.jobs.runner import own_runner

    ctx = Context.open(demo_settings)
    with ctx.sessions.begin() as session:
        ensure_demo_accounts(session, county_code="130123000000", environment="test")
    with own_runner(ctx), TestClient(create_app(ctx)) as test_client:
        yield test_client, ctx
    ctx.close()


def _sign_in(client: TestClient, username: str) -> None:
    from shequ.services.accounts.users import DEMO_PASSWORD

    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    done = client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                       "csrf_token": token.group(1)}, follow_redirects=False)
    assert done.status_code == 303, done.text


def _csrf(html: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    return token.group(1)


def test_a_planner_recomputes_the_life_circles_as_a_job_from_the_page(
        demo_client: tuple[TestClient, Context]) -> None:
    """The button starts the jurisdiction's life circles as a job for the year shown; the
    page follows it and, once it has ended, shows the stored figures — the same coverage
    as before (the registry did not change), computed anew."""
    from sqlalchemy import func, select

    from shequ.access.models import CommunityAccess
    from shequ.services.jobs.models import Job
    from shequ.services.jobs.service import wait

    client, ctx = demo_client
    _sign_in(client, "demo_planner")
    before = client.get("/access", params={"tier": "15min", "lang": "en"})
    assert 'data-testid="recompute-form"' in before.text
    period = re.search(r'name="period" value="(\d{4})"', before.text)
    assert period is not None
    year = int(period.group(1))
    assert f"to the facilities of {year} again" in visible(before.text)
    with ctx.sessions() as session:
        stamped = session.scalar(select(func.max(CommunityAccess.computed_at)).where(
            CommunityAccess.period == year))
    started = client.post("/access/recompute", follow_redirects=False, data={
        "csrf_token": _csrf(before.text), "division": "130123000000", "tier": "15min",
        "period": str(year)})
    assert started.status_code == 303, started.text
    target = started.headers["location"]
    job_id = int(target.rsplit("job=", 1)[1])
    assert target == (f"/access?division=130123000000&tier=15min&period={year}"
                      f"&job={job_id}")
    running = client.get(target + "&lang=en")
    assert 'data-testid="job"' in running.text and "/static/plan.js" in running.text
    done = wait(ctx, job_id, timeout=600)
    assert done.status == "done", done.problem
    with ctx.sessions() as session:
        job = session.get_one(Job, job_id)
        assert job.kind == "access.life_circles" and job.username == "demo_planner"
        assert json.loads(job.result or "{}")["period"] == year
        stored = session.scalar(select(func.max(CommunityAccess.computed_at)).where(
            CommunityAccess.period == year))
    # the demo's data folder holds no stored life circles of this year: the page walked
    # them for its answer; now they are stored
    assert stamped is None and stored is not None
    assert "No stored results yet: this page computed them now." in visible(before.text)
    after = client.get(target + "&lang=en")
    assert 'data-status="done"' in after.text
    assert f"Walked with the facilities of {year}; computed" in visible(after.text)
    summary = re.compile(r'data-testid="summary">([^<]+)<')
    assert summary.findall(after.text) == summary.findall(before.text) != []
    # the jobs page links the job back to the life-circle page
    assert f'href="/access?division=130123000000&amp;job={job_id}"' in client.get("/jobs").text


def test_a_community_worker_has_no_recompute(demo_client: tuple[TestClient, Context]
                                            ) -> None:
    client, _ = demo_client
    _sign_in(client, "demo_worker")
    page = client.get("/access", params={"tier": "15min"})
    assert page.status_code == 200 and 'data-testid="recompute-form"' not in page.text
    # a form token from a page where the worker has forms (upkeep)
    token = _csrf(client.get("/upkeep").text)
    refused = client.post("/access/recompute", data={"csrf_token": token},
                          follow_redirects=False)
    assert refused.status_code == 403
