"""Indicator values that rest on figures no sign-off holds: marked on the indicator page,
and left out of the assessment when it uses approved figures only
(``assessment_approved_only`` in ``reporting.toml``, tested both ways), on the indicators'
hand-built region.

Hand-checked fixture: the run of 2024 over :mod:`tests.indicators.fixture`; one reporting
form of 2024, community C1's (一号社区, street 建北街道), was handed in and its figures
written into the registry at submission, with no sign-off yet.  So:

- setting on (the packaged default): 建北街道 (level 4) and C1 (level 5) get no score and
  are listed as withheld with one form waiting; the other streets are scored exactly as
  before and ranked among themselves (peers are the whole level), so each one ranked
  below 建北街道 moves up one place;
- setting off: every division is scored, as if no form existed.

The level-4 scores (packaged scheme, peers = the whole level; a part with no data or no
target leaves the weights that count):

    文艺路街道 (Hunan)  100 × (15·1 + 15·40/43 + 10·1 + 5·0 + 15·1) / 60 − 1 penalty
                      = 100 × 53.953 / 60 − 1 = 88.922
    建北街道           100 × (15·0.5 + 15·1 + 10·0.9375 + 5·0.5 + 15·16/18) / 60
                      = 100 × 47.708 / 60 = 79.514
    西营镇             100 × (15·1 + 20·(33.33/80) + 15·(16.06/30) + 10·(59.09/60)
                      + 5·0 + 15·1) / 80 − 2 penalties = 68.264

  so off: ranks 1, 2, 3 of 3; on: 文艺路街道 1 and 西营镇 2 of 2;
- once the last level signs C1's form off, nothing is withheld;
- the indicator page of the county (长安区, which holds C1) marks each of its values ※
  with the legend naming 1 community, and among its children 建北街道's values only;
  the page of 西营镇 (no form) has neither mark nor legend.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from shequ.context import Context
from shequ.indicators.store import compute_for_registry
from shequ.services.assessment import assessment_scores
from shequ.services.reporting.models import (
    FormStatus,
    Frequency,
    ReportingRound,
    RoundForm,
)
from shequ.services.reporting.service import reporting_config
from shequ.settings import Settings
from tests.indicators import fixture as f
from tests.indicators.test_page import visible

WRITTEN = dt.datetime(2025, 1, 20, 10, 0)  # noqa: DTZ001 (China wall clock, naive)


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    """The hand-built region, its run of 2024 and C1's form applied without sign-off."""
    context = Context.open(Settings(data_dir=tmp_path / "data", database_url=db_url,
                                    environment="test"), migrate=False)
    with context.sessions() as db, db.begin():
        f.store(db)
        round_ = ReportingRound(name="2024 年度", period=2024,
                                frequency=Frequency.ANNUAL.value,
                                opens_on=dt.date(2025, 1, 1), due_on=dt.date(2025, 1, 31),
                                created_at=WRITTEN)
        db.add(round_)
        db.flush()
        db.add(RoundForm(round_id=round_.id, division_code=f.C1,
                         status=FormStatus.SUBMITTED.value, approved_level=None,
                         first_submitted_at=WRITTEN, submitted_at=WRITTEN,
                         updated_at=WRITTEN, applied_at=WRITTEN))
    compute_for_registry(context, as_of=dt.date(2024, 12, 31))
    yield context
    context.close()


def _table(session: Session, level: int, approved_only: bool | None
           ) -> tuple[dict[str, tuple[float, int, int]], dict[str, tuple[str, int]]]:
    found = assessment_scores(session, level=level, approved_only=approved_only)
    return ({s.division_code: (s.score, s.rank, s.peers) for s in found.scores},
            found.withheld)


def test_the_packaged_setting_is_approved_figures_only() -> None:
    assert reporting_config().assessment_approved_only is True


def test_on_the_division_resting_on_unapproved_figures_is_withheld_and_others_rank_alone(
        ctx: Context) -> None:
    with ctx.sessions() as session:
        every, none_withheld = _table(session, 4, approved_only=False)
        approved, withheld = _table(session, 4, approved_only=None)  # the setting: on
    assert none_withheld == {}
    assert every == {"430102001000": (88.922481, 1, 3),
                     f.STREET: (79.513889, 2, 3),
                     f.TOWN: (68.263769, 3, 3)}
    assert withheld == {f.STREET: ("建北街道", 1)}
    assert approved == {"430102001000": (88.922481, 1, 2),
                        f.TOWN: (68.263769, 2, 2)}
    # the others' scores do not move; ranks close up among two peers
    for code, (score, rank, peers) in approved.items():
        assert score == every[code][0]
        assert peers == 2
        assert rank == every[code][1] - (every[f.STREET][1] < every[code][1])
        assert peers == every[code][2] - 1


def test_at_the_community_level_only_the_community_itself_is_withheld(
        ctx: Context) -> None:
    with ctx.sessions() as session:
        every, _ = _table(session, 5, approved_only=False)
        approved, withheld = _table(session, 5, approved_only=True)
    assert withheld == {f.C1: ("一号社区", 1)}
    assert set(approved) == set(every) - {f.C1}
    assert all(approved[c][0] == every[c][0] for c in approved)


def test_once_the_last_level_signs_off_nothing_is_withheld(ctx: Context) -> None:
    last = reporting_config().last_level
    with ctx.sessions() as session, session.begin():
        form = session.query(RoundForm).one()
        form.approved_level, form.status = last, FormStatus.APPROVED.value
    with ctx.sessions() as session:
        approved, withheld = _table(session, 4, approved_only=True)
        every, _ = _table(session, 4, approved_only=False)
    assert withheld == {}
    assert approved == every


def test_the_page_and_the_api_say_which_scores_wait_for_sign_off(ctx: Context) -> None:
    from shequ.app import create_app

    with TestClient(create_app(ctx)) as client:
        page = client.get("/indicators/assessment", params={"level": "4", "lang": "en"})
        zh = client.get("/indicators/assessment", params={"level": "4", "lang": "zh-CN"})
        api = client.get("/api/v1/indicators/assessment", params={"level": 4}).json()
    assert page.status_code == 200
    assert page.text.count('data-testid="score"') == 2
    assert "Not scored: figures awaiting sign-off" in page.text
    assert f'<li data-division="{f.STREET}">建北街道' in page.text
    assert "1 community form(s) not signed off" in page.text
    assert "暂不计分：数据待审核" in zh.text
    assert "1 个社区（村）报表未审核" in zh.text
    assert [(r["division_code"], r["score"], r.get("withheld")) for r in api][-1] == (
        f.STREET, None, {"unapproved_forms": 1})
    assert len(api) == 3


def _marks(html: str, table: str) -> int:
    part = html.split(f'data-testid="{table}"', 1)[1].split("</table>", 1)[0]
    return part.count('data-testid="unapproved-mark"')


def test_the_indicator_page_marks_values_resting_on_unapproved_figures(
        ctx: Context) -> None:
    from shequ.app import create_app

    with TestClient(create_app(ctx)) as client:
        en = client.get("/indicators", params={"division": f.COUNTY, "indicator": "N1",
                                               "lang": "en"}).text
        zh = client.get("/indicators", params={"division": f.COUNTY, "indicator": "N1",
                                               "lang": "zh-CN"}).text
        town = client.get("/indicators", params={"division": f.TOWN, "lang": "en"}).text
    table = en.split('data-testid="indicator-table"', 1)[1].split("</table>", 1)[0]
    shown = [cell for cell in re.findall(r'data-testid="value">(.*?)</td>', table, re.S)
             if not visible(cell).startswith("—")]
    assert shown and _marks(en, "indicator-table") == len(shown)
    assert all("※" in visible(cell) for cell in shown)
    assert ("※ Values marked ※ rest on figures not yet signed off: the registry's figures "
            "of 1 communities or villages") in visible(en)
    assert 'title="Rests on figures not yet signed off"' in en
    children = en.split('data-testid="children-table"', 1)[1].split("</table>", 1)[0]
    rows = dict(re.findall(r'<tr data-code="(\d+)">(.*?)</tr>', children, re.S))
    assert set(rows) == {f.STREET, f.TOWN}
    assert "unapproved-mark" in rows[f.STREET]
    assert "unapproved-mark" not in rows[f.TOWN]
    assert "标有 ※ 的数值依据尚未审核确认的数据：登记库中有 1 个社区（村）" in visible(zh)
    assert 'title="依据尚未审核确认的数据"' in zh
    assert "unapproved-mark" not in town
    assert "unapproved-legend" not in town
