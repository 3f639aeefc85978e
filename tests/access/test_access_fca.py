"""2SFCA / E2SFCA against hand-computed values, a dense oracle and PySAL access."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.sparse.csgraph import dijkstra

from shequ.access.fca import Decay, demand_column, fca_by_type, two_step_fca
from shequ.access.network import StreetNetwork
from shequ.catalog import load_catalog
from shequ.errors import ValidationError


@pytest.fixture(scope="module")
def line() -> StreetNetwork:
    """Ten nodes 100 m apart, kept in input order."""
    k = 10
    return StreetNetwork.from_edges(
        node_ids=np.arange(k), lon=116 + np.arange(k) * 0.00116, lat=np.full(k, 39.0),
        edge_u=np.arange(k - 1), edge_v=np.arange(1, k), length_m=np.full(k - 1, 100.0),
        reorder=False)


def test_two_step_fca_by_hand(line: StreetNetwork) -> None:
    result = two_step_fca(line, demand_nodes=[0, 3, 8], demand=[100, 50, 200],
                          supply_nodes=[1, 6], supply=[10, 30], radius_m=300)
    # facility at 1 reaches 0 (100 m) and 3 (200 m): R = 10/150; at 6 reaches 3 and 8: 30/250
    assert result.ratio.tolist() == pytest.approx([10 / 150, 30 / 250], abs=1e-15)
    assert result.access.tolist() == pytest.approx(
        [10 / 150, 10 / 150 + 30 / 250, 30 / 250], abs=1e-15)


def test_gaussian_decay_by_hand(line: StreetNetwork) -> None:
    def w(d: float) -> float:
        return math.exp(-d * d / (2 * 150.0**2))

    result = two_step_fca(line, demand_nodes=[0, 3, 8], demand=[100, 50, 200],
                          supply_nodes=[1, 6], supply=[10, 30], radius_m=300,
                          decay=Decay.GAUSSIAN, sigma_m=150)
    r1 = 10 / (100 * w(100) + 50 * w(200))
    r2 = 30 / (50 * w(300) + 200 * w(200))
    assert result.access.tolist() == pytest.approx(
        [r1 * w(100), r1 * w(200) + r2 * w(300), r2 * w(200)], rel=1e-12)


def test_unreached_facility_and_demand_get_zero(line: StreetNetwork) -> None:
    result = two_step_fca(line, demand_nodes=[0], demand=[10], supply_nodes=[9], supply=[5],
                          radius_m=200)
    assert result.ratio.tolist() == [0.0]
    assert result.access.tolist() == [0.0]


def test_negative_capacity_is_rejected(line: StreetNetwork) -> None:
    with pytest.raises(ValidationError, match="capacity"):
        two_step_fca(line, demand_nodes=[0], demand=[10], supply_nodes=[1], supply=[-1],
                     radius_m=200)


def _dense_oracle(net: StreetNetwork, demand_nodes: np.ndarray, demand: np.ndarray,
                  supply_nodes: np.ndarray, supply: np.ndarray, radius: float,
                  sigma: float | None) -> np.ndarray:
    # the network's weights are centimetres: the oracle works in metres
    d = dijkstra(net.to_scipy(), directed=False, indices=supply_nodes, limit=radius * 100) / 100
    d = d[:, demand_nodes]  # facilities × demand points
    inside = np.isfinite(d)
    w = np.where(inside, 1.0 if sigma is None else np.exp(-np.where(inside, d, 0) ** 2
                                                           / (2 * sigma**2)), 0.0)
    reached = (w * demand[None, :]).sum(axis=1)
    ratio = np.divide(supply, reached, out=np.zeros_like(supply), where=reached > 0)
    return np.asarray((w * ratio[:, None]).sum(axis=0))


@pytest.mark.parametrize("sigma", [None, 300.0])
def test_fca_equals_dense_oracle_on_real_streets(helsinki: StreetNetwork,
                                                 sigma: float | None) -> None:
    rng = np.random.default_rng(3)
    demand_nodes = rng.choice(helsinki.node_count, 400, replace=False)
    demand = rng.integers(1, 500, demand_nodes.size).astype(float)
    supply_nodes = rng.choice(helsinki.node_count, 25, replace=False)
    supply = rng.integers(5, 80, supply_nodes.size).astype(float)
    result = two_step_fca(helsinki, demand_nodes=demand_nodes, demand=demand,
                          supply_nodes=supply_nodes, supply=supply, radius_m=800,
                          decay=Decay.NONE if sigma is None else Decay.GAUSSIAN,
                          sigma_m=sigma)
    expected = _dense_oracle(helsinki, demand_nodes, demand, supply_nodes, supply, 800, sigma)
    assert np.allclose(result.access, expected, rtol=1e-12, atol=1e-15)
    assert (result.access > 0).sum() > 10


def test_fca_equals_pysal_access(helsinki: StreetNetwork) -> None:
    access = pytest.importorskip("access")
    import pandas as pd  # type: ignore[import-untyped]

    rng = np.random.default_rng(9)
    demand_nodes = rng.choice(helsinki.node_count, 300, replace=False)
    demand = rng.integers(1, 500, demand_nodes.size).astype(float)
    supply_nodes = rng.choice(helsinki.node_count, 20, replace=False)
    supply = rng.integers(5, 80, supply_nodes.size).astype(float)
    d = dijkstra(helsinki.to_scipy(), directed=False, indices=supply_nodes,
                 limit=1000 * 100) / 100  # centimetre weights, metre costs
    j, i = np.nonzero(np.isfinite(d[:, demand_nodes]))
    costs = pd.DataFrame({"origin": i, "dest": j, "cost": d[j, demand_nodes[i]]})
    model = access.Access(
        demand_df=pd.DataFrame({"origin": np.arange(demand.size), "pop": demand}),
        demand_index="origin", demand_value="pop",
        supply_df=pd.DataFrame({"dest": np.arange(supply.size), "cap": supply}),
        supply_index="dest", supply_value="cap",
        cost_df=costs, cost_origin="origin", cost_dest="dest", cost_name="cost")
    theirs = model.two_stage_fca(name="fca", max_cost=1000).iloc[:, 0]
    ours = two_step_fca(helsinki, demand_nodes=demand_nodes, demand=demand,
                        supply_nodes=supply_nodes, supply=supply, radius_m=1000).access
    values = theirs.reindex(np.arange(demand.size)).to_numpy()
    # PySAL gives NaN to demand points that reach no facility; Shequ gives 0 access
    unreached = np.isnan(values)
    assert 0 < unreached.sum() < demand.size
    assert np.all(ours[unreached] == 0)
    assert np.allclose(ours[~unreached], values[~unreached], rtol=1e-9, atol=0)


def test_demand_groups_follow_the_service() -> None:
    catalog = load_catalog()
    assert demand_column(catalog, "elderly_care_home") == "age_60_plus"
    assert demand_column(catalog, "nursery") == "age_0_2"
    assert demand_column(catalog, "community_health_station") == "residents"


def test_fca_by_type_for_communities(line: StreetNetwork) -> None:
    catalog = load_catalog()
    lon = line.lon
    communities = pl.DataFrame({"division_code": ["a", "b"], "longitude": [lon[0], lon[8]],
                                "latitude": [39.0, 39.0], "residents": [1000, 2000],
                                "age_60_plus": [100, 400]})
    facilities = pl.DataFrame({"id": [1, 2], "type_code": ["elderly_care_home", "nursery"],
                               "longitude": [lon[1], lon[8]], "latitude": [39.0, 39.0],
                               "capacity": [50, None]})
    table = fca_by_type(line, communities=communities, facilities=facilities,
                        catalog=catalog, radius_m=300)
    care = table.filter(pl.col("facility_type") == "elderly_care_home").sort("division_code")
    assert care["demand_column"].to_list() == ["age_60_plus", "age_60_plus"]
    assert care["access"].to_list() == pytest.approx([0.5, 0.0])  # 50 beds / 100 people 60+
    nursery = table.filter(pl.col("facility_type") == "nursery")
    assert nursery["access"].to_list() == [0.0, 0.0]  # unknown capacity counts 0 places


def test_fca_from_costs_by_hand_ignores_pairs_beyond_the_cap() -> None:
    from shequ.access.fca import fca_from_costs

    # demand 0 (100 people) and 1 (50); facility 0 (10 places) reaches both, facility 1
    # (30 places) reaches demand 1 only; the pair (0, 1) at 900 is beyond the 500 cap
    result = fca_from_costs(origin=[0, 1, 1, 0], dest=[0, 0, 1, 1], cost=[100, 200, 300, 900],
                            demand=[100, 50], supply=[10, 30], max_cost=500)
    assert result.ratio.tolist() == pytest.approx([10 / 150, 30 / 50])
    assert result.access.tolist() == pytest.approx([10 / 150, 10 / 150 + 30 / 50])


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint16])
def test_fca_from_costs_reads_any_integer_table_alike(dtype: type) -> None:
    from shequ.access.fca import fca_from_costs

    rng = np.random.default_rng(3)
    origin = rng.integers(0, 40, 300)
    dest = rng.integers(0, 7, 300)
    cost = rng.integers(0, 1200, 300)
    demand = rng.integers(1, 90, 40).astype(float)
    supply = rng.integers(5, 50, 7).astype(float)
    wide = fca_from_costs(origin=origin, dest=dest, cost=cost.astype(float), demand=demand,
                          supply=supply, max_cost=1000, decay="gaussian", sigma=400)
    narrow = fca_from_costs(origin=origin.astype(dtype), dest=dest.astype(dtype),
                            cost=cost.astype(dtype), demand=demand, supply=supply,
                            max_cost=1000, decay="gaussian", sigma=400)
    assert np.array_equal(wide.access, narrow.access)
    # the dense closed form: R = S / (Wᵀ P), A = W R with W zero beyond the cap
    weight = np.zeros((40, 7))
    np.add.at(weight, (origin, dest), np.where(cost <= 1000, np.exp(-cost**2 / (2 * 400**2)),
                                               0.0))
    ratio = supply / (weight.T @ demand)
    assert wide.access == pytest.approx(weight @ ratio, rel=1e-12)


def test_fca_from_costs_names_the_pair_that_points_outside_the_tables() -> None:
    from shequ.access.fca import fca_from_costs

    with pytest.raises(ValidationError) as caught:
        fca_from_costs(origin=[0, 1, 5], dest=[0, 0, 0], cost=[1, 2, 3], demand=[1, 1],
                       supply=[3], max_cost=10)
    problem = caught.value.problems[0]
    assert problem.row == 3
    assert "origin 5" in problem.reason and "0…1" in problem.reason
    with pytest.raises(ValidationError) as caught:
        fca_from_costs(origin=[0, 1], dest=[0, -1], cost=[1, 2], demand=[1, 1], supply=[3],
                       max_cost=10)
    problem = caught.value.problems[0]
    assert (problem.row, problem.column) == (2, "dest")
    assert "dest -1" in problem.reason and "supply table (0…0)" in problem.reason
    with pytest.raises(ValidationError, match="whole numbers"):
        fca_from_costs(origin=[0.5], dest=[0], cost=[1], demand=[1], supply=[1], max_cost=10)
