"""The violations list is reached from the workbench (while a round concerns the
jurisdiction) and from each round's overview (the list of that round), in both languages.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from shequ.services.bookings.clock import local_now
from tests.services.test_work import _sign_in

TODAY = local_now().date()


def _link(page: str) -> tuple[str, str]:
    found = re.search(r'<a href="([^"]*)" data-testid="violations-link">([^<]*)</a>', page)
    assert found is not None
    return html.unescape(found.group(1)), found.group(2)


def test_the_workbench_and_the_overview_link_the_violations_list(
        client: TestClient, auth: Callable[[str], dict[str, str]]) -> None:
    _sign_in(client, "officer_dhm")
    before = client.get("/work", params={"lang": "en"}).text
    assert 'data-testid="violations-link"' not in before  # no round yet
    opened = client.post("/api/v1/reporting/rounds", headers=auth("planner_cn"), json={
        "name": "2025 年度社区基础数据", "period": 2025,
        "opens_on": TODAY.replace(day=1).isoformat(),
        "due_on": (TODAY + dt.timedelta(days=30)).isoformat(), "datasets": ["population"]})
    round_id = opened.json()["id"]
    assert _link(client.get("/work", params={"lang": "en"}).text) == (
        "/reporting/violations?lang=en",
        "Validation violations of the reporting rounds, by area, rule and importance")
    assert _link(client.get("/work", params={"lang": "zh-CN"}).text) == (
        "/reporting/violations?lang=zh-CN", "填报审核问题清单（按地区、规则、严重程度筛选）")
    overview = client.get(f"/reporting/rounds/{round_id}", params={"lang": "zh-CN"})
    href, words = _link(overview.text)
    assert (href, words) == (f"/reporting/violations?round={round_id}&lang=zh-CN",
                             "本轮填报审核问题清单（按地区、规则、严重程度筛选）")
    listed = client.get(href)
    assert listed.status_code == 200
    assert re.search(rf'<option value="{round_id}"[^>]*selected', listed.text)
