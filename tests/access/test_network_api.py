"""The street network over HTTP: edges in a box and a tier's walking catchments, on a copy
of the demo county (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from shequ.access.network import StreetNetwork
from shequ.app import create_app
from shequ.context import Context
from shequ.settings import Settings


@pytest.fixture(scope="module")
def served(demo_template: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Context, TestClient, StreetNetwork]]:
    import shutil

    folder = tmp_path_factory.mktemp("network-api")
    shutil.copytree(demo_template, folder, dirs_exist_ok=True)
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    network = StreetNetwork.load(folder / "network")
    with TestClient(create_app(ctx)) as client:
        yield ctx, client, network
    ctx.close()


def _box(network: StreetNetwork, share: float) -> dict[str, float]:
    """A box around the network's middle covering ``share`` of its extent each way."""
    lon0, lat0 = float(np.median(network.lon)), float(np.median(network.lat))
    dlon = (float(network.lon.max()) - float(network.lon.min())) * share / 2
    dlat = (float(network.lat.max()) - float(network.lat.min())) * share / 2
    return {"west": lon0 - dlon, "east": lon0 + dlon, "south": lat0 - dlat, "north": lat0 + dlat}


def test_edges_in_a_box_are_those_touching_it_in_metres(
        served: tuple[Context, TestClient, StreetNetwork]) -> None:
    _, client, network = served
    box = _box(network, 0.1)
    response = client.get("/api/v1/network/edges", params={**box, "limit": 20000})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body: dict[str, Any] = response.json()
    inside = ((network.lon >= box["west"]) & (network.lon <= box["east"])
              & (network.lat >= box["south"]) & (network.lat <= box["north"]))
    row = np.repeat(np.arange(network.node_count), np.diff(network.indptr))
    col = network.indices
    expected = (row < col) & (inside[row] | inside[col])
    assert body["properties"]["edges"] == int(expected.sum()) > 0
    assert body["properties"]["truncated"] is False
    assert body["properties"]["synthetic_network"] is True
    lines = body["features"][0]["geometry"]["coordinates"]
    lengths = body["features"][0]["properties"]["length_m"]
    assert len(lines) == len(lengths) == int(expected.sum())
    assert lengths == pytest.approx((network.weights[expected] / 100).tolist(), abs=0.006)
    # every line has an end in the box
    for (a, b) in lines:
        assert any(box["west"] <= x <= box["east"] and box["south"] <= y <= box["north"]
                   for x, y in (a, b))

    few = client.get("/api/v1/network/edges", params={**box, "limit": 3}).json()
    assert few["properties"] == {**body["properties"], "edges": 3, "truncated": True}


def test_an_empty_box_is_refused(served: tuple[Context, TestClient, StreetNetwork]) -> None:
    _, client, _ = served
    response = client.get("/api/v1/network/edges",
                          params={"west": 115, "east": 114, "south": 38, "north": 39})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_tier_catchments_one_per_required_type(
        served: tuple[Context, TestClient, StreetNetwork]) -> None:
    ctx, client, _ = served
    tier = ctx.catalog.tiers["15min"]
    body = client.get("/api/v1/network/catchments", params={"tier": "15min", "lang": "en"},
                      headers={"Accept-Language": "en"}).json()
    types = [f["properties"]["type"] for f in body["features"]]
    assert types and set(types) <= set(tier.required) and len(set(types)) == len(types)
    for feature in body["features"]:
        assert feature["geometry"]["type"] in {"Polygon", "MultiPolygon"}
        assert feature["properties"]["distance_m"] == tier.distance_m
        assert feature["properties"]["facilities"] >= 1
        assert feature["properties"]["type_name"] == ctx.catalog.facility_types[
            feature["properties"]["type"]].name_en
    missing = client.get("/api/v1/network/catchments", params={"tier": "nope"},
                         headers={"Accept-Language": "en"})
    assert missing.status_code == 404
    assert missing.json()["code"] == "maps.unknown_tier"
    assert "nope" in missing.json()["detail"]
