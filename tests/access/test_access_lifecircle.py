"""The life-circle evaluator on a hand-computed street, and its community_access table."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shequ.access.lifecircle import evaluate_life_circles, node_table
from shequ.access.models import CommunityAccess
from shequ.access.network import StreetNetwork
from shequ.access.store import load_community_access, store_community_access
from shequ.catalog import Catalog, FacilityType, LifeCircleTier
from shequ.errors import ValidationError

LAT = 39.0
STEP = 100.0 / (111_320.0 * math.cos(math.radians(LAT)))  # 100 m of longitude


def _lon(node: int) -> float:
    return 116.0 + node * STEP


@pytest.fixture(scope="module")
def street() -> StreetNetwork:
    """21 nodes on one street, 100 m apart (node k at k × 100 m)."""
    k = 21
    return StreetNetwork.from_edges(
        node_ids=np.arange(k) + 500, lon=np.array([_lon(i) for i in range(k)]),
        lat=np.full(k, LAT), edge_u=np.arange(k - 1), edge_v=np.arange(1, k),
        length_m=np.full(k - 1, 100.0))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    def ftype(code: str) -> FacilityType:
        return FacilityType(code, code, code, "health", "5min", "places")

    def tier(code: str, area: str, distance: float, required: tuple[str, ...]
             ) -> LifeCircleTier:
        return LifeCircleTier(code, code, code, area, distance / 80, distance, "test",
                              required)

    return Catalog(
        facility_types={"clinic": ftype("clinic"), "shop": ftype("shop")},
        tiers={"near": tier("near", "urban", 300, ("shop",)),
               "far": tier("far", "urban", 1000, ("clinic", "shop")),
               "village": tier("village", "rural", 1200, ("clinic",))},
        walking_speed_m_per_min=80.0)


A, B, C, D = "130123100201", "130123100202", "130123200201", "130123100203"


def _communities() -> pl.DataFrame:
    return pl.DataFrame({
        "division_code": [A, B, C, D],
        "longitude": [_lon(2), _lon(9), _lon(15), _lon(20)],
        "latitude": [LAT] * 4,
        "urban_rural": ["111", "111", "220", "111"],
        "residents": [1000, 500, 300, 100],
        "households": [400, 200, 120, 40],
        "age_60_plus": [200, 100, 90, 10],
        "age_0_2": [30, 10, 5, 1],
        "age_3_5": [20, 10, 5, 1],
    })


def _facilities() -> pl.DataFrame:
    return pl.DataFrame({
        "id": [1, 2, 3],
        "type_code": ["clinic", "shop", "clinic"],
        "longitude": [_lon(0), _lon(10), 120.0],   # the third lies far off the street
        "latitude": [LAT, LAT, LAT],
    })


def _share(result_table: pl.DataFrame, code: str, ftype: str, distance: int) -> tuple[
        float, float | None]:
    row = result_table.filter((pl.col("division_code") == code)
                              & (pl.col("facility_type") == ftype)
                              & (pl.col("distance_m") == distance))
    assert row.height == 1, (code, ftype, distance)
    return row["covered_share"][0], row["nearest_m"][0]


def test_community_access_by_hand(street: StreetNetwork, catalog: Catalog) -> None:
    result = evaluate_life_circles(street, communities=_communities(),
                                   facilities=_facilities(), catalog=catalog)
    table = result.community_access
    # clinic at 0 m, shop at 1000 m; A at 200 m, B 900 m, C 1500 m, D 2000 m; cap 1200 m
    assert _share(table, A, "clinic", 300) == (1.0, 200.0)
    assert _share(table, A, "shop", 300) == (0.0, 800.0)
    assert _share(table, A, "shop", 1000) == (1.0, 800.0)
    assert _share(table, B, "clinic", 1000) == (1.0, 900.0)
    assert _share(table, D, "shop", 1000) == (1.0, 1000.0)   # the tier distance is inclusive
    assert _share(table, D, "clinic", 1000) == (0.0, None)    # 2000 m: beyond the cap
    assert _share(table, C, "clinic", 1200) == (0.0, None)
    assert _share(table, C, "shop", 1200) == (1.0, 500.0)
    # urban communities get the urban distances, rural ones the rural distance
    assert sorted(set(table.filter(pl.col("division_code") == A)["distance_m"])) == [300, 1000]
    assert sorted(set(table.filter(pl.col("division_code") == C)["distance_m"])) == [1200]
    assert table.height == 3 * 2 * 2 + 1 * 2 * 1
    assert result.unsnapped_facilities["id"].to_list() == [3]


def test_tiers_name_what_is_missing(street: StreetNetwork, catalog: Catalog) -> None:
    result = evaluate_life_circles(street, communities=_communities(),
                                   facilities=_facilities(), catalog=catalog)
    rows = {(r["division_code"], r["tier"]): r for r in result.communities.iter_rows(named=True)}
    assert rows[(A, "near")]["missing"] == ["shop"]
    assert rows[(B, "near")]["reached"] == ["shop"]
    assert rows[(A, "far")]["missing"] == []
    assert rows[(D, "far")]["missing"] == ["clinic"]
    assert rows[(D, "far")]["reached"] == ["shop"]
    assert rows[(C, "village")]["missing"] == ["clinic"]
    assert (C, "far") not in rows and (A, "village") not in rows
    assert rows[(A, "far")]["age_60_plus_covered"] == 200
    assert rows[(A, "far")]["age_0_5_covered"] == 50
    assert rows[(D, "far")]["residents_covered"] == 0
    uncovered = result.uncovered("far")["division_code"].to_list()
    assert uncovered == [D]


def test_roll_up_sums_residents_covered(street: StreetNetwork, catalog: Catalog) -> None:
    result = evaluate_life_circles(street, communities=_communities(),
                                   facilities=_facilities(), catalog=catalog)
    divisions = result.divisions
    township = divisions.filter((pl.col("division_code") == "130123100000")
                                & (pl.col("tier") == "far")).row(0, named=True)
    assert township["level"] == 4
    assert township["residents"] == 1600
    assert township["residents_covered"] == 1500
    assert township["communities"] == 3
    assert township["communities_complete"] == 2
    assert township["residents_covered_share"] == pytest.approx(1500 / 1600)
    county = divisions.filter((pl.col("division_code") == "130123000000")
                              & (pl.col("tier") == "near")).row(0, named=True)
    assert county["residents_covered"] == 500  # only B has a shop within 300 m


def test_residence_points_weight_the_share(street: StreetNetwork, catalog: Catalog) -> None:
    residences = pl.DataFrame({
        "division_code": [A, A, B, B],
        "longitude": [_lon(2), _lon(6), _lon(9), 125.0],  # B's second point cannot be snapped
        "latitude": [LAT] * 4,
        "weight": [600.0, 400.0, 450.0, 50.0],
    })
    result = evaluate_life_circles(street, communities=_communities().filter(
        pl.col("division_code").is_in([A, B])), facilities=_facilities(), catalog=catalog,
        residences=residences)
    # A: clinic at 200 m (600 people) and 600 m (400 people)
    assert _share(result.community_access, A, "clinic", 300) == (0.6, 200.0)
    assert _share(result.community_access, A, "clinic", 1000) == (1.0, 200.0)
    # B: the unsnapped point is reported and counts as not covered
    assert _share(result.community_access, B, "shop", 300) == (0.9, 100.0)
    assert result.unsnapped_residences["weight"].to_list() == [50.0]
    far = result.communities.filter((pl.col("division_code") == B)
                                    & (pl.col("tier") == "far")).row(0, named=True)
    assert far["complete_share"] == pytest.approx(0.9)
    assert far["residents_covered"] == pytest.approx(450.0)
    assert far["partial"] == ["clinic", "shop"]


def test_walking_speed_changes_tier_distances(street: StreetNetwork, catalog: Catalog) -> None:
    # 60 m/min: near = 3.75 min → 225 m, far = 12.5 min → 750 m
    result = evaluate_life_circles(street, communities=_communities(),
                                   facilities=_facilities(), catalog=catalog,
                                   walking_speed_m_per_min=60)
    assert result.meta["tiers"] == {"near": 225, "far": 750, "village": 900}
    assert _share(result.community_access, A, "shop", 750) == (0.0, 800.0)


def test_node_table_has_null_beyond_cap(street: StreetNetwork, catalog: Catalog) -> None:
    result = evaluate_life_circles(street, communities=_communities(),
                                   facilities=_facilities(), catalog=catalog)
    nodes = node_table(street, result.types, result.node_distances).sort("id")
    assert nodes["id"].to_list()[:3] == [500, 501, 502]
    clinic = nodes["clinic"].to_list()
    assert clinic[:3] == [0, 100, 200]
    assert clinic[12] == 1200 and clinic[13] is None


def test_unknown_tier_and_missing_columns_are_rejected(street: StreetNetwork,
                                                       catalog: Catalog) -> None:
    with pytest.raises(ValidationError, match="unknown tier"):
        evaluate_life_circles(street, communities=_communities(), facilities=_facilities(),
                              catalog=catalog, tiers=["15min"])
    with pytest.raises(ValidationError, match="missing column"):
        evaluate_life_circles(street, communities=_communities().drop("latitude"),
                              facilities=_facilities(), catalog=catalog)


def test_store_community_access_replaces_that_years_rows_of_the_same_communities(
        sessions: sessionmaker[Session]) -> None:
    first = pl.DataFrame({"division_code": [A, A, B], "facility_type": ["x", "y", "x"],
                          "distance_m": [300, 300, 300], "covered_share": [1.0, 0.0, 0.5],
                          "nearest_m": [120.0, None, 250.0]})
    with sessions() as session, session.begin():
        assert store_community_access(session, first, period=2024) == 3
        assert store_community_access(session, first.head(1), period=2023) == 1
    second = pl.DataFrame({"division_code": [A], "facility_type": ["x"], "distance_m": [500],
                           "covered_share": [0.25], "nearest_m": [None]},
                          schema_overrides={"nearest_m": pl.Float64})
    with sessions() as session, session.begin():
        store_community_access(session, second, period=2024)
    with sessions() as session:
        rows = session.scalars(select(CommunityAccess).order_by(
            CommunityAccess.period, CommunityAccess.division_code,
            CommunityAccess.distance_m)).all()
        assert [(r.period, r.division_code, r.facility_type, r.distance_m, r.covered_share,
                 r.nearest_m) for r in rows] == [
            (2023, A, "x", 300, 1.0, 120.0),  # another year: untouched
            (2024, A, "x", 500, 0.25, None), (2024, B, "x", 300, 0.5, 250.0)]
        stamp = rows[0].computed_at
        assert stamp.tzinfo is not None or stamp <= dt.datetime.now(dt.UTC).replace(tzinfo=None)
        assert load_community_access(session)["period"].unique().to_list() == [2024]
        older = load_community_access(session, period=2023)
        assert older.select("division_code", "covered_share").rows() == [(A, 1.0)]


def test_store_rejects_shares_outside_zero_one(sessions: sessionmaker[Session]) -> None:
    bad = pl.DataFrame({"division_code": [A], "facility_type": ["x"], "distance_m": [300],
                        "covered_share": [1.5], "nearest_m": [1.0]})
    with sessions() as session, pytest.raises(ValidationError, match=r"0\.\.1"):
        store_community_access(session, bad, period=2024)
