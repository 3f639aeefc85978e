"""The browser libraries Shequ serves itself, its icon, and the charts drawn with ECharts.

ECharts and axe-core are copied from npm (frontend/vendor.py) at the lockfile's versions and
served under /static/vendor with their licences; /favicon.ico is a real ICO.  The charts
macro (templates/charts.html) is rendered by the real Jinja environment: its tables are
checked value by value, and in Debian Chromium a page of three charts under Shequ's
Content-Security-Policy is drawn from local files only, honours reduced motion and passes
axe-core.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from shequ.context import Context
from shequ.i18n import normalise_language, translate
from shequ.settings import Settings
from shequ.web.page import templates
from tests.web.axe import assert_no_serious_axe_violations, axe_violations

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "shequ" / "web" / "static"
VENDOR = STATIC / "vendor"
LOCK = json.loads((ROOT / "frontend" / "package-lock.json").read_text(encoding="utf-8"))


def _vendor_script() -> ModuleType:
    name = "shequ_frontend_vendor"  # frontend/vendor.py is a script, not in the package
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "frontend" / "vendor.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- the copies and the lockfile

def test_the_lockfile_pins_exactly_the_versions_package_json_names() -> None:
    declared = json.loads((ROOT / "frontend" / "package.json").read_text())["dependencies"]
    assert declared == {"axe-core": "4.14.1", "echarts": "6.1.0", "workbox-core": "7.4.1",
                        "workbox-precaching": "7.4.1", "workbox-routing": "7.4.1",
                        "workbox-strategies": "7.4.1"}
    for name, version in declared.items():
        locked = LOCK["packages"][f"node_modules/{name}"]
        assert locked["version"] == version
        assert locked["integrity"].startswith("sha512-")


def test_the_committed_copies_match_the_lockfile() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "frontend" / "vendor.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "echarts 6.1.0" in done.stdout and "axe-core 4.14.1" in done.stdout
    manifest = json.loads((VENDOR / "echarts" / "vendor.json").read_text())
    assert manifest["packages"]["echarts"] == {
        "version": "6.1.0",
        "integrity": LOCK["packages"]["node_modules/echarts"]["integrity"]}
    recorded = manifest["files"]["echarts.min.js"]
    assert recorded["from"] == "echarts/dist/echarts.min.js"
    bundle = (VENDOR / "echarts" / "echarts.min.js").read_bytes()
    assert hashlib.sha256(bundle).hexdigest() == recorded["sha256"]
    assert (VENDOR / "axe-core" / "axe.min.js").read_text().startswith("/*! axe v4.14.1")


def test_the_check_refuses_an_edited_copy_a_stray_file_and_another_version(tmp_path: Path
                                                                          ) -> None:
    vendor = _vendor_script()
    copy = tmp_path / "vendor"
    shutil.copytree(VENDOR, copy)
    assert vendor.check(vendor=copy) == []
    with (copy / "echarts" / "echarts.min.js").open("ab") as bundle:
        bundle.write(b"\n// edited by hand\n")
    (copy / "axe-core" / "extra.js").write_text("// not from npm\n")
    locked = vendor.locked_packages()
    locked["axe-core"] = {**locked["axe-core"], "version": "4.15.0"}
    problems = vendor.check(locked, vendor=copy)
    assert "echarts/echarts.min.js differs from the copy npm installed" in problems
    assert "axe-core: files not from npm: ['extra.js']" in problems
    assert any(p.startswith("axe-core: copied from") and "4.15.0" in p for p in problems)
    assert len(problems) == 3


# ---------------------------------------------------------------- served by the real app

@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    """An empty migrated SQLite registry: the pages here read nothing from it."""
    context = Context.open(Settings(data_dir=tmp_path_factory.mktemp("vendor"),
                                    environment="test"))
    yield context
    context.close()


@pytest.fixture(scope="module")
def client(ctx: Context) -> Iterator[TestClient]:
    """The real app."""
    from shequ.app import create_app

    with TestClient(create_app(ctx)) as test_client:
        yield test_client


@pytest.mark.parametrize("path, media_type, starts", [
    ("/static/vendor/echarts/echarts.min.js", "text/javascript", b"/*\n* Licensed to the Apache"),
    ("/static/vendor/echarts/LICENSE.txt", "text/plain", b"Apache License"),
    ("/static/vendor/echarts/NOTICE.txt", "text/plain", b"Apache ECharts\nCopyright 2017-"),
    ("/static/vendor/echarts/LICENSE-zrender.txt", "text/plain", b"BSD 3-Clause License"),
    ("/static/vendor/axe-core/axe.min.js", "text/javascript", b"/*! axe v4.14.1"),
    ("/static/vendor/axe-core/LICENSE.txt", "text/plain", b"Mozilla Public License, version 2.0"),
    ("/static/favicon.svg", "image/svg+xml", b"<svg"),
])
def test_vendored_files_and_licences_are_served_with_their_type(
        client: TestClient, path: str, media_type: str, starts: bytes) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.content.lstrip().startswith(starts)
    assert response.content == (STATIC / path.removeprefix("/static/")).read_bytes()


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_favicon_ico_holds_the_mark_at_16_32_and_48_pixels(client: TestClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/vnd.microsoft.icon"
    ico = response.content
    assert struct.unpack("<HHH", ico[:6]) == (0, 1, 3)  # reserved, icon, three images
    sizes = []
    for index in range(3):
        width, height, _, _, planes, bits, length, offset = struct.unpack(
            "<BBBBHHII", ico[6 + 16 * index:22 + 16 * index])
        assert (planes, bits) == (1, 32)
        assert _png_size(ico[offset:offset + length]) == (width, height)
        sizes.append(width)
    assert sizes == [16, 32, 48]
    assert offset + length == len(ico)


# ---------------------------------------------------------------- the macro's tables

class _Cells(HTMLParser):
    """The text of each table row's cells, and the attributes and text of each element
    with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.texts: dict[str, str] = {}
        self._cell: list[str] | None = None
        self._open: list[tuple[str, str | None]] = []  # the elements the parser is inside

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        element_id = found.get("id")
        if element_id:
            self.by_id[element_id] = found
            self.texts[element_id] = ""
        self._open.append((tag, element_id))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("th", "td"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for _, element_id in self._open:
            if element_id:
                self.texts[element_id] += data


def render_chart(kind: str, data: dict[str, Any], *, lang: str = "zh-CN",
                 caption: str = "图", **page: Any) -> str:
    source = ('{% from "charts.html" import chart with context %}'
              '{{ chart(id, kind, data, caption) }}')
    return templates.env.from_string(source).render(
        t=lambda key, **values: translate(lang, key, **values),
        id="c", kind=kind, data=data, caption=caption, **page)


def _parsed(html: str) -> _Cells:
    cells = _Cells()
    cells.feed(html)
    return cells


BEDS = {"axis": "社区", "value_name": "每千名老人养老床位", "unit": "张", "digits": 1,
        "direction": ">=", "target": {"name": "目标", "value": 35},
        "items": [{"name": "甲社区", "value": 30.24}, {"name": "乙社区", "value": None},
                  {"name": "丙社区", "value": 41}, {"name": "丁社区", "value": 1234.4}]}


def test_a_ranking_table_lists_best_first_missing_last_with_its_target() -> None:
    cells = _parsed(render_chart("ranking", BEDS, caption="养老床位"))
    assert cells.rows == [["社区", "每千名老人养老床位"], ["丁社区", "1,234.4"],
                          ["丙社区", "41.0"], ["甲社区", "30.2"], ["乙社区", "—"],
                          ["目标", "35.0"]]
    chart = cells.by_id["c"]
    assert (chart["data-chart"], chart["data-chart-data"]) == ("ranking", "c-data")
    assert (chart["role"], chart["aria-label"]) == ("img", "养老床位")
    assert json.loads(cells.texts["c-data"]) == BEDS
    assert cells.texts["c-figure"].strip().startswith("养老床位 (张)")


def test_a_ranking_where_lower_is_better_lists_the_lowest_first() -> None:
    waits = {**BEDS, "direction": "<=", "digits": 0}
    rows = _parsed(render_chart("ranking", waits)).rows
    assert [row[0] for row in rows[1:5]] == ["甲社区", "丙社区", "丁社区", "乙社区"]
    assert rows[1][1] == "30" and rows[3][1] == "1,234"


def test_a_trend_table_has_a_row_per_period_and_a_column_per_series() -> None:
    trend = {"axis": "年份", "categories": ["2021", "2022", "2023"], "digits": 2,
             "series": [{"name": "正定县", "values": [1.5, None, 2.125]},
                        {"name": "全省", "values": [1, 1.25, 1.5]}],
             "target": {"name": "2025 年目标", "value": 2}}
    rows = _parsed(render_chart("trend", trend)).rows
    assert rows == [["年份", "正定县", "全省"], ["2021", "1.50", "1.00"],
                    ["2022", "—", "1.25"], ["2023", "2.12", "1.50"], ["2025 年目标", "2.00"]]


def test_the_table_summary_is_translated_and_empty_data_say_so() -> None:
    empty = {"axis": "年份", "categories": [], "series": []}
    assert "暂无数据" in render_chart("trend", empty)
    assert 'data-chart="trend"' not in render_chart("trend", empty)
    assert "No data" in render_chart("comparison", empty, lang="en")
    assert "<summary>Data table</summary>" in render_chart("ranking", BEDS, lang="en")
    assert "<summary>数据表</summary>" in render_chart("ranking", BEDS)


def test_numbers_go_through_the_pages_own_formatter_when_it_has_one() -> None:
    html = render_chart("ranking", BEDS, number=lambda value, digits: f"{value}|{digits}")
    assert [row[1] for row in _parsed(html).rows[1:]] == [
        "1234.4|1", "41|1", "30.24|1", "—", "35|1"]


def test_names_cannot_close_the_data_block_or_add_markup() -> None:
    hostile = "</script><script>window.__xss=1</script><b>"
    data = {**BEDS, "items": [{"name": hostile, "value": 1}]}
    html = render_chart("ranking", data, caption=hostile)
    assert "<script>window.__xss" not in html and "<b>" not in html
    block = re.search(r'<script type="application/json" id="c-data">(.*?)</script>', html,
                      re.DOTALL)
    assert block is not None
    assert json.loads(block.group(1))["items"][0]["name"] == hostile


# ---------------------------------------------------------------- in a real browser

TREND = {"axis": "年份", "categories": ["2021", "2022", "2023", "2024"], "unit": "张/千人",
         "series": [{"name": "正定县", "values": [28.5, 30.0, None, 33.5]}],
         "target": {"name": "2025 年目标", "value": 35}}
COMPARISON = {"axis": "指标", "categories": ["15 分钟覆盖率", "10 分钟覆盖率"], "unit": "%",
              "series": [{"name": "现状", "values": [62.5, 48.0]},
                         {"name": "方案一", "values": [81.0, 66.5]}]}

PAGE = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>Charts · Shequ</title>
<link rel="stylesheet" href="/static/shequ.css"></head>
<body><main><h1>Charts</h1>
{% from "charts.html" import chart, chart_scripts with context %}
{{ chart("trend", "trend", trend, "床位趋势") }}
{{ chart("ranking", "ranking", ranking, "各社区养老床位") }}
{{ chart("comparison", "comparison", comparison, "方案比较") }}
</main>{{ chart_scripts() }}</body></html>"""


def chart_app(ctx: Context) -> FastAPI:
    """The real app (its static files, security headers and Jinja environment) with a
    test page of three charts at /test/charts."""
    from shequ.app import create_app

    app = create_app(ctx)

    def charts(request: Request) -> HTMLResponse:
        lang = normalise_language(request.query_params.get("lang"))
        html = templates.env.from_string(PAGE).render(
            lang=lang, t=lambda key, **values: translate(lang, key, **values),
            trend=TREND, ranking=BEDS, comparison=COMPARISON)
        return HTMLResponse(html)

    app.add_api_route("/test/charts", charts, response_class=HTMLResponse,
                      include_in_schema=False)
    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a free localhost port in a thread."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def chart_server(ctx: Context) -> Iterator[str]:
    with serving(chart_app(ctx)) as url:
        yield url


# Violations of the page's policy and script errors, recorded from before the page loads.
WATCH = """window.__problems = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__problems.push(e.violatedDirective + " " + e.blockedURI));
window.addEventListener("error", (e) => window.__problems.push(String(e.message)));"""


def _open(chromium: Any, url: str, **options: Any) -> tuple[Any, Any, list[str]]:
    context = chromium.new_context(**options)
    context.add_init_script(WATCH)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: requested.append("failed " + request.url))
    page.goto(url)
    page.wait_for_selector("[data-chart-drawn='comparison']")
    return context, page, requested


def _option(page: Any, chart_id: str) -> dict[str, Any]:
    option: dict[str, Any] = page.evaluate(
        """(id) => { const o = echarts.getInstanceByDom(document.getElementById(id)).getOption();
                     return JSON.parse(JSON.stringify(o, (k, v) =>
                       typeof v === "function" ? undefined : v)); }""", chart_id)
    return option


@pytest.mark.browser
def test_charts_are_drawn_from_local_files_under_the_pages_policy(chromium: Any,
                                                                  chart_server: str) -> None:
    context, page, requested = _open(chromium, chart_server + "/test/charts")
    for chart_id in ("trend", "ranking", "comparison"):
        assert page.locator(f"#{chart_id} svg path").count() > 5, chart_id
    trend_text = page.locator("#trend svg").text_content() or ""
    assert "2025 年目标 35" in trend_text and "2023" in trend_text
    ranking = _option(page, "ranking")
    assert ranking["yAxis"][0]["data"] == ["丁社区", "丙社区", "甲社区", "乙社区"]
    colours = [bar["itemStyle"]["color"] for bar in ranking["series"][0]["data"]]
    assert colours == ["#1d6fb8", "#1d6fb8", "#b7791f", "#1d6fb8"]  # 甲 misses 35
    assert ranking["series"][0]["markLine"]["data"][0]["xAxis"] == 35
    comparison = _option(page, "comparison")
    assert [s["name"] for s in comparison["series"]] == ["现状", "方案一"]
    assert [s["type"] for s in comparison["series"]] == ["bar", "bar"]
    assert comparison["xAxis"][0]["data"] == ["15 分钟覆盖率", "10 分钟覆盖率"]
    assert ranking["animation"] is True and comparison["animation"] is True
    page.hover("#ranking svg", position={"x": 200, "y": 40})
    assert page.evaluate("window.__problems") == []
    base = chart_server + "/"
    assert requested and all(url.startswith(base) for url in requested), requested
    assert {url.removeprefix(base) for url in requested} == {
        "test/charts", "static/shequ.css", "static/vendor/echarts/echarts.min.js",
        "static/charts.js"}
    assert_no_serious_axe_violations(page)
    page.get_by_text("数据表").first.click()  # the trend's table, opened
    assert page.locator("#trend-table tbody tr").nth(2).inner_text().split() == ["2023", "—"]
    assert_no_serious_axe_violations(page)
    context.close()


@pytest.mark.browser
def test_charts_stay_still_for_readers_who_ask_for_less_motion(chromium: Any,
                                                               chart_server: str) -> None:
    context, page, _ = _open(chromium, chart_server + "/test/charts?lang=en",
                             reduced_motion="reduce")
    for chart_id in ("trend", "ranking", "comparison"):
        assert _option(page, chart_id)["animation"] is False, chart_id
    assert page.locator("summary").first.inner_text() == "Data table"
    context.close()


@pytest.mark.browser
def test_the_axe_helper_fails_on_a_serious_violation_and_names_it(chromium: Any,
                                                                   chart_server: str) -> None:
    context, page, _ = _open(chromium, chart_server + "/test/charts")
    page.evaluate("""() => { const img = document.createElement("img");
                             img.src = "/static/favicon.svg"; img.id = "no-alt";
                             document.querySelector("main").appendChild(img); }""")
    found = axe_violations(page)
    assert [(v["id"], v["impact"]) for v in found] == [("image-alt", "critical")]
    with pytest.raises(AssertionError, match=r"image-alt \(critical\)[^\n]*\n    #no-alt"):
        assert_no_serious_axe_violations(page)
    context.close()
