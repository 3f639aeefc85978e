"""The life-circle page on the divisions of another date: after a year of changes to the
demo county, the figures of 新安镇's villages on the hierarchy of 2023-12-31 (before the
merge and the split) are today's carried back through the links — the split-off village's
residents return to the village it came from, the merged village's stay with the unit
that continues its code — so the town's totals are unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shequ.cli import app
from shequ.context import Context
from shequ.settings import Settings
from tests.registry.change_files import DEMO_CHANGES, write

TOWN = "130123102000"
MERGED, GONE, SPLIT, SPLIT_OFF = ("130123102204", "130123102205", "130123102206",
                                  "130123102230")
BEFORE = "2023-12-31"


@pytest.fixture
def client(demo_settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    from shequ.app import create_app

    path = write(tmp_path, DEMO_CHANGES, "changes.csv")
    applied = CliRunner().invoke(app, ["hierarchy", "change", "apply", str(path),
                                       "--data-dir", str(demo_settings.data_dir)])
    assert applied.exit_code == 0, applied.output
    ctx = Context.open(demo_settings)
    with TestClient(create_app(ctx)) as test_client:
        yield test_client
    ctx.close()


def points(html: str) -> dict[str, dict[str, Any]]:
    block = html.split('<script id="access-data" type="application/json">')[1]
    data = json.loads(block.split("</script>", maxsplit=1)[0])
    return {p["code"]: p for p in data["points"]}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_town_on_the_hierarchy_before_the_changes(client: TestClient, lang: str) -> None:
    today = client.get("/access", params={"division": TOWN, "tier": "village", "lang": lang})
    assert today.status_code == 200, today.text
    now = points(today.text)
    assert MERGED in now and SPLIT_OFF in now and GONE not in now
    back = client.get("/access", params={"division": TOWN, "tier": "village",
                                         "hierarchy": BEFORE, "lang": lang})
    assert back.status_code == 200, back.text
    then = points(back.text)
    assert SPLIT_OFF not in then
    # the split undone: the part's residents return to the unit it came from
    assert then[SPLIT]["residents"] == pytest.approx(now[SPLIT]["residents"]
                                                     + now[SPLIT_OFF]["residents"])
    # the merge undone: the successor continues 204's code, so its residents stay there
    assert then[MERGED]["residents"] == pytest.approx(now[MERGED]["residents"])
    assert GONE not in then  # nothing of today's is 205's any more
    # covered share = residents covered ÷ residents of what was mapped to the unit
    covered = (now[SPLIT]["residents"] * now[SPLIT]["share"]
               + now[SPLIT_OFF]["residents"] * now[SPLIT_OFF]["share"])
    assert then[SPLIT]["share"] == pytest.approx(covered / then[SPLIT]["residents"])
    assert set(then[SPLIT]["missing"]) == set(now[SPLIT]["missing"]) | set(
        now[SPLIT_OFF]["missing"])
    # the town's totals are the same on both hierarchies
    assert sum(p["residents"] for p in then.values()) == pytest.approx(
        sum(p["residents"] for p in now.values()))
    # the choice stays in the form and in the links down the hierarchy
    assert 'name="hierarchy" value="2023-12-31"' in back.text
    assert f"division={SPLIT}&amp;tier=village&amp;hierarchy=2023-12-31" in back.text
    help_words = {"zh-CN": "留空：按今天的区划", "en": "empty: today&#39;s divisions"}[lang]
    assert help_words in back.text
