"""Indicators: the plan's targets measured from the registry at every level.

The pure core (no database) is what other analyses call, e.g. the planning engine on a
scenario's modified tables::

    from shequ.indicators import MeasureTables, compute_indicators, load_indicator_catalog

    results = compute_indicators(tables, load_indicator_catalog(), as_of=date, periods=[2024])

Adapters that read and write the registry live in :mod:`shequ.indicators.store`
(``load_measure_tables``, ``compute_for_registry``); reports in
:mod:`shequ.indicators.export`, short boards in :mod:`shequ.indicators.shortboards`, the
assessment in :mod:`shequ.indicators.assessment`.
"""

from shequ.indicators.definitions import (
    Indicator,
    IndicatorCatalog,
    TargetRule,
    load_indicator_catalog,
)
from shequ.indicators.engine import MeasureTables, compute_indicators, people_by_division
from shequ.indicators.expr import parse_definition, parse_expression
from shequ.indicators.targets import Status, effective_targets, with_status

__all__ = [
    "Indicator",
    "IndicatorCatalog",
    "MeasureTables",
    "Status",
    "TargetRule",
    "compute_indicators",
    "effective_targets",
    "load_indicator_catalog",
    "parse_definition",
    "parse_expression",
    "people_by_division",
    "with_status",
]
