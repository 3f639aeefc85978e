"""The demo county: real names, synthetic data calibrated to the national figures."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sqlalchemy import func, select

from shequ.catalog import load_catalog
from shequ.context import Context
from shequ.errors import NotFoundError
from shequ.ingest.demo import (
    VILLAGE_COVERAGE_2019,
    VILLAGE_COVERAGE_2020,
    find_county_code,
    generate,
)
from shequ.registry import queries
from shequ.registry.models import Division, Facility, Population
from shequ.settings import Settings

CATALOG = load_catalog()


@pytest.fixture(scope="module")
def demo():
    return generate(catalog=CATALOG)


def test_the_same_seed_gives_the_same_county_and_another_seed_does_not(demo) -> None:
    again = generate(catalog=CATALOG)
    assert again.facilities == demo.facilities
    assert again.population == demo.population
    assert np.array_equal(again.streets.lon, demo.streets.lon)
    other = generate(catalog=CATALOG, seed=7)
    assert other.population != demo.population


def test_names_and_codes_are_the_real_countys(demo) -> None:
    assert (demo.county.code, demo.county.name) == ("130123000000", "正定县")
    levels = Counter(u.level for u in demo.units)
    assert levels == {4: 10, 5: 187}
    assert [a.name for a in demo.ancestors] == ["河北省", "石家庄市"]


def test_every_urban_community_has_a_comprehensive_facility(demo) -> None:
    with_facility = {f["division_code"] for f in demo.facilities
                     if f["type_code"] == "comprehensive_service_facility"
                     and f["status"] == "in_service"}
    urban = [u for u in demo.units if u.level == 5 and u.urban_rural.startswith("1")]
    assert urban and all(u.code in with_facility for u in urban)


def test_village_coverage_is_the_national_figure_for_2019_and_2020(demo) -> None:
    villages = [u.code for u in demo.units if u.level == 5 and u.urban_rural.startswith("2")]
    opened = {f["division_code"]: f["opened_on"] for f in demo.facilities
              if f["type_code"] == "comprehensive_service_facility"
              and f["status"] == "in_service"}
    by_2019 = sum(1 for v in villages if v in opened and opened[v].year <= 2019)
    by_2020 = sum(1 for v in villages if v in opened)
    assert by_2019 == round(VILLAGE_COVERAGE_2019 * len(villages))
    assert by_2020 == round(VILLAGE_COVERAGE_2020 * len(villages))


def test_households_and_ages_follow_the_census_shares(demo) -> None:
    rows = [p for p in demo.population if p["period"] == 2020]
    residents = sum(p["residents"] for p in rows)
    households = sum(p["households"] for p in rows)
    assert residents / households == pytest.approx(2.62, abs=0.03)
    older = sum(p["age_60_plus"] for p in rows) / residents
    assert 0.17 < older < 0.25
    assert all(p["age_80_plus"] <= p["age_60_plus"] <= p["residents"] for p in demo.population)


def test_everything_generated_is_labelled_synthetic(demo) -> None:
    assert all(f["synthetic"] and "synthetic" in f["source"] for f in demo.facilities)
    assert all(p["synthetic"] for p in demo.population)
    assert all(w["synthetic"] for w in demo.workforce)


def test_every_opening_hours_value_is_valid_osm_syntax(demo) -> None:
    import opening_hours

    for text in {f["opening_hours"] for f in demo.facilities if f["opening_hours"]}:
        opening_hours.OpeningHours(text)


def test_the_street_network_is_connected(demo) -> None:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    streets = demo.streets
    n = streets.node_ids.size
    graph = coo_matrix((streets.length_m, (streets.edge_u, streets.edge_v)), shape=(n, n))
    count, _ = connected_components(graph, directed=False)
    assert count == 1
    assert streets.length_m.min() > 0


def test_a_county_is_found_by_name_and_a_wrong_name_is_explained() -> None:
    assert find_county_code("正定县") == "130123000000"
    with pytest.raises(NotFoundError, match="matches 0 counties"):
        find_county_code("不存在县")


def test_the_stored_demo_is_marked_and_complete(demo_settings: Settings) -> None:
    ctx = Context.open(demo_settings)
    with ctx.sessions() as session:
        info = queries.meta(session)
        assert (info["region_code"], info["synthetic"]) == ("130123000000", "true")
        assert queries.count_by_level(session) == {1: 1, 2: 1, 3: 1, 4: 10, 5: 187}
        communities = session.scalars(select(Division).where(Division.level == 5)).all()
        assert all(c.synthetic_geography and c.longitude is not None for c in communities)
        branches = session.scalars(select(Facility).where(
            Facility.type_code == "library_branch")).all()
        library = session.scalars(select(Facility).where(Facility.type_code == "library")).one()
        assert branches and all(b.parent_id == library.id for b in branches)
        assert session.scalar(select(func.count(func.distinct(Population.period)))) == 7
    assert (demo_settings.data_dir / "network" / "network.json").is_file()
    ctx.close()
