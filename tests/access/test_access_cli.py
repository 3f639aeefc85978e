"""`shequ access …` on real OSM data and the demo county."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyrosm
from scipy.sparse.csgraph import dijkstra
from typer.testing import CliRunner

from shequ.access.cli import app
from shequ.access.network import StreetNetwork

runner = CliRunner()


def test_network_then_nearest_on_the_real_test_extract(tmp_path: Path) -> None:
    network_dir = tmp_path / "net"
    built = runner.invoke(app, ["network", "--osm", pyrosm.get_data("test_pbf"),
                                "--out", str(network_dir)])
    assert built.exit_code == 0, built.output
    assert "Saved to" in built.output
    net = StreetNetwork.load(network_dir)
    rng = np.random.default_rng(1)
    picks = rng.choice(net.node_count, 6, replace=False)
    facilities = pl.DataFrame({
        "id": [f"f{i}" for i in range(7)],
        "type": ["clinic", "clinic", "shop", "shop", "shop", "park", "clinic"],
        "lon": [*net.lon[picks].tolist(), 0.0], "lat": [*net.lat[picks].tolist(), 0.0]})
    facilities.write_csv(tmp_path / "fac.csv")
    result = runner.invoke(app, ["nearest", "--network", str(network_dir), "--facilities",
                                 str(tmp_path / "fac.csv"), "--max-distance", "1000",
                                 "--out", str(tmp_path / "nearest.csv")])
    assert result.exit_code == 0, result.output
    assert "f6" in result.output  # the facility at (0, 0) is reported, not dropped silently
    table = pl.read_csv(tmp_path / "nearest.csv")
    assert table.columns == ["id", "lon", "lat", "clinic", "park", "shop"]
    assert table["id"].to_list() == net.node_ids.tolist()  # OSM node ids
    graph = net.to_scipy()
    for column, rows in (("clinic", [0, 1]), ("shop", [2, 3, 4]), ("park", [5])):
        expected = dijkstra(graph, directed=False, indices=picks[rows], min_only=True,
                            limit=1000 * 100) / 100  # the graph's centimetres as metres
        got = table[column].cast(pl.Float64).fill_null(np.inf).to_numpy()
        assert np.array_equal(got, expected), column


def test_nearest_rejects_a_csv_without_coordinates(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("id,type,lon\n1,clinic,116\n", encoding="utf-8")
    StreetNetwork.from_osm(Path(pyrosm.get_data("test_pbf"))).save(tmp_path / "net")
    result = runner.invoke(app, ["nearest", "--network", str(tmp_path / "net"), "--facilities",
                                 str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "missing column(s) lat" in result.output
