"""Bounded shortest-path kernels on integer-centimetre CSR graphs, compiled with Numba.

Algorithm: Dial's bucket queue with one-metre buckets over centimetre distances.  Every
search has a cap (the walking distance of a life circle), so a queue of ``cap / 1 m + 1``
buckets (chains of 64-node blocks, lazy deletion) gives O(1) insert and pop-min; the
search ends when the bucket index passes the cap.  A bucket holds distances within one
metre of each other, so an edge shorter than a metre can improve a node of the bucket
being scanned: such a node goes back into the same bucket and the bucket is scanned
again until it stays empty (label correcting inside a bucket, Dial's order between
buckets).  The result is exact — the distances SciPy's Dijkstra gives on the same integer
centimetre weights — and costs what whole-metre Dial cost, because edges under a metre
are few (one bucket per centimetre would need 100 times the buckets and blocks).
Popped blocks are reused first, so the queue stays in a few
hot cache lines: a pool with one slot per push, linked node by node, made every pop a
cache miss once the graph outgrew the cache (measured: 25–30% slower at 1 M and 4 M
nodes).  Each bucket is gathered into a contiguous list
and the next nodes' rows are prefetched, because a multi-source frontier is scattered
over the whole graph and cache misses, not arithmetic, set the speed.

Units: caps and offsets are given in metres; distances come back as int32
**centimetres** (divide by :data:`~shequ.access.network.CM_PER_M` to show metres).

* :func:`nearest_distances` — multi-source search per facility type: every node's
  distance to the nearest facility of each type (``UNREACHED`` beyond the cap).  Types run
  in parallel on threads (the compiled kernels release the GIL), one search each.
* :func:`catchments` — one bounded search per source: the sparse list of
  (source, node, distance) within the radius, for capacity measures.  Sources run in
  parallel in chunks; each chunk reuses its scratch arrays, resets only what it touched
  and appends to one growing list (one pass, no counting pass).

Why threads and not ``prange``: measured on this 2-core machine the two are equal on big
graphs, but an OpenMP barrier on a busy shared machine costs tens of milliseconds per call
(a 5,000-node query took 50 ms instead of 3 ms); small jobs run on the calling thread.
Thread count: ``NUMBA_NUM_THREADS`` (default: the number of cores).

Why not a binary heap: with caps of 300–2400 m the bucket scan costs nothing and each
queue operation is a few array writes, where a heap pays log n.

Compilation: every kernel is ``cache=True``; :mod:`shequ.warm` compiles them into the
install's cache at install and demo time, so no user waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from llvmlite import ir  # type: ignore[import-untyped]
from numba import extending, njit, types
from numba.core import cgutils

from shequ.access.network import CM_PER_M, StreetNetwork
from shequ.errors import NetworkError

UNREACHED = np.iinfo(np.int32).max
MAX_CAP_M = 1_000_000  # 1000 km: far beyond any walk; keeps bucket arrays small
# Centimetres per bucket: one metre, so a search has as many buckets as metres in its cap.
_WIDTH = CM_PER_M

Int32Array = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]


def _prefetch_name() -> str:
    import llvmlite.binding  # type: ignore[import-untyped]

    # LLVM 15+ uses opaque pointers; older versions name the pointer type in the intrinsic
    return "llvm.prefetch.p0" if llvmlite.binding.llvm_version_info >= (15,) else (
        "llvm.prefetch.p0i8")


_PREFETCH = _prefetch_name()


def _prefetch_intrinsic(typingctx: Any, array: Any, index: Any) -> Any:
    """Ask the CPU to start loading ``array[index]`` (a hint; no effect on results).

    A bucket's nodes are scattered over the whole graph, so each pop is a cache miss;
    prefetching the next few nodes' rows overlaps those misses (measured: ~2× faster).
    """
    signature = types.void(array, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        array_type = sig.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(  # type: ignore[no-untyped-call]
            context, builder, array_type, view, [args[1]], wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32])
        function = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module, function_type, _PREFETCH)
        builder.call(function, [builder.bitcast(pointer, byte_pointer), ir.Constant(int32, 0),
                                ir.Constant(int32, 3), ir.Constant(int32, 1)])
        return context.get_dummy_value()

    return signature, codegen


prefetch: Any = extending.intrinsic(_prefetch_intrinsic)

_AHEAD = 8  # nodes ahead to prefetch edge lists (4, 8, 16 measured within noise)


# Node slots per queue block (a 256-byte run: four cache lines read in order).
_BLOCK = 64

# Sources per search in a multi-source query.  One search from all of a type's sources
# sweeps its frontier over the whole graph at every distance, so each step finds its
# rows evicted once the graph outgrows the cache; searches from groups of nearby
# sources (consecutive in the Hilbert layout), one after another on the same distance
# array, stay in a region that fits.  Later searches stop where earlier ones already
# came nearer, so the result is the same minimum.  Measured per type at 0.5% sources,
# 1 M / 4 M nodes: all at once 64 / 84-89 ms per million nodes; groups of 1,024: 55 / 45;
# 256: 52 / 41-46; 64: 57 / 44-55; 16: 69 / 57-63.
_GROUP = 256


@njit(cache=True, nogil=True)
def _queue(n_entries: int, cap: int) -> tuple[Int32Array, Int32Array, Int32Array, Int32Array,
                                              Int32Array, Int32Array, Int32Array]:  # cap: cm
    """Scratch for :func:`_dial`: bucket lists made of recycled blocks of ``_BLOCK`` nodes.

    Returns (blocks, block_next, free, head, tail, fill, counters).  A bucket is a chain
    of blocks from ``head`` to ``tail`` (``fill`` nodes in its last block); a popped
    bucket's blocks go on the ``free`` stack and are taken again first, so the queue
    lives in a few hot blocks however many pushes a search makes.  ``counters`` holds
    (free blocks, blocks ever used, 1 if the pool ran out).  Room for ``n_entries``
    pushes at once, twice over: a node improved inside its bucket is pushed again.
    """
    buckets = cap // _WIDTH + 1
    count = 2 * (n_entries // _BLOCK) + buckets + 2
    blocks = np.empty(count * _BLOCK, dtype=np.int32)
    block_next = np.empty(count, dtype=np.int32)
    free = np.empty(count, dtype=np.int32)
    head = np.full(buckets, -1, dtype=np.int32)
    tail = np.full(buckets, -1, dtype=np.int32)
    fill = np.zeros(buckets, dtype=np.int32)
    counters = np.zeros(3, dtype=np.int32)
    return blocks, block_next, free, head, tail, fill, counters


@njit(cache=True, nogil=True, inline="always")
def _push(  # noqa: PLR0917 (numba kernels take positional arrays)
        node: int, d: int, blocks: Int32Array, block_next: Int32Array, free: Int32Array,
        head: Int32Array, tail: Int32Array, fill: Int32Array, n_free: int, used: int
        ) -> tuple[int, int]:
    """Append ``node`` to bucket ``d``; returns the new (free blocks, blocks used).

    Used to seed the sources; :func:`_dial`'s inner loop has the same steps written out.
    ``used`` comes back −1 when the pool has no block left (nothing is written then).
    """
    t = tail[d]
    if t == -1 or fill[d] == _BLOCK:
        if n_free > 0:
            n_free -= 1
            block = free[n_free]
        elif used >= block_next.shape[0]:
            return n_free, -1
        else:
            block = used
            used += 1
        block_next[block] = -1
        if t == -1:
            head[d] = block
        else:
            block_next[t] = block
        tail[d] = block
        fill[d] = 0
        t = block
    blocks[t * _BLOCK + fill[d]] = node
    fill[d] += 1
    return n_free, used


@njit(cache=True, nogil=True)
def _dial(  # noqa: PLR0912, PLR0915, PLR0917 (positional arrays; the push written out below)
        indptr: Int64Array, adjacency: Int32Array, sources: Int64Array, offsets: Int32Array,
        cap: int, dist: Int32Array, blocks: Int32Array, block_next: Int32Array,
        free: Int32Array, head: Int32Array, tail: Int32Array, fill: Int32Array,
        counters: Int32Array, bucket_nodes: Int32Array, settled: Int32Array) -> int:
    """Bounded multi-source search; writes ``dist`` (cm), returns the number of nodes reached.

    ``adjacency`` interleaves (neighbour, centimetres) per directed edge; ``cap`` and
    ``offsets`` are centimetres.  ``dist`` must hold UNREACHED or an earlier search's
    distances on entry; the queue arrays come from :func:`_queue` and are empty again on
    exit.  Lazy deletion: a node is pushed again when its distance improves and entries
    of another bucket are skipped when popped.  ``settled[:k]`` lists the nodes first
    reached by this search (each once).  Returns −1 if the queue's pool ran out
    (``counters[2]`` is set; the caller reports it).
    """
    n_free = counters[0]
    used = counters[1]
    count = 0
    for k in range(sources.shape[0]):
        s = sources[k]
        d0 = offsets[k]
        if d0 <= cap and d0 < dist[s]:
            if dist[s] == 2147483647:
                settled[count] = s
                count += 1
            dist[s] = d0
            n_free, used = _push(s, d0 // _WIDTH, blocks, block_next, free, head, tail, fill,
                                 n_free, used)
            if used < 0:
                counters[2] = 1
                return -1
    limit = block_next.shape[0]
    for b in range(cap // _WIDTH + 1):
        # a bucket can fill again while it is scanned (edges under one bucket's width)
        while head[b] != -1:
            # gather the bucket into a contiguous list, prefetching each node's row, and
            # give its blocks back
            block = head[b]
            last = tail[b]
            m = 0
            while block != -1:
                upto = fill[b] if block == last else _BLOCK
                base = block * _BLOCK
                for q in range(upto):
                    x = blocks[base + q]
                    bucket_nodes[m] = x
                    m += 1
                    prefetch(dist, x)
                    prefetch(indptr, x)
                free[n_free] = block
                n_free += 1
                block = block_next[block]
            head[b] = -1
            tail[b] = -1
            fill[b] = 0
            for j in range(m):
                if j + _AHEAD < m:
                    prefetch(adjacency, 2 * indptr[bucket_nodes[j + _AHEAD]])
                x = bucket_nodes[j]
                dx = dist[x]
                if dx // _WIDTH != b:
                    continue  # a stale entry: x was reached by a shorter path
                for e in range(indptr[x], indptr[x + 1]):
                    y = adjacency[2 * e]
                    nd = dx + adjacency[2 * e + 1]
                    if nd <= cap and nd < dist[y]:
                        if dist[y] == 2147483647:
                            settled[count] = y
                            count += 1
                        dist[y] = nd
                        nb = nd // _WIDTH
                        # _push written out: through the helper this loop measured 25% slower
                        t = tail[nb]
                        if t == -1 or fill[nb] == _BLOCK:
                            if n_free > 0:
                                n_free -= 1
                                block = free[n_free]
                            elif used >= limit:
                                counters[2] = 1
                                return -1
                            else:
                                block = used
                                used += 1
                            block_next[block] = -1
                            if t == -1:
                                head[nb] = block
                            else:
                                block_next[t] = block
                            tail[nb] = block
                            fill[nb] = 0
                            t = block
                        blocks[t * _BLOCK + fill[nb]] = y
                        fill[nb] += 1
    counters[0] = n_free
    counters[1] = used
    return count


@njit(cache=True, nogil=True)
def _nearest_types(  # noqa: PLR0917 (numba kernels take positional arrays)
        indptr: Int64Array, adjacency: Int32Array, sources: Int64Array, offsets: Int32Array,
        type_ptr: Int64Array, types: Int64Array, cap: int, out: Int32Array) -> None:
    """The multi-source search of each type in ``types`` into its row of ``out``.

    Sources of type t are ``sources[type_ptr[t]:type_ptr[t + 1]]``, in node order; they
    are searched from in groups of ``_GROUP`` (see there).  One call per thread (the GIL
    is released), with its scratch allocated once for all its types.
    """
    n = indptr.shape[0] - 1
    most = 0
    for t in types:
        most = max(most, type_ptr[t + 1] - type_ptr[t])
    blocks, block_next, free, head, tail, fill, counters = _queue(
        adjacency.shape[0] // 2 + most, cap)
    bucket_nodes = np.empty(blocks.shape[0], dtype=np.int32)
    settled = np.empty(n, dtype=np.int32)
    for t in types:
        for lo in range(type_ptr[t], type_ptr[t + 1], _GROUP):
            hi = min(lo + _GROUP, type_ptr[t + 1])
            if _dial(indptr, adjacency, sources[lo:hi], offsets[lo:hi], cap, out[t], blocks,
                     block_next, free, head, tail, fill, counters, bucket_nodes,
                     settled) < 0:
                raise RuntimeError("the search queue ran out of blocks")


@njit(cache=True, nogil=True)
def _catchments_serial(  # noqa: PLR0917 (numba kernels take positional arrays)
        indptr: Int64Array, adjacency: Int32Array, sources: Int64Array,
                       offsets: Int32Array, cap: int, first: int
                       ) -> tuple[Int32Array, Int32Array, Int32Array]:
    """Single-source searches for ``sources`` one after the other, in one growing list.

    Scratch arrays are reused and only touched entries reset, so a small catchment
    costs its own size, not the graph's.  ``first`` numbers the sources.
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, 2147483647, dtype=np.int32)
    blocks, block_next, free, head, tail, fill, counters = _queue(
        adjacency.shape[0] // 2 + 1, cap)
    bucket_nodes = np.empty(blocks.shape[0], dtype=np.int32)
    settled = np.empty(n, dtype=np.int32)
    size = 1024
    out_source = np.empty(size, dtype=np.int32)
    out_node = np.empty(size, dtype=np.int32)
    out_dist = np.empty(size, dtype=np.int32)
    count = 0
    for k in range(sources.shape[0]):
        m = _dial(indptr, adjacency, sources[k:k + 1], offsets[k:k + 1], cap, dist, blocks,
                  block_next, free, head, tail, fill, counters, bucket_nodes, settled)
        if m < 0:
            raise RuntimeError("the search queue ran out of blocks")
        if count + m > size:
            while count + m > size:
                size *= 2
            grown = np.empty(size, dtype=np.int32)
            grown[:count] = out_source[:count]
            out_source = grown
            grown = np.empty(size, dtype=np.int32)
            grown[:count] = out_node[:count]
            out_node = grown
            grown = np.empty(size, dtype=np.int32)
            grown[:count] = out_dist[:count]
            out_dist = grown
        for i in range(m):
            node = settled[i]
            out_source[count + i] = first + k
            out_node[count + i] = node
            out_dist[count + i] = dist[node]
            dist[node] = 2147483647
        count += m
    return out_source[:count].copy(), out_node[:count].copy(), out_dist[:count].copy()


# Below this much work (nodes × searches) threads cost more than they save.
PARALLEL_MIN_WORK = 2_000_000


def _threads() -> int:
    return max(1, int(numba.get_num_threads()))


def _workers(tasks: int, work: int) -> int:
    """How many threads to use for ``tasks`` searches of about ``work`` node visits."""
    if work < PARALLEL_MIN_WORK:
        return 1
    return max(1, min(tasks, _threads()))


def _check_cap(cap_m: float) -> int:
    """The cap in whole centimetres (a cap of 299.999 m reaches 299.99 m, not 300 m)."""
    if not np.isfinite(cap_m) or cap_m < 0 or cap_m > MAX_CAP_M:
        raise NetworkError(
            f"search cap {cap_m!r} m is not a distance between 0 and {MAX_CAP_M} m"
        )
    return int(np.floor(float(cap_m) * CM_PER_M + 1e-6))


def _centimetres(metres: npt.ArrayLike) -> Int32Array:
    """Start offsets given in metres as whole centimetres (−1 where negative: refused)."""
    values = np.asarray(metres, dtype=np.float64).ravel()
    return np.where(values < 0, -1, np.rint(values * CM_PER_M)).astype(np.int32)


def _check_nodes(network: StreetNetwork, nodes: npt.ArrayLike, what: str) -> Int64Array:
    array = np.asarray(nodes, dtype=np.int64).ravel()
    if array.size and (array.min() < 0 or array.max() >= network.node_count):
        raise NetworkError(
            f"{what}: node positions must lie in 0..{network.node_count - 1} "
            "(snap points first and leave out the unsnapped ones)"
        )
    return array


def nearest_distances(network: StreetNetwork, sources_by_type: Sequence[npt.ArrayLike],
                      *, cap_m: float, offsets_by_type: Sequence[npt.ArrayLike] | None = None
                      ) -> Int32Array:
    """Distance from every node to the nearest source of each type, capped.

    Returns an int32 array of shape (types, nodes) in **centimetres**; nodes farther than
    ``cap_m`` from every source of a type hold ``UNREACHED``.  ``offsets_by_type`` adds a
    start distance in metres per source (e.g. its snap distance); default 0.
    """
    cap = _check_cap(cap_m)
    sources = [_check_nodes(network, s, f"sources of type #{i}")
               for i, s in enumerate(sources_by_type)]
    type_ptr = np.zeros(len(sources) + 1, dtype=np.int64)
    type_ptr[1:] = np.cumsum([s.size for s in sources])
    flat = np.concatenate(sources) if sources else np.zeros(0, dtype=np.int64)
    if offsets_by_type is None:
        offsets = np.zeros(flat.size, dtype=np.int32)
    else:
        offsets = np.concatenate(
            [_centimetres(o) for o in offsets_by_type]
        ) if offsets_by_type else np.zeros(0, dtype=np.int32)
        if offsets.shape != flat.shape or (offsets.size and offsets.min() < 0):
            raise NetworkError("offsets_by_type must give one non-negative metre per source")
    # each type's sources in node (Hilbert) order, so that a group of them is a region
    by_position = np.lexsort((flat, np.repeat(np.arange(len(sources)), [s.size for s in sources])))
    flat, offsets = flat[by_position], offsets[by_position]
    if not sources:
        return np.zeros((0, network.node_count), dtype=np.int32)
    out = np.full((len(sources), network.node_count), UNREACHED, dtype=np.int32)
    indptr, adjacency = network.indptr, network.adjacency

    workers = _workers(len(sources), network.node_count * len(sources))
    # types dealt round-robin to the threads: type counts per thread differ by at most one

    def run(w: int) -> None:
        _nearest_types(indptr, adjacency, flat, offsets, type_ptr,
                       np.arange(w, len(sources), workers, dtype=np.int64), cap, out)

    if workers == 1:
        run(0)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, range(workers)))
    return out


def nearest_by_type(network: StreetNetwork, sources: Mapping[str, npt.ArrayLike], *,
                    cap_m: float) -> dict[str, Int32Array]:
    """:func:`nearest_distances` keyed by facility type code."""
    names = list(sources)
    table = nearest_distances(network, [sources[k] for k in names], cap_m=cap_m)
    return {name: table[i] for i, name in enumerate(names)}


def catchments(network: StreetNetwork, sources: npt.ArrayLike, *, radius_m: float,
               offsets: npt.ArrayLike | None = None, chunks: int | None = None
               ) -> tuple[Int32Array, Int32Array, Int32Array]:
    """Every node within ``radius_m`` of each source: sparse (source, node, centimetres).

    ``source`` holds positions into ``sources``; rows are grouped by source (within a
    source, in the order the search reached them).  ``offsets`` are metres.  Each source
    is its own single-source search (not a multi-source one), so a node appears once per
    source that reaches it — what floating-catchment measures need.
    """
    cap = _check_cap(radius_m)
    src = _check_nodes(network, sources, "catchment sources")
    off = (np.zeros(src.size, dtype=np.int32) if offsets is None
           else _centimetres(offsets))
    if off.shape != src.shape or (off.size and off.min() < 0):
        raise NetworkError("offsets must give one non-negative metre per source")
    if src.size == 0:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty.copy(), empty.copy()
    parts = chunks or _workers(src.size, src.size * 2_000)
    bounds = np.linspace(0, src.size, parts + 1).astype(np.int64)
    indptr, adjacency = network.indptr, network.adjacency

    def run(c: int) -> tuple[Int32Array, Int32Array, Int32Array]:
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        result: tuple[Int32Array, Int32Array, Int32Array] = _catchments_serial(
            indptr, adjacency, src[lo:hi], off[lo:hi], cap, lo)
        return result

    if parts == 1:
        return run(0)
    with ThreadPoolExecutor(min(parts, _threads())) as pool:
        pieces = list(pool.map(run, range(parts)))
    return (np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces]),
            np.concatenate([p[2] for p in pieces]))


def single_source(network: StreetNetwork, node: int, *, radius_m: float
                  ) -> tuple[Int32Array, Int32Array]:
    """Nodes within ``radius_m`` of one node and their distances in centimetres."""
    _, nodes, dist = catchments(network, np.array([node]), radius_m=radius_m, chunks=1)
    return nodes, dist


__all__ = ["MAX_CAP_M", "UNREACHED", "catchments", "nearest_by_type", "nearest_distances",
           "single_source"]
