"""Per-county Dask jobs give exactly the single-process results (LocalCluster)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from shequ.access.distributed import evaluate_by_county, sub_network
from shequ.access.kernels import nearest_distances
from shequ.access.lifecircle import evaluate_life_circles
from shequ.access.network import StreetNetwork, grid_network
from shequ.catalog import load_catalog


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    from distributed import Client, LocalCluster

    # Dask's cluster and client are untyped
    cluster = LocalCluster(n_workers=2, threads_per_worker=1,  # type: ignore[no-untyped-call]
                           processes=True, dashboard_address=None)
    with cluster, Client(cluster) as dask_client:  # type: ignore[no-untyped-call]
        yield dask_client


def _region(net: StreetNetwork, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Communities in three counties side by side (west, middle, east) and facilities."""
    rng = np.random.default_rng(seed)
    catalog = load_catalog()
    nodes = rng.choice(net.node_count, 90, replace=False)
    lon = net.lon[nodes] + rng.normal(0, 0.0002, nodes.size)
    lat = net.lat[nodes] + rng.normal(0, 0.0002, nodes.size)
    cuts = np.quantile(lon, [1 / 3, 2 / 3])
    county = np.searchsorted(cuts, lon)
    codes = [f"1301{20 + c:02d}{100 + i:03d}{200 + i:03d}" for i, c in enumerate(county)]
    urban = rng.random(nodes.size) < 0.6
    communities = pl.DataFrame({
        "division_code": codes, "longitude": lon, "latitude": lat,
        "urban_rural": np.where(urban, "111", "220"),
        "residents": rng.integers(500, 5000, nodes.size),
        "age_60_plus": rng.integers(50, 900, nodes.size),
    })
    types = list(catalog.facility_types)
    k = 400
    where = rng.choice(net.node_count, k)
    facilities = pl.DataFrame({
        "id": np.arange(k), "type_code": rng.choice(types, k),
        "longitude": net.lon[where], "latitude": net.lat[where],
    })
    return communities, facilities


def test_sub_network_keeps_distances_inside_the_box() -> None:
    net = grid_network(40, 40, seed=2)
    box = {"west": float(np.quantile(net.lon, 0.2)), "east": float(np.quantile(net.lon, 0.8)),
           "south": float(np.quantile(net.lat, 0.2)), "north": float(np.quantile(net.lat, 0.8))}
    part = sub_network(net, **box)
    inside = ((net.lon >= box["west"]) & (net.lon <= box["east"])
              & (net.lat >= box["south"]) & (net.lat <= box["north"]))
    assert part.node_count == int(inside.sum())
    assert np.array_equal(part.node_ids, net.node_ids[inside])
    centre = int(np.argmin((part.lon - part.lon.mean()) ** 2 + (part.lat - part.lat.mean())**2))
    whole = nearest_distances(net, [[int(net.positions_of([part.node_ids[centre]])[0])]],
                              cap_m=300)[0][inside]
    assert np.array_equal(nearest_distances(part, [[centre]], cap_m=300)[0], whole)


def test_county_jobs_equal_the_single_process_run(client: object) -> None:
    net = grid_network(120, 150, seed=4, spacing_m=70)
    communities, facilities = _region(net, seed=5)
    catalog = load_catalog()
    single = evaluate_life_circles(net, communities=communities, facilities=facilities,
                                   catalog=catalog)
    spread = evaluate_by_county(net, communities=communities, facilities=facilities,
                                catalog=catalog, client=client)
    assert spread.meta["jobs"] == 3
    assert_frame_equal(spread.community_access, single.community_access)
    assert_frame_equal(spread.communities, single.communities)
    assert_frame_equal(spread.divisions, single.divisions)
    # the region is big enough that the border matters: some community is covered only
    # by a facility of another county
    assert single.community_access["covered_share"].sum() > 0


def test_demo_county_on_the_cluster_from_the_cli(client: Any, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shequ.access.cli import app
    from shequ.access.store import compute_region_access
    from shequ.context import Context
    from shequ.ingest.build import build_demo
    from shequ.settings import Settings

    data = tmp_path / "data"
    ctx = Context.open(Settings(data_dir=data, environment="test"))
    build_demo(ctx)
    single = compute_region_access(ctx, period=2019)  # before the 2020 village stations
    ctx.close()
    result = CliRunner().invoke(app, [
        "lifecircle", "--data-dir", str(data), "--scheduler", client.scheduler.address,
        "--out", str(tmp_path / "out"), "--format", "parquet", "--period", "2019"],
        env={"SHEQU_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    assert "Uncovered communities" in result.output
    assert "facilities of 2019 (community_access stored)" in " ".join(result.output.split())
    ctx = Context.open(Settings(data_dir=data, environment="test"))
    with ctx.sessions() as session:
        from sqlalchemy import func, select

        from shequ.access.models import CommunityAccess

        assert session.execute(select(CommunityAccess.period, func.count()).group_by(
            CommunityAccess.period)).all() == [(2019, single.community_access.height)]
    ctx.close()
    spread = pl.read_parquet(tmp_path / "out" / "community_access.parquet")
    assert_frame_equal(spread, single.community_access)
    communities = pl.read_parquet(tmp_path / "out" / "communities.parquet").drop("name")
    assert_frame_equal(communities, single.communities)
