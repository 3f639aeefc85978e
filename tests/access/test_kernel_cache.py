"""After `shequ warm`, a fresh process loads every kernel from the cache: nothing compiles.

Each process gets the same empty NUMBA_CACHE_DIR, as a fresh install would have; the
second process then does other work than the warm-up (another network, other problem
sizes, the life-circle path) and Numba's dispatcher statistics must count no compilation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

_LATER_WORK = r"""
import json, time
import numpy as np
started = time.perf_counter()
from shequ.access.fca import two_step_fca
from shequ.access.kernels import catchments, nearest_distances
from shequ.access.network import grid_network
from shequ.plan.exact import solve_lscp, solve_mclp, solve_pmedian
from shequ.plan.problem import SitingProblem
from shequ.plan.warm import kernel_stats

net = grid_network(30, 25, seed=9)
rng = np.random.default_rng(9)
types = [np.sort(rng.choice(net.node_count, k, replace=False)) for k in (4, 9, 30, 2)]
nearest_distances(net, types, cap_m=1000.0, offsets_by_type=[np.zeros(t.size) for t in types])
catchments(net, types[2], radius_m=800.0)
two_step_fca(net, demand_nodes=np.arange(net.node_count), demand=np.ones(net.node_count),
             supply_nodes=types[1], supply=np.full(types[1].size, 5.0), radius_m=800.0,
             decay="gaussian", sigma_m=300.0)
n, m = 150, 25
d = rng.uniform(0, 3000, (n, m))
i, j = np.nonzero(d <= 1500)
problem = SitingProblem.from_table(i, j, d[i, j], weights=rng.uniform(1, 9, n), n_sites=m)
solve_mclp(problem, 800.0, p=5)
solve_lscp(problem, 1500.0)
solve_pmedian(problem, p=5, unserved_distance=2000.0)
compiled, loaded = kernel_stats()
print(json.dumps({"compiled": compiled, "loaded": loaded,
                  "seconds": time.perf_counter() - started}))
"""


def _environment(cache: Path) -> dict[str, str]:
    return {**os.environ, "NUMBA_CACHE_DIR": str(cache)}


def test_a_process_after_warming_compiles_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "numba-cache"
    warmed = subprocess.run([str(Path(sys.executable).parent / "shequ"), "warm"],
                            env=_environment(cache), capture_output=True, text=True,
                            check=True, timeout=600)
    found = re.search(r"(\d+) compiled, (\d+) loaded from the cache", warmed.stdout)
    assert found, warmed.stdout
    compiled, loaded = int(found[1]), int(found[2])
    assert compiled > 0 and loaded == 0  # the empty cache: everything compiled once
    assert any(cache.rglob("*.nbi"))  # … and written to the cache folder given

    later = subprocess.run([sys.executable, "-c", _LATER_WORK], env=_environment(cache),
                           capture_output=True, text=True, check=True, timeout=600)
    figures = json.loads(later.stdout.strip().splitlines()[-1])
    assert figures["compiled"] == 0, figures
    assert figures["loaded"] >= 10, figures
