"""Short boards held by the app: the cached answer is the fresh one, and a new run, an
edited population row or (after the time limit) a renamed division is seen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from shequ.app import create_app
from shequ.context import Context
from shequ.indicators.definitions import load_indicator_catalog
from shequ.indicators.store import compute_for_registry, latest_run
from shequ.indicators.views import (
    ShortBoardCache,
    latest_period,
    place_of,
    unit_short_boards,
)
from shequ.registry.models import Division, Facility, Population
from shequ.settings import Settings
from tests.indicators import fixture as f

BOARDS = "/api/v1/indicators/short-boards"


@pytest.fixture
def ctx(db_url: str, tmp_path: Path) -> Iterator[Context]:
    context = Context.open(Settings(data_dir=tmp_path, database_url=db_url,
                                    environment="test"), migrate=False)
    with context.sessions() as session, session.begin():
        f.store(session)
    compute_for_registry(context, as_of=dt.date(2024, 12, 31))
    yield context
    context.close()


def fresh(ctx: Context, *, indicators: list[str] | None = None,
          limit: int | None = 100) -> list[dict[str, Any]]:
    """The board computed now, without any cache."""
    with ctx.sessions() as session:
        run = latest_run(session)
        place = place_of(session, f.COUNTY, as_of=run.as_of)
        return unit_short_boards(session, load_indicator_catalog(ctx.settings.catalog_dir),
                                 place, run=run, period=latest_period(run),
                                 indicators=indicators, limit=limit).to_dicts()


def ranked(board: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    return [(row["division_code"], row["rank"], row["people"]) for row in board]


def test_cached_answer_equals_fresh_and_sees_edits_and_runs(ctx: Context) -> None:
    with TestClient(create_app(ctx)) as client:
        cache: ShortBoardCache = client.app.state.short_boards  # type: ignore[attr-defined]
        first = client.get(BOARDS, params={"ou": f.COUNTY, "dx": "N2"}).json()
        # by hand: no village facility in use in V2 (900 residents) nor V3 (700), gap 80
        assert ranked(first) == [(f.V2, 1, 900.0), (f.V3, 2, 700.0)]
        assert first == fresh(ctx, indicators=["N2"])
        assert len(cache) == 1
        assert client.get(BOARDS, params={"ou": f.COUNTY, "dx": "N2"}).json() == first
        assert len(cache) == 1  # answered from the cache
        every = client.get(BOARDS, params={"ou": f.COUNTY}).json()
        assert every == fresh(ctx) and len(every) > len(first)
        assert len(cache) == 2

        # a population edit: V2 has 500 residents now, so V3 (700) is the worse short board
        with ctx.sessions() as session, session.begin():
            session.execute(update(Population).where(
                Population.division_code == f.V2, Population.period == 2024)
                .values(residents=500))
        edited = client.get(BOARDS, params={"ou": f.COUNTY, "dx": "N2"}).json()
        assert ranked(edited) == [(f.V3, 1, 700.0), (f.V2, 2, 500.0)]
        assert edited == fresh(ctx, indicators=["N2"])

        # a new run: V2's planned facility is in service, so only V3 still fails N2
        with ctx.sessions() as session, session.begin():
            session.execute(update(Facility).where(Facility.division_code == f.V2)
                            .values(status="in_service", opened_on=dt.date(2024, 1, 1)))
        compute_for_registry(ctx, as_of=dt.date(2024, 12, 31))
        rerun = client.get(BOARDS, params={"ou": f.COUNTY, "dx": "N2"}).json()
        assert ranked(rerun) == [(f.V3, 1, 700.0)]
        assert rerun == fresh(ctx, indicators=["N2"])


def test_a_rename_shows_after_the_time_limit_and_the_cache_is_bounded(ctx: Context) -> None:
    now = [0.0]
    cache = ShortBoardCache(size=2, ttl=30.0, clock=lambda: now[0])
    catalog = load_indicator_catalog(ctx.settings.catalog_dir)

    def names(limit: int | None = None) -> list[str]:
        with ctx.sessions() as session:
            run = latest_run(session)
            place = place_of(session, f.COUNTY, as_of=run.as_of)
            board = cache.short_boards(session, catalog, place, run=run,
                                       period=latest_period(run), indicators=["N2"],
                                       limit=limit)
            return list(board["name"])

    assert names() == ["西村", "南村"]
    with ctx.sessions() as session, session.begin():
        session.execute(update(Division).where(Division.code == f.V3).values(name="南庄村"))
    # a rename in place changes neither marker aggregate: the entry holds until its limit
    now[0] = 29.0
    assert names() == ["西村", "南村"]
    now[0] = 30.5
    assert names() == ["西村", "南庄村"]
    assert names(limit=1) == ["西村"]
    assert names(limit=2) == ["西村", "南庄村"]
    assert len(cache) == 2  # the oldest of three boards was dropped
