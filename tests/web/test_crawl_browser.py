"""The whole product, crawled: every page a reader can reach by links from the home page
and the workbench, for every kind of reader (anonymous and the five demo accounts) in
both languages, each page and each form checked as :mod:`tests.web.crawl` describes.

The demo county is built once per test process with its analysis, demo accounts and
synthetic activity (what ``shequ demo`` serves); each crawl gets its own copy and
server, so that a form that wrongly accepts a bad value cannot change another crawl.

The crawl's own checks are tried first on texts worked out by hand and on a small site
made with one of each fault, so that a crawl that passes has looked.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shequ.context import Context
from shequ.settings import Settings
from tests.conftest import running_server
from tests.web.crawl import (
    LANGS,
    DataWords,
    crawl,
    database_words,
    language_problems,
    page_key,
    page_shape,
    switch_problem,
)

# Who crawls: the anonymous reader and the demo accounts; whether the workbench is a start.
READERS: tuple[tuple[str | None, bool], ...] = (
    (None, False),
    ("demo_resident", False),
    ("demo_worker", True),
    ("demo_officer", True),
    ("demo_planner", True),
    ("demo_admin", True),
)
PAGES_PER_READER = 60
# A safety net for a machine far too busy (the crawl stops and warns), not a pace.
SECONDS_PER_READER = 300.0


@pytest.fixture(scope="session")
def lived_in_demo(tmp_path_factory: pytest.TempPathFactory, demo_template: Path
                  ) -> tuple[Path, DataWords]:
    """The demo county as ``shequ demo`` serves it (analysed, with the demo accounts and
    their activity), and the words its database holds."""
    from shequ.ingest.build import analyse_demo
    from shequ.registry import queries
    from shequ.services.accounts.demo import ensure_demo_accounts
    from shequ.services.bookings.clock import local_now
    from shequ.services.care.rules import load_priority_rules
    from shequ.services.demo_activity import populate_demo_activity
    from shequ.services.requests import load_request_catalog

    folder = tmp_path_factory.mktemp("crawl-demo")
    shutil.copytree(demo_template, folder, dirs_exist_ok=True)
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    try:
        analyse_demo(ctx)
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
        words = database_words(ctx)
        with ctx.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        ctx.close()
    return folder, words


@pytest.fixture
def crawled_server(tmp_path: Path, lived_in_demo: tuple[Path, DataWords]) -> Iterator[str]:
    """A private copy of the lived-in demo, served on a free localhost port."""
    folder = tmp_path / "demo"
    shutil.copytree(lived_in_demo[0], folder)
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    try:
        with running_server(ctx) as url:
            yield url
    finally:
        ctx.close()


@pytest.mark.browser
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("username", "staff"), READERS,
                         ids=[name or "anonymous" for name, _ in READERS])
def test_every_page_and_form_a_reader_reaches(
        chromium: Any, crawled_server: str, lived_in_demo: tuple[Path, DataWords],
        username: str | None, staff: bool, lang: str) -> None:
    from shequ.services.accounts.demo import DEMO_PASSWORD

    report = crawl(chromium, crawled_server, username=username, password=DEMO_PASSWORD,
                   lang=lang, data=lived_in_demo[1], staff=staff, cap=PAGES_PER_READER,
                   seconds=SECONDS_PER_READER)
    keep = os.environ.get("SHEQU_CRAWL_REPORTS")  # a folder to keep every crawl's report in
    if keep:
        Path(keep, f"{username or 'anonymous'}-{lang}.txt").write_text(
            report.describe() + "\n\npages:\n" + "\n".join(report.pages)
            + "\n\nforms sent:\n" + "\n".join(report.forms)
            + "\n\nforms without a certainly bad value:\n"
            + "\n".join(report.unexercised_forms) + "\n", encoding="utf-8")
        Path(keep, f"{username or 'anonymous'}-{lang}.json").write_text(json.dumps(
            {"role": report.role, "lang": lang, "pages": report.pages, "forms": report.forms,
             "unexercised_forms": report.unexercised_forms, "timings": report.timings,
             "failures": [[f.url, f.what] for f in report.failures]},
            ensure_ascii=False, indent=1), encoding="utf-8")
    if report.cut_short:
        warnings.warn(f"the crawl as {report.role} in {lang} ran out of time; not opened: "
                      f"{', '.join(report.cut_short)}", stacklevel=1)
    assert len(report.pages) >= 5, report.describe()
    assert not report.failures, report.describe()


# The crawl's own checks, on texts and pages made to fail them.

def test_chinese_pages_may_hold_only_allowed_latin_words_codes_never() -> None:
    names = DataWords(["演示规划人员（正定县）", "demo_worker"])
    assert language_problems(["每百户 30 m²，见 API 与 HSDS", "N1 指标"], "zh-CN", names) == []
    assert language_problems(["放大 Zoom in"], "zh-CN", names) == [
        "Latin word 'Zoom' in '放大 Zoom in'", "Latin word 'in' in '放大 Zoom in'"]
    assert language_problems(["类型 outdoor_fitness_area"], "zh-CN", names) == [
        "code 'outdoor_fitness_area' in '类型 outdoor_fitness_area'"]
    # a user's name is data, even when it looks like a code
    assert language_problems(["用户 demo_worker"], "zh-CN", names) == []
    assert language_problems(["common.home"], "zh-CN", names) == [
        "message key 'common.home' in 'common.home'", "Latin word 'common' in 'common.home'",
        "Latin word 'home' in 'common.home'"]
    # opening hours are typed in OpenStreetMap's syntax only where records are kept
    assert language_problems(["Mo-Fr 08:00-17:00"], "zh-CN", names, "/upkeep/facilities") == []
    assert language_problems(["Mo-Fr 08:00-17:00"], "zh-CN", names, "/bookings") == [
        "Latin word 'Mo' in 'Mo-Fr 08:00-17:00'", "Latin word 'Fr' in 'Mo-Fr 08:00-17:00'"]


def test_english_pages_hold_han_only_in_names_from_the_database() -> None:
    names = DataWords(["演示规划人员（正定县）", "诸福屯社区居民委员会"])
    assert language_problems(["Signed in: 演示规划人员（正定县）"], "en", names) == []
    # a name cut short on the page is still a name
    assert language_problems(["诸福屯社区…"], "en", names) == []
    assert language_problems(["Population 人/万人"], "en", names) == [
        "Han '人' in 'Population 人/万人'", "Han '万人' in 'Population 人/万人'"]
    assert language_problems(["Name（required）"], "en", names) == [
        "CJK punctuation '（' in 'Name（required）'", "CJK punctuation '）' in 'Name（required）'"]
    assert language_problems(["Status: None"], "en", names) == [
        "empty value 'None' in 'Status: None'"]
    # a key of any catalog, the newer ones too, is a key shown instead of its message
    assert language_problems(["jobs.title", "Saved: reporting.saved"], "en", names) == [
        "message key 'jobs.title' in 'jobs.title'",
        "message key 'reporting.saved' in 'Saved: reporting.saved'"]


def test_pages_are_told_apart_by_path_and_query_but_not_language() -> None:
    assert page_key("http://127.0.0.1:1/a?b=2&lang=en&a=1&msg=x.y") == "/a?a=1&b=2"
    assert page_shape("http://127.0.0.1:1/services/requests/12?page=2&lang=en") == \
        "/services/requests/{id}?page"
    assert page_shape("http://127.0.0.1:1/upkeep?code=130123001001") == "/upkeep?code"


def test_the_language_switch_must_keep_path_and_query() -> None:
    here = "http://127.0.0.1:1/indicators?division=130123000000&indicator=N1&msg=a.b"
    assert switch_problem("/indicators?division=130123000000&indicator=N1&lang=en",
                          here, "zh-CN") is None
    assert switch_problem("/indicators?lang=en", here, "zh-CN") == (
        "language switch '/indicators?lang=en' is not this page "
        "('/indicators?division=130123000000&indicator=N1') in en")
    assert switch_problem("/indicators?division=130123000000&indicator=N1&lang=zh-CN",
                          here, "zh-CN") is not None
    assert switch_problem(None, here, "en") == "no language switch"


BAD_PAGE = """<!doctype html><html lang="{lang}"><head><title>{title}</title>
<link rel="icon" href="data:,"></head><body>
<main><h1>{title}</h1>
<a data-testid="language-switch" href="{switch}" lang="en">English</a>
<p>{words}</p>
<a href="/data">数据</a> <a href="/gone">不存在</a> <a href="/fine?x=1">好的</a>
<a href="/logout">退出</a> <a href="/static/app.css">样式</a>
{more}
</main></body></html>"""


def _bad_site() -> Any:
    """A site with one of each fault the crawl looks for."""
    from fastapi import FastAPI, Form
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    app = FastAPI()
    # A required choice first: a select is not where a bad value is typed; and a field
    # named "action", which hides the form's own action property in the DOM.
    form = ('<form method="post" action="/send#form"><label for="k">种类</label>'
            '<select id="k" name="k" required><option value="a">甲</option></select>'
            '<label for="a">做什么</label>'
            '<select id="a" name="action"><option value="x">办理</option></select>'
            '<label for="n">人数</label><input id="n" name="n" type="number">'
            '<label for="note">备注</label><input id="note" name="note">'
            '<button type="submit">提交</button></form>')

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        return BAD_PAGE.format(
            lang="zh-CN", title="首页", switch="/?lang=en", words="按钮 Zoom in",
            more=form + '<input name="unlabelled">'
                        '<img src="http://127.0.0.2:49151/x.png" alt="图">'
                        '<form method="get" action="/find"><label for="q">搜索</label>'
                        '<input id="q" name="q"><button type="submit">找</button></form>')

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/fine", response_class=HTMLResponse)
    def fine() -> str:
        return BAD_PAGE.format(lang="zh-CN", title="好的", switch="/fine?lang=en",
                               words="正常", more="")

    @app.get("/find", response_class=HTMLResponse)
    def find(q: str = "") -> HTMLResponse:
        # a search that refuses to be sent as it stands
        refusal = '<section data-testid="error-page" data-code="validation">请输入</section>'
        return HTMLResponse(BAD_PAGE.format(lang="zh-CN", title="搜索", switch="/find?q=&lang=en",
                                            words="搜索", more="" if q else refusal),
                            status_code=200 if q else 422)

    @app.get("/data")
    def data() -> JSONResponse:
        return JSONResponse({"a": 1})

    @app.get("/gone", response_class=HTMLResponse)
    def gone() -> HTMLResponse:
        return HTMLResponse(BAD_PAGE.format(lang="zh-CN", title="没有", switch="/gone?lang=en",
                                            words="没有这一页", more=""), status_code=404)

    @app.post("/send", response_class=HTMLResponse)
    def send(k: str = Form(""), action: str = Form(""), n: str = Form(""),
             note: str = Form("")) -> HTMLResponse:
        # refuses the bad number without a word, and forgets the note
        return HTMLResponse(BAD_PAGE.format(lang="zh-CN", title="再填", switch="/send?lang=en",
                                            words="再填一次", more=form), status_code=422)

    return app


@pytest.fixture
def bad_site() -> Iterator[str]:
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(_bad_site(), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.browser
def test_the_crawl_finds_each_fault_of_a_bad_site(chromium: Any, bad_site: str) -> None:
    report = crawl(chromium, bad_site, username=None, password="", lang="zh-CN",
                   data=DataWords([]), staff=False)
    assert report.pages == ["/", "/data", "/gone", "/fine?x=1", "/find?q="]
    assert report.forms == ["/send on /"]
    found = [(f.url, f.what) for f in report.failures]
    assert found == [
        ("/", "axe label (critical): Form elements must have labels — "
              "input[name=\"unlabelled\"]"),
        ("/", "Latin word 'Zoom' in '按钮 Zoom in'"),
        ("/", "Latin word 'in' in '按钮 Zoom in'"),
        ("/", "request to another host: http://127.0.0.2:49151/x.png"),
        ("/", "console error: Failed to load resource: net::ERR_CONNECTION_REFUSED "
              "(http://127.0.0.2:49151/x.png)"),
        ("/", "form /send (bad n='abc'): answered 422 showing no problem"),
        ("/", "form /send (bad n='abc'): field note shows '', typed '77'"),
        ("/data", "not an HTML page: application/json"),
        ("/gone", "a link leads to a 404 page"),
        ("/fine?x=1", "language switch '/fine?lang=en' is not this page ('/fine?x=1') in en"),
        ("/find?q=", "a search form leads to a 422 page validation"),
    ], report.describe()
