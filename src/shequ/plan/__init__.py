"""Short-board planning: where to build or reuse facilities, as scenarios that flow into the
indicators.

Layers (pure compute first, adapters last):

- :mod:`shequ.plan.problem`   sparse (demand, site, distance) tables and solutions
- :mod:`shequ.plan.exact`     LSCP, MCLP, p-median, capacitated and service-complex MIPs
                              on HiGHS, with the proven gap
- :mod:`shequ.plan.heuristic` lazy greedy + swap local search with Lagrangian bounds
                              (Numba), for a million demand points
- :mod:`shequ.plan.estate`    standard review of a new estate's plan
- :mod:`shequ.plan.instance`  the registry's gaps as a siting problem; solutions → scenarios
- :mod:`shequ.plan.scenarios` stored scenarios, evaluated through the life circles and the
                              indicators at every level; compare, export, adopt
- :mod:`shequ.plan.models`    the scenario tables (migration 0004)
- :mod:`shequ.plan.cli`       ``shequ plan …``
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: ``shequ.models`` imports ``shequ.plan.models`` for every command,
# and the solvers pull in HiGHS and Numba, which only planning needs.
_EXPORTS = {
    "ComplexProblem": "shequ.plan.exact",
    "ComplexSolution": "shequ.plan.exact",
    "solve_capacitated": "shequ.plan.exact",
    "solve_complex_mclp": "shequ.plan.exact",
    "solve_lscp": "shequ.plan.exact",
    "solve_mclp": "shequ.plan.exact",
    "solve_pmedian": "shequ.plan.exact",
    "greedy_lscp": "shequ.plan.heuristic",
    "greedy_mclp": "shequ.plan.heuristic",
    "greedy_pmedian": "shequ.plan.heuristic",
    "SitingProblem": "shequ.plan.problem",
    "SitingSolution": "shequ.plan.problem",
    "covered_weight": "shequ.plan.problem",
    "weighted_distance": "shequ.plan.problem",
}

__all__ = [
    "ComplexProblem",
    "ComplexSolution",
    "SitingProblem",
    "SitingSolution",
    "covered_weight",
    "greedy_lscp",
    "greedy_mclp",
    "greedy_pmedian",
    "solve_capacitated",
    "solve_complex_mclp",
    "solve_lscp",
    "solve_mclp",
    "solve_pmedian",
    "weighted_distance",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'shequ.plan' has no attribute {name!r}")
