"""Shortest-path kernels against hand-computed answers and the SciPy / networkx oracles."""

from __future__ import annotations

import networkx as nx  # type: ignore[import-untyped]
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from shequ.access.kernels import (
    UNREACHED,
    catchments,
    nearest_by_type,
    nearest_distances,
    single_source,
)
from shequ.access.network import CM_PER_M, StreetNetwork, grid_network
from shequ.errors import NetworkError


def _path(lengths: list[float]) -> StreetNetwork:
    """Nodes 0..k in a line (ids 100+i) joined by the given lengths."""
    k = len(lengths) + 1
    return StreetNetwork.from_edges(
        node_ids=np.arange(k) + 100, lon=116 + np.arange(k) * 0.001, lat=np.full(k, 39.0),
        edge_u=np.arange(k - 1), edge_v=np.arange(1, k), length_m=np.array(lengths),
        reorder=False,
    )


def _as_float(distances: np.ndarray) -> np.ndarray:
    """The kernels' centimetres as floats (inf where unreached), to compare with SciPy on
    the network's own centimetre weights."""
    return np.where(distances == UNREACHED, np.inf, distances.astype(np.float64))


def _metres(distances: np.ndarray) -> np.ndarray:
    return np.where(distances == UNREACHED, np.inf, distances / CM_PER_M)


def test_nearest_on_a_line_by_hand() -> None:
    line = _path([100, 200, 300, 400])  # positions at 0, 100, 300, 600, 1000 m
    table = nearest_distances(line, [[0], [4], [0, 4]], cap_m=650)
    assert _metres(table[0]).tolist() == [0, 100, 300, 600, np.inf]
    assert _metres(table[1]).tolist() == [np.inf, np.inf, np.inf, 400, 0]
    assert _metres(table[2]).tolist() == [0, 100, 300, 400, 0]


def test_cap_is_inclusive_like_scipy_limit() -> None:
    line = _path([100, 200])
    assert _metres(nearest_distances(line, [[0]], cap_m=300)[0]).tolist() == [0, 100, 300]
    assert _metres(nearest_distances(line, [[0]], cap_m=299.99)[0]).tolist() == [
        0, 100, np.inf]


def test_offsets_start_a_source_further_away() -> None:
    line = _path([100, 200])
    table = nearest_distances(line, [[0, 2]], cap_m=1000, offsets_by_type=[[250, 0]])
    assert table[0].tolist() == [25000, 20000, 0]  # centimetres


def test_type_without_sources_reaches_nothing() -> None:
    line = _path([100])
    table = nearest_by_type(line, {"a": np.array([], dtype=np.int64), "b": [1]}, cap_m=500)
    assert (table["a"] == UNREACHED).all()
    assert table["b"].tolist() == [10000, 0]


def test_bad_sources_and_caps_are_rejected() -> None:
    line = _path([100])
    with pytest.raises(NetworkError, match=r"0\.\.1"):
        nearest_distances(line, [[5]], cap_m=100)
    with pytest.raises(NetworkError, match="search cap"):
        nearest_distances(line, [[0]], cap_m=-1)
    with pytest.raises(NetworkError, match="one non-negative metre per source"):
        catchments(line, [0, 1], radius_m=10, offsets=[1])


def _oracle_nearest(net: StreetNetwork, sources: np.ndarray, cap: float) -> np.ndarray:
    return np.asarray(dijkstra(net.to_scipy(), directed=False, indices=sources,
                               min_only=True, limit=cap * CM_PER_M))


def test_nearest_equals_scipy_on_the_real_helsinki_streets(helsinki: StreetNetwork) -> None:
    rng = np.random.default_rng(11)
    types = [rng.choice(helsinki.node_count, size, replace=False) for size in (3, 15, 60)]
    for cap in (300, 1000, 2400):
        table = nearest_distances(helsinki, types, cap_m=cap)
        for t, sources in enumerate(types):
            expected = _oracle_nearest(helsinki, sources, cap)
            assert np.array_equal(_as_float(table[t]), expected), (cap, t)
        assert (table != UNREACHED).sum() > 0


def test_nearest_equals_networkx_on_the_real_test_extract(test_extract: StreetNetwork) -> None:
    graph = nx.Graph()
    matrix = test_extract.to_scipy().tocoo()
    graph.add_weighted_edges_from(zip(matrix.row.tolist(), matrix.col.tolist(),
                                      matrix.data.tolist(), strict=True))
    sources = [0, test_extract.node_count // 2]
    expected = nx.multi_source_dijkstra_path_length(graph, sources, cutoff=800 * CM_PER_M)
    table = nearest_distances(test_extract, [sources], cap_m=800)[0]
    reached = {int(i): int(d) for i, d in enumerate(table) if d != UNREACHED}
    assert reached == {int(k): int(v) for k, v in expected.items()}


def test_catchments_equal_scipy_single_source_rows(helsinki: StreetNetwork) -> None:
    rng = np.random.default_rng(5)
    sources = rng.choice(helsinki.node_count, 40, replace=False)
    source, node, dist = catchments(helsinki, sources, radius_m=700, chunks=3)
    expected = dijkstra(helsinki.to_scipy(), directed=False, indices=sources,
                        limit=700 * CM_PER_M)
    got = np.full(expected.shape, np.inf)
    got[source, node] = dist
    assert np.array_equal(got, expected)
    assert np.all(np.diff(source) >= 0)  # rows grouped by source
    assert len(source) == int(np.isfinite(expected).sum())  # each pair exactly once


def test_single_source_lists_nodes_within_radius(grid: StreetNetwork) -> None:
    nodes, dist = single_source(grid, 123, radius_m=500)
    expected = dijkstra(grid.to_scipy(), directed=False, indices=123, limit=500 * CM_PER_M)
    assert sorted(nodes.tolist()) == np.flatnonzero(np.isfinite(expected)).tolist()
    assert np.array_equal(dist, expected[nodes])
    assert len(set(nodes.tolist())) == nodes.size  # each node once


@st.composite
def _random_graph(draw: st.DrawFn) -> tuple[StreetNetwork, list[np.ndarray], int]:
    n = draw(st.integers(2, 40))
    m = draw(st.integers(0, 3 * n))
    u = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    v = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    lengths = np.array(draw(st.lists(st.floats(0, 500), min_size=m, max_size=m)))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    net = StreetNetwork.from_edges(
        node_ids=np.arange(n), lon=rng.uniform(116, 117, n), lat=rng.uniform(39, 40, n),
        edge_u=u, edge_v=v, length_m=lengths,
    )
    k = draw(st.integers(1, 3))
    sources = [rng.choice(n, draw(st.integers(0, n)), replace=False) for _ in range(k)]
    cap = draw(st.integers(0, 1500))
    return net, sources, cap


@settings(max_examples=150, deadline=None)
@given(_random_graph())
def test_nearest_equals_scipy_on_random_graphs(
        case: tuple[StreetNetwork, list[np.ndarray], int]) -> None:
    net, sources, cap = case
    table = nearest_distances(net, sources, cap_m=cap)
    for t, src in enumerate(sources):
        if src.size == 0:
            assert (table[t] == UNREACHED).all()
            continue
        assert np.array_equal(_as_float(table[t]), _oracle_nearest(net, src, cap))
    flat = np.concatenate(sources)
    if flat.size:
        source, node, dist = catchments(net, flat, radius_m=cap)
        expected = dijkstra(net.to_scipy(), directed=False, indices=flat,
                            limit=cap * CM_PER_M)
        got = np.full(expected.shape, np.inf)
        got[source, node] = dist
        assert np.array_equal(got, expected)


def test_buckets_longer_than_a_block_and_reused_blocks() -> None:
    """A hub with 500 spokes of equal length fills one bucket with 500 nodes (several
    64-node queue blocks); then a second search reuses the blocks the first gave back."""
    spokes = 500
    hub = StreetNetwork.from_edges(
        node_ids=np.arange(2 * spokes + 1), lon=116 + np.arange(2 * spokes + 1) * 1e-5,
        lat=np.full(2 * spokes + 1, 39.0),
        # hub 0 — spoke i (7 m) — tip spokes+i (3..9 m, varied)
        edge_u=np.concatenate([np.zeros(spokes, int), np.arange(1, spokes + 1)]),
        edge_v=np.concatenate([np.arange(1, spokes + 1), np.arange(spokes + 1, 2 * spokes + 1)]),
        length_m=np.concatenate([np.full(spokes, 7.0), 3.0 + np.arange(spokes) % 7]),
        reorder=False,
    )
    expected = dijkstra(hub.to_scipy(), directed=False, indices=[0, 5, 0], limit=1200)
    source, node, dist = catchments(hub, [0, 5, 0], radius_m=12, chunks=1)
    got = np.full(expected.shape, np.inf)
    got[source, node] = dist
    assert np.array_equal(got, expected)
    assert np.count_nonzero(expected[0] == 700) == spokes  # the one long bucket
    table = nearest_distances(hub, [np.array([0]), np.array([3, 700])], cap_m=16)
    for row, src in zip(table, ([0], [3, 700]), strict=True):
        oracle = dijkstra(hub.to_scipy(), directed=False, indices=src, limit=1600,
                          min_only=True)
        assert np.array_equal(_as_float(row), oracle)


def test_many_sources_searched_in_groups_equal_one_search_with_offsets() -> None:
    """More sources than one search group (in shuffled order, with start offsets): the
    grouped searches give SciPy's distances from a virtual source joined to each real
    one by its offset."""
    net = grid_network(60, 60, seed=4)
    rng = np.random.default_rng(8)
    many = rng.choice(net.node_count, 700, replace=False)  # about three groups
    few = rng.choice(net.node_count, 12, replace=False)
    offsets = [rng.integers(0, 200, many.size), rng.integers(0, 200, few.size)]
    table = nearest_distances(net, [many, few], cap_m=900, offsets_by_type=offsets)
    streets = net.to_scipy().tocsr()
    n = net.node_count
    for t, (sources, start) in enumerate(zip((many, few), offsets, strict=True)):
        # SciPy drops zero weights, so every offset edge is 1 cm longer, taken back below
        virtual = sparse.csr_matrix((start * 100.0 + 1.0, (np.full(sources.size, n), sources)),
                                    shape=(n + 1, n + 1))
        graph = sparse.bmat([[streets, None], [None, sparse.csr_matrix((1, 1))]]) + virtual
        expected = dijkstra(graph.tocsr(), directed=True, indices=n, limit=90001)[:n] - 1
        expected[expected > 90000] = np.inf
        assert np.array_equal(_as_float(table[t]), expected), t
    assert (table[0] != UNREACHED).mean() > 0.9
