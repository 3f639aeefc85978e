"""Exact location models solved as mixed-integer programmes by HiGHS (``highspy``).

Every model takes a :class:`~shequ.plan.problem.SitingProblem`, a time limit and a
relative optimality gap, and returns a :class:`~shequ.plan.problem.SitingSolution` whose
``bound`` is HiGHS's proven dual bound, so the gap is reported even when the time limit
stops the search.  Matrices go to HiGHS in column-wise (CSC) form in one call; nothing is
built row by row in Python.

Notation: demand points i with weight w_i, sites j with cost c_j, x_j = 1 when site j is
open, a_ij = 1 when d_ij ≤ r (the tier's walking distance), N_i = {j : a_ij = 1}.
Existing sites are fixed open (x_j = 1) unless closable; ``p`` limits the number of
*new* sites (existing ones do not count), ``budget`` limits Σ_j c_j x_j.

One module per model, as PySAL spopt lays them out:

- :mod:`~shequ.plan.exact.highs`            the HiGHS wrapper and the site bounds and limit rows
- :mod:`~shequ.plan.exact.covering`         location set covering and maximal covering
- :mod:`~shequ.plan.exact.pmedian`          p-median by chained distance levels
- :mod:`~shequ.plan.exact.capacitated`      capacitated covering
- :mod:`~shequ.plan.exact.service_complex`  several facility types sharing sites
"""

from shequ.plan.exact.capacitated import solve_capacitated
from shequ.plan.exact.covering import COVER_SEARCH_STEPS, solve_lscp, solve_mclp
from shequ.plan.exact.highs import (
    COVER_OPTIONS,
    DEFAULT_TIME_LIMIT_S,
    MAX_COVER_OPTIONS,
    PROOF_OPTIONS,
)
from shequ.plan.exact.pmedian import solve_pmedian
from shequ.plan.exact.service_complex import (
    ComplexProblem,
    ComplexSolution,
    complex_coverage,
    solve_complex_mclp,
)

__all__ = [
    "COVER_OPTIONS",
    "COVER_SEARCH_STEPS",
    "DEFAULT_TIME_LIMIT_S",
    "MAX_COVER_OPTIONS",
    "PROOF_OPTIONS",
    "ComplexProblem",
    "ComplexSolution",
    "complex_coverage",
    "solve_capacitated",
    "solve_complex_mclp",
    "solve_lscp",
    "solve_mclp",
    "solve_pmedian",
]
