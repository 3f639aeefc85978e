"""The indicator engine: every indicator, every division, every level and period, in one pass.

Pure core: it takes polars tables (:class:`MeasureTables`) and an indicator catalog and
knows nothing of the database, so the planning engine can pass modified copies
(a scenario's extra facilities) and get the indicators they would give.

How a value is made, for indicator ``f × N ÷ D`` and division ``d``::

    N(d) = Σ over every division h in the subtree of d of n(h)

where ``n(h)`` is the numerator evaluated on what division ``h`` itself holds
(community-level units hold population and most facilities; a street may hold a street
service centre).  ``D`` likewise, and ``value(d) = f × N(d) / D(d)`` (null when
``D(d) = 0``).  Numerators and denominators are summed up the hierarchy level by level
(community → township → county → prefecture → province → nation, level 0), never
averaged.  The hierarchy is the one in force on ``as_of``
(``valid_from ≤ as_of < valid_to``).

Facilities count in year Y when they are in service or accepted, opened on or before
31 December Y (or have no opening date) and were not closed by then; a facility whose
status is now ``closed`` still counts for the years before its ``closed_on``.  A measure
with an explicit ``status=…`` option uses the current status only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import polars as pl

from shequ.errors import Problem, ValidationError
from shequ.indicators.definitions import NATION_CODE, IndicatorCatalog
from shequ.indicators.expr import (
    PERSON_MEASURES,
    Attribute,
    BinOp,
    Compare,
    Condition,
    Expr,
    Has,
    Logic,
    Measure,
    Number,
    Scale,
    render,
)
from shequ.indicators.remap import LINK_SCHEMA, facilities_to_hierarchy, to_hierarchy
from shequ.registry.codes import LEVEL_DIGITS, level_of
from shequ.registry.levels import ACTIVE_STATUSES

LOG = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


# The columns each input table must have (more are ignored).
DIVISION_SCHEMA: dict[str, pl.DataType] = {
    "code": pl.String(), "level": pl.Int64(), "parent_code": pl.String(),
    "urban_rural": pl.String(), "kind": pl.String(),
}
FACILITY_SCHEMA: dict[str, pl.DataType] = {
    "division_code": pl.String(), "type_code": pl.String(), "status": pl.String(),
    "floor_area_m2": pl.Float64(), "activity_area_m2": pl.Float64(),
    "capacity": pl.Float64(), "opened_on": pl.Date(), "closed_on": pl.Date(),
}
POPULATION_SCHEMA: dict[str, pl.DataType] = {
    "division_code": pl.String(), "period": pl.Int64(), "residents": pl.Float64(),
    "households": pl.Float64(), "age_0_2": pl.Float64(), "age_3_5": pl.Float64(),
    "age_6_14": pl.Float64(), "age_60_plus": pl.Float64(), "age_80_plus": pl.Float64(),
    "disabled": pl.Float64(), "assisted_households": pl.Float64(),
}
WORKFORCE_SCHEMA: dict[str, pl.DataType] = {
    "division_code": pl.String(), "period": pl.Int64(), "role": pl.String(),
    "certification": pl.String(), "headcount": pl.Float64(),
}
ACCESS_SCHEMA: dict[str, pl.DataType] = {
    "division_code": pl.String(), "facility_type": pl.String(), "distance_m": pl.Int64(),
    "covered_share": pl.Float64(), "period": pl.Int64(),
}
INPUT_SCHEMA: dict[str, pl.DataType] = {
    "division_code": pl.String(), "period": pl.Int64(), "measure": pl.String(),
    "value": pl.Float64(),
}
RESULT_SCHEMA: dict[str, pl.DataType] = {
    "indicator": pl.String(), "division_code": pl.String(), "level": pl.Int8(),
    "period": pl.Int32(), "numerator": pl.Float64(), "denominator": pl.Float64(),
    "value": pl.Float64(),
}


def empty_table(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty table with the given columns."""
    return pl.DataFrame(schema=schema)


@dataclass(frozen=True, slots=True)
class MeasureTables:
    """The registry as tables: what the engine reads.

    divisions   code, level (1–5), parent_code, urban_rural, kind, and optionally
                valid_from / valid_to (dates; null = open), name, longitude, latitude
    facilities  division_code (the division that holds it), type_code, status,
                floor_area_m2, activity_area_m2, capacity, opened_on, closed_on
    population  division_code (community level), period (year), residents, households,
                age_0_2, age_3_5, age_6_14, age_60_plus, age_80_plus, disabled,
                assisted_households
    workforce   division_code, period, role, certification, headcount
    access      division_code, facility_type, distance_m, covered_share (0–1) and
                optionally period (the year whose facilities were evaluated; null = any
                year) — the accessibility engine's ``community_access`` rows
    inputs      division_code, period, measure, value — measures the registry lacks
    stamp       when the inputs were last changed (stored with results to reproduce them)
    """

    divisions: pl.DataFrame
    facilities: pl.DataFrame = field(default_factory=lambda: empty_table(FACILITY_SCHEMA))
    population: pl.DataFrame = field(default_factory=lambda: empty_table(POPULATION_SCHEMA))
    workforce: pl.DataFrame = field(default_factory=lambda: empty_table(WORKFORCE_SCHEMA))
    access: pl.DataFrame = field(default_factory=lambda: empty_table(ACCESS_SCHEMA))
    inputs: pl.DataFrame = field(default_factory=lambda: empty_table(INPUT_SCHEMA))
    stamp: dt.datetime | None = None
    # division change links (predecessor_code, successor_code, share, effective_on): data
    # on codes not in force on the hierarchy's date are mapped to those that are
    links: pl.DataFrame = field(default_factory=lambda: empty_table(LINK_SCHEMA))


def _conform(table: pl.DataFrame, schema: dict[str, pl.DataType], name: str) -> pl.DataFrame:
    """The table's required columns, cast to the engine's types; missing ones are an error."""
    missing = [column for column in schema if column not in table.columns]
    optional = {"opened_on", "closed_on", "activity_area_m2", "capacity", "floor_area_m2",
                "kind", "urban_rural", "age_0_2", "age_3_5", "age_6_14", "age_60_plus",
                "age_80_plus", "disabled", "assisted_households", "certification"} | (
        {"period"} if name == "access" else set())
    hard = [column for column in missing if column not in optional]
    if hard:
        raise ValidationError([Problem(name, f"missing column {column!r}",
                                       hint=f"the {name} table needs {', '.join(schema)}")
                               for column in hard])
    exprs = []
    for column, dtype in schema.items():
        if column in table.columns:
            exprs.append(pl.col(column).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(column))
    return table.select(exprs)


# --- the hierarchy -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """Divisions in force as arrays, ordered by level then code (index 0 is the nation).

    Ordering by level makes each level a contiguous block, so rolling up is one
    ``bincount`` per level over a slice; ``sorted_code_int`` with ``sorted_to_internal``
    finds a code's index by binary search.
    """

    codes: pl.Series
    code_int: IntArray
    level: npt.NDArray[np.int8]
    parent: IntArray
    urban_rural: pl.Series
    kind: pl.Series
    sorted_code_int: IntArray
    sorted_to_internal: IntArray
    blocks: tuple[tuple[int, int, int], ...]  # (level, start, end)
    rollup_order: tuple[tuple[IntArray, IntArray, IntArray], ...]
    contiguous: bool  # every parent is exactly one level up (the fast rollup applies)

    @property
    def size(self) -> int:
        """Number of divisions including the nation."""
        return len(self.code_int)

    def index_of(self, codes: pl.Series) -> tuple[IntArray, BoolArray]:
        """Indices of ``codes`` and a mask of those found in force (others are dropped).

        Runs of equal codes are looked up once (rows sorted by division code, as the
        registry adapter delivers them, make this a short binary search per unit).
        """
        if len(codes) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        text = codes.cast(pl.String)
        # compare neighbouring texts (cheap) and parse only the first code of each run
        change = (text != text.shift(1)).fill_null(value=True).to_numpy()
        starts = np.flatnonzero(change)
        unique = _codes_to_int(text.gather(starts))
        position = np.minimum(np.searchsorted(self.sorted_code_int, unique), self.size - 1)
        found_unique = self.sorted_code_int[position] == unique
        runs = np.diff(np.append(starts, len(text)))
        index = np.repeat(self.sorted_to_internal[position], runs)
        found: BoolArray = (np.ones(len(text), dtype=bool) if found_unique.all()
                            else np.repeat(found_unique, runs))
        return index, found

    def rollup(self, own: FloatArray) -> FloatArray:
        """Subtree totals: each division's own value plus all of its descendants'."""
        total = own.copy()
        if self.contiguous:
            for (_, start, end), (_, parent_start, parent_end) in zip(
                    self.blocks[:0:-1], self.blocks[-2::-1], strict=True):
                local = self.parent[start:end] - parent_start
                total[parent_start:parent_end] += np.bincount(
                    local, weights=total[start:end], minlength=parent_end - parent_start)
            return total
        for child, parents, local in self.rollup_order:
            total[parents] += np.bincount(local, weights=total[child], minlength=len(parents))
        return total

    def prefix_mask(self, jurisdiction: str) -> BoolArray:
        """Divisions whose code lies under ``jurisdiction`` (all but the nation for the nation)."""
        if jurisdiction == NATION_CODE:
            return np.ones(self.size, dtype=bool)
        digits = LEVEL_DIGITS[level_of(jurisdiction)]
        scale = 10 ** (12 - digits)
        low = int(jurisdiction[:digits]) * scale
        inside: BoolArray = (self.code_int >= low) & (self.code_int < low + scale)
        return inside


def _codes_to_int(codes: pl.Series) -> IntArray:
    """12-digit codes as integers (-1 for anything that is not a number)."""
    as_int: IntArray = codes.cast(pl.Int64, strict=False).fill_null(-1).to_numpy()
    return as_int


def _category_ids(column: pl.Series) -> tuple[list[str], IntArray]:
    """The distinct values of a text column and each row's index into them (-1 for null)."""
    names: list[str] = column.unique().drop_nulls().sort().to_list()
    ids: IntArray = (column.cast(pl.Enum(names)).to_physical().cast(pl.Int64)
                     .fill_null(-1).to_numpy())
    return names, ids


def _lookup_mask(ids: IntArray, names: Sequence[str], wanted: Iterable[str]) -> BoolArray:
    """Rows whose category is one of ``wanted`` (a table lookup, not a set search)."""
    table = np.zeros(len(names) + 1, dtype=bool)  # the extra last slot answers -1 (null)
    for name in wanted:
        if name in names:
            table[list(names).index(name)] = True
    chosen: BoolArray = table[ids]
    return chosen


def build_hierarchy(divisions: pl.DataFrame, *, as_of: dt.date) -> Hierarchy:
    """Arrays of the hierarchy in force on ``as_of``; broken links raise ValidationError."""
    table = _conform(divisions, DIVISION_SCHEMA, "divisions")
    if "valid_from" in divisions.columns:
        valid_from = divisions["valid_from"].cast(pl.Date)
        keep = valid_from.is_null() | (valid_from <= as_of)
        if "valid_to" in divisions.columns:
            valid_to = divisions["valid_to"].cast(pl.Date)
            keep = keep & (valid_to.is_null() | (valid_to > as_of))
        table = table.filter(keep)
    # sorting on the integer code is much faster than on the text
    table = (table.filter(pl.col("code") != NATION_CODE)
             .with_columns(pl.col("code").cast(pl.Int64, strict=False).alias("code_int"))
             .sort("level", "code_int", nulls_last=True))
    nation = pl.DataFrame({"code": [NATION_CODE], "level": [0], "parent_code": [None],
                           "urban_rural": [None], "kind": ["nation"], "code_int": [0]},
                          schema={**DIVISION_SCHEMA, "code_int": pl.Int64()})
    table = pl.concat([nation, table])
    as_int = table["code_int"]
    problems: list[Problem] = []
    if as_int.null_count():
        bad = table["code"].filter(as_int.is_null()).head(5).to_list()
        problems.append(Problem("divisions", f"codes that are not 12 digits: {bad}"))
    code_int = as_int.fill_null(-1).to_numpy()
    sorted_to_internal = np.argsort(code_int, kind="stable").astype(np.int64)
    sorted_code_int = code_int[sorted_to_internal]
    if len(code_int) > 1 and (np.diff(sorted_code_int) == 0).any():
        dup = table["code"].filter(table["code"].is_duplicated()).unique().head(5).to_list()
        problems.append(Problem("divisions", f"codes in force twice on {as_of}: {dup}",
                                hint="close the old version (valid_to) before the new starts"))
    if problems:
        raise ValidationError(problems, summary="the hierarchy cannot be built")
    level = table["level"].to_numpy().astype(np.int8)
    parent_codes = table.select(
        pl.when(pl.col("level") <= 1).then(pl.lit(NATION_CODE))
        .otherwise(pl.col("parent_code").fill_null(NATION_CODE)))["literal"]
    parent_int = _codes_to_int(parent_codes)
    position = np.minimum(np.searchsorted(sorted_code_int, parent_int), len(code_int) - 1)
    parent = sorted_to_internal[position]
    ok = sorted_code_int[position] == parent_int
    ok[0] = True
    ok[1:] &= level[parent[1:]] < level[1:]
    if not ok.all():
        bad_rows = np.flatnonzero(~ok)
        raise ValidationError(
            [Problem("divisions", f"{table['code'][int(i)]} (level {int(level[i])}) has parent "
                     f"{parent_codes[int(i)]} which is not in force on {as_of} or not above it")
             for i in bad_rows[:50]],
            summary=f"{len(bad_rows)} division(s) have no parent in force on {as_of}")
    parent[0] = -1
    boundaries = np.flatnonzero(np.diff(level)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(level)]])
    blocks = tuple((int(level[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True))
    contiguous = all(b[0] == i for i, b in enumerate(blocks)) and bool(
        (level[parent[1:]] == level[1:] - 1).all())
    order = []
    for lvl in (5, 4, 3, 2, 1):
        child = np.flatnonzero(level == lvl)
        if len(child) and not contiguous:
            # parents as a compact list, so each step touches only this level's rows
            parents, local = np.unique(parent[child], return_inverse=True)
            order.append((child, parents.astype(np.int64), local.astype(np.int64)))
    return Hierarchy(table["code"], code_int, level, parent, table["urban_rural"],
                     table["kind"], sorted_code_int, sorted_to_internal, blocks, tuple(order),
                     contiguous)


# --- evaluation ----------------------------------------------------------------------


def _year_end_days(year: int) -> int:
    return (dt.date(year, 12, 31) - dt.date(1970, 1, 1)).days


class _Facilities:
    """Facilities as arrays, with the holder index resolved once for every period."""

    def __init__(self, table: pl.DataFrame, hierarchy: Hierarchy) -> None:
        table = _conform(table, FACILITY_SCHEMA, "facilities")
        holder, found = hierarchy.index_of(table["division_code"])
        self.dropped = int((~found).sum())
        if self.dropped:
            _report_dropped("facilities", self.dropped)
            table = table.filter(pl.Series(found))
            holder = holder[found]
        self.holder = holder
        self.type_names, self.type_id = _category_ids(table["type_code"])
        self._status = table["status"]
        self._status_masks: dict[tuple[str, ...], BoolArray] = {}
        never = np.iinfo(np.int64).max
        self.opened = table["opened_on"].to_physical().cast(pl.Int64).fill_null(
            -never).to_numpy()
        self.closed = table["closed_on"].to_physical().cast(pl.Int64).fill_null(
            never).to_numpy()
        self._table = table
        self._columns: dict[str, FloatArray] = {}
        self._active: dict[int, BoolArray] = {}
        self._type_masks: dict[tuple[str, ...], BoolArray] = {}

    def column(self, name: str) -> FloatArray:
        """``floor_area``, ``activity_area``, ``capacity`` (0 when missing) or
        ``floor_area_raw`` (NaN when missing), converted once."""
        if name not in self._columns:
            source = {"floor_area": "floor_area_m2", "activity_area": "activity_area_m2",
                      "capacity": "capacity", "floor_area_raw": "floor_area_m2"}[name]
            fill = np.nan if name == "floor_area_raw" else 0.0
            self._columns[name] = self._table[source].fill_null(fill).to_numpy()
        return self._columns[name]

    def type_mask(self, types: tuple[str, ...]) -> BoolArray:
        if types not in self._type_masks:
            self._type_masks[types] = _lookup_mask(self.type_id, self.type_names, types)
        return self._type_masks[types]

    def status_mask(self, statuses: Sequence[str]) -> BoolArray:
        # a few statuses: comparing the texts is cheaper than categorising every row
        key = tuple(statuses)
        if key not in self._status_masks:
            self._status_masks[key] = self._status.is_in(list(key)).fill_null(
                value=False).to_numpy()
        return self._status_masks[key]

    def active(self, period: int) -> BoolArray:
        """In service in ``period`` by status and dates (see the module docstring)."""
        if period not in self._active:
            end = _year_end_days(period)
            by_status = self.status_mask(ACTIVE_STATUSES) | (
                self.status_mask(("closed",)) & (self.closed > end))
            self._active[period] = by_status & (self.opened <= end) & (self.closed > end)
        return self._active[period]


def _report_dropped(table: str, rows: int) -> None:
    # Expected when units merged or were abolished: their rows no longer have a place.
    LOG.warning("%s: %d row(s) refer to divisions not in force on the hierarchy date and "
                "are left out", table, rows)


class _Rows:
    """A long table (population, workforce, inputs, access) resolved to holder indices."""

    def __init__(self, table: pl.DataFrame, hierarchy: Hierarchy, *, name: str) -> None:
        holder, found = hierarchy.index_of(table["division_code"])
        if not found.all():
            _report_dropped(name, int((~found).sum()))
            table = table.filter(pl.Series(found))
            holder = holder[found]
        self.table = table
        self.holder = holder
        self._numbers: dict[str, FloatArray] = {}
        self._masks: dict[tuple[str, ...], BoolArray] = {}

    def numbers(self, column: str) -> FloatArray:
        """A numeric column as floats (0 for missing), converted once."""
        if column not in self._numbers:
            self._numbers[column] = self.table[column].cast(pl.Float64).fill_null(
                0.0).to_numpy()
        return self._numbers[column]

    def mask(self, column: str, wanted: Iterable[str]) -> BoolArray:
        """Rows whose text ``column`` is one of ``wanted`` (few values: compare the texts)."""
        key = (column, *wanted)
        if key not in self._masks:
            self._masks[key] = self.table[column].is_in(list(key[1:])).fill_null(
                value=False).to_numpy()
        return self._masks[key]


class _PeriodTables:
    """Population, workforce and inputs of one period, indexed by holder, and which
    access rows speak for it."""

    def __init__(self, tables: _Prepared, period: int) -> None:
        hierarchy = tables.hierarchy
        self.population = _Rows(tables.population.filter(pl.col("period") == period),
                                hierarchy, name=f"population {period}")
        self.workforce = _Rows(tables.workforce.filter(pl.col("period") == period), hierarchy,
                               name=f"workforce {period}")
        self.inputs = _Rows(tables.inputs.filter(pl.col("period") == period), hierarchy,
                            name=f"inputs {period}")
        self._access = tables.access.table
        self._period = period

    @cached_property
    def access_rows(self) -> BoolArray:
        """The access rows of this period (chosen on first use: only life-circle
        indicators read them, and the table can hold millions of rows)."""
        return access_rows_for(self._access, self._period)


# Order of preference among the access rows of one key for year Y (smaller first).
_LATER = 1_000_000
_UNDATED = 2_000_000


def access_rows_for(access: pl.DataFrame, period: int) -> BoolArray:
    """Which access rows speak for year ``period``: per (community, type, distance) the
    row of that year, else of the latest year before it, else of the earliest year after
    it (coverage is computed for the years someone asked for, not necessarily every
    year), else the undated row."""
    if access["period"].n_unique() <= 1:
        # one year (or undated) throughout, as usually stored: every row speaks for it,
        # and grouping millions of rows per period would cost more than the indicators
        return np.ones(access.height, dtype=np.bool_)
    chosen = np.zeros(access.height, dtype=np.bool_)
    year = pl.col("period")
    preference = (pl.when(year.is_null()).then(_UNDATED)
                  .when(year <= period).then(period - year)
                  .otherwise(_LATER + year - period))
    rows = (access.select("division_code", "facility_type", "distance_m",
                          preference.alias("preference"))
            .with_row_index("row")
            .sort("preference")
            .group_by("division_code", "facility_type", "distance_m", maintain_order=True)
            .first()["row"].to_numpy())
    chosen[rows] = True
    return chosen


@dataclass
class _Prepared:
    hierarchy: Hierarchy
    facilities: _Facilities
    population: pl.DataFrame
    workforce: pl.DataFrame
    access: _Rows
    inputs: pl.DataFrame
    cache: dict[tuple[int, str], FloatArray] = field(default_factory=dict)


def prepare(tables: MeasureTables, *, as_of: dt.date) -> _Prepared:
    """Resolve every table against the hierarchy in force on ``as_of`` (done once); data
    on codes of another date's hierarchy are mapped through ``tables.links``
    (:mod:`shequ.indicators.remap`)."""
    hierarchy = build_hierarchy(tables.divisions, as_of=as_of)
    facilities = tables.facilities
    population = _conform(tables.population, POPULATION_SCHEMA, "population")
    workforce = _conform(tables.workforce, WORKFORCE_SCHEMA, "workforce")
    inputs = _conform(tables.inputs, INPUT_SCHEMA, "inputs")
    if tables.links.height:
        facilities = facilities_to_hierarchy(facilities, tables.links, hierarchy.codes,
                                             as_of=as_of)
        population = to_hierarchy(population, tables.links, as_of=as_of,
                                  columns=list(POPULATION_SCHEMA)[2:])
        workforce = to_hierarchy(workforce, tables.links, as_of=as_of, columns=["headcount"])
        inputs = to_hierarchy(inputs, tables.links, as_of=as_of, columns=["value"])
    return _Prepared(
        hierarchy=hierarchy,
        facilities=_Facilities(facilities, hierarchy),
        population=population,
        workforce=workforce,
        access=_Rows(_conform(tables.access, ACCESS_SCHEMA, "access"), hierarchy,
                     name="access"),
        inputs=inputs,
    )


class Evaluator:
    """Evaluates expressions to per-holder vectors for one period (with a shared cache)."""

    def __init__(self, prepared: _Prepared, period: int) -> None:
        self.prepared = prepared
        self.hierarchy = prepared.hierarchy
        self.period = period
        self.period_tables = _PeriodTables(prepared, period)
        self.n = prepared.hierarchy.size

    def _cached(self, key: str, make: Callable[[], FloatArray]) -> FloatArray:
        full = (self.period, key)
        if full not in self.prepared.cache:
            self.prepared.cache[full] = make()
        return self.prepared.cache[full]

    def _bincount(self, holder: IntArray, weights: FloatArray | None) -> FloatArray:
        counted: FloatArray = np.bincount(holder, weights=weights, minlength=self.n).astype(
            np.float64, copy=False)
        return counted

    def own(self, node: Expr) -> FloatArray:
        """What each division itself holds (before rolling up)."""
        if isinstance(node, Number):
            return np.full(self.n, node.value)
        if isinstance(node, Scale):
            return self.own(node.expr) * node.factor
        if isinstance(node, BinOp):
            left, right = self.own(node.left), self.own(node.right)
            return left + right if node.op == "+" else left - right
        return self._cached(node.key, lambda: self._measure(node))

    def _measure(self, node: Measure) -> FloatArray:
        base = self._base(node)
        if node.filter is None:
            return base
        return np.where(self.condition(node.filter), base, 0.0)

    def _base(self, node: Measure) -> FloatArray:
        name = node.name
        if name == "units":
            units: FloatArray = (self.hierarchy.level == 5).astype(np.float64)
            return units
        if name in ("facilities", "floor_area", "activity_area", "capacity"):
            return self._facility_measure(node)
        if name == "workers":
            work = self.period_tables.workforce
            mask = work.mask("role", node.types)
            certification = node.option("certification")
            if certification is not None:
                mask &= work.mask("certification", certification)
            return self._bincount(work.holder[mask], work.numbers("headcount")[mask])
        if name == "input":
            extra = self.period_tables.inputs
            mask = extra.mask("measure", node.types)
            return self._bincount(extra.holder[mask], extra.numbers("value")[mask])
        if name.endswith("_within"):
            return self._within(node)
        pop = self.period_tables.population
        return self._bincount(pop.holder, pop.numbers(name))

    def _facility_measure(self, node: Measure) -> FloatArray:
        fac = self.prepared.facilities
        status = node.option("status")
        mask = fac.type_mask(node.types) & (
            fac.active(self.period) if status is None else fac.status_mask(status))
        below = node.option("floor_area_below")
        if below is not None:
            mask = mask & (fac.column("floor_area_raw") < float(below[0]))
        at_least = node.option("floor_area_at_least")
        if at_least is not None:
            mask = mask & (fac.column("floor_area_raw") >= float(at_least[0]))
        weights = None if node.name == "facilities" else fac.column(node.name)[mask]
        return self._bincount(fac.holder[mask], weights)

    def _within(self, node: Measure) -> FloatArray:
        """population × covered_share of the (type, distance) access row that speaks for
        the period (:func:`access_rows_for`); 0 without one."""
        base_name = node.name[: -len("_within")]
        population = self._cached(base_name, lambda: self._base(Measure(base_name, "")))
        access = self.prepared.access
        mask = self.period_tables.access_rows & access.mask("facility_type", node.types) & (
            access.numbers("distance_m") == node.distance_m)
        share = np.zeros(self.n)
        share[access.holder[mask]] = np.clip(access.numbers("covered_share")[mask], 0.0, 1.0)
        covered: FloatArray = population * share
        return covered

    def condition(self, cond: Condition) -> BoolArray:
        """Which holders satisfy ``cond`` (attributes only hold for community-level units)."""
        hierarchy = self.hierarchy
        if isinstance(cond, Attribute):
            unit: BoolArray = hierarchy.level == 5
            if cond.name in ("urban", "rural"):
                first = "1" if cond.name == "urban" else "2"
                chosen: BoolArray = hierarchy.urban_rural.str.starts_with(first).fill_null(
                    False).to_numpy()
            else:
                column = hierarchy.urban_rural if cond.name == "class" else hierarchy.kind
                chosen = column.is_in(list(cond.values)).fill_null(False).to_numpy()
            return unit & chosen
        if isinstance(cond, Has):
            return self._cached(f"has:{','.join(cond.types)}", lambda: self._base(
                Measure("facilities", "facilities", types=cond.types))) > 0
        if isinstance(cond, Compare):
            values = self.own(cond.expr)
            compared: BoolArray = {">=": values >= cond.value, ">": values > cond.value,
                    "<=": values <= cond.value, "<": values < cond.value,
                    "==": values == cond.value, "!=": values != cond.value}[cond.op]
            return compared
        if isinstance(cond, Logic):
            left, right = self.condition(cond.left), self.condition(cond.right)
            both: BoolArray = left & right if cond.op == "and" else left | right
            return both
        negated: BoolArray = ~self.condition(cond.cond)
        return negated


# --- the public core -----------------------------------------------------------------


def compute_indicators(tables: MeasureTables, catalog: IndicatorCatalog, *, as_of: dt.date,
                       periods: Iterable[int], indicators: Iterable[str] | None = None,
                       prepared: _Prepared | None = None) -> pl.DataFrame:
    """Every indicator for every division in force on ``as_of``, at every level and period.

    Returns one row per (indicator, division, period) with columns ``indicator,
    division_code, level`` (0 = nation), ``period, numerator, denominator, value`` where
    ``value = factor × numerator / denominator`` (null when the denominator is 0; the
    numerator itself times the factor when the indicator has no denominator).  An
    indicator with a scope (a province's own) has rows only for divisions in it.
    """
    chosen = [catalog.indicator(code) for code in (indicators or catalog.indicators)]
    period_list = sorted({int(p) for p in periods})
    if not period_list:
        raise ValidationError([Problem("periods", "no period asked for",
                                       hint="give at least one year, e.g. 2024")])
    ready = prepared or prepare(tables, as_of=as_of)
    hierarchy = ready.hierarchy
    level = pl.Series("level", hierarchy.level, dtype=pl.Int8)
    # Columns are assembled from one chunk per (indicator, period): no copies of the
    # national-size arrays, which is where most of the time would otherwise go.
    parts: dict[str, list[pl.Series]] = {name: [] for name in RESULT_SCHEMA}
    for period in period_list:
        evaluator = Evaluator(ready, period)
        totals: dict[str, FloatArray] = {}

        def rolled(expr: Expr, evaluator: Evaluator = evaluator,
                   totals: dict[str, FloatArray] = totals) -> FloatArray:
            key = render(expr)
            if key not in totals:
                totals[key] = hierarchy.rollup(evaluator.own(expr))
            return totals[key]

        for indicator in chosen:
            definition = indicator.definition
            numerator = rolled(definition.numerator)
            if definition.denominator is None:
                denominator = np.full(hierarchy.size, np.nan)
                value = numerator * definition.factor
            else:
                denominator = rolled(definition.denominator)
                with np.errstate(divide="ignore", invalid="ignore"):
                    value = np.where(denominator != 0,
                                     definition.factor * numerator / denominator, np.nan)
            keep: BoolArray | None = None
            count = hierarchy.size
            codes, levels = hierarchy.codes, level
            if indicator.scope != NATION_CODE:
                keep = hierarchy.prefix_mask(indicator.scope)
                numerator, denominator, value = numerator[keep], denominator[keep], value[keep]
                count = int(keep.sum())
                codes, levels = codes.filter(pl.Series(keep)), level.filter(pl.Series(keep))
            parts["indicator"].append(pl.Series([indicator.code], dtype=pl.String)
                                      .new_from_index(0, count))
            parts["division_code"].append(codes)
            parts["level"].append(levels)
            parts["period"].append(pl.Series([period], dtype=pl.Int32).new_from_index(0, count))
            parts["numerator"].append(pl.Series(numerator))
            parts["denominator"].append(pl.Series(denominator, nan_to_null=True))
            parts["value"].append(pl.Series(value, nan_to_null=True))
    if not parts["indicator"]:
        return empty_table(RESULT_SCHEMA)
    return pl.DataFrame({name: pl.concat(chunks, rechunk=False).alias(name)
                         for name, chunks in parts.items()})


def holder_values(tables: MeasureTables, expression: Expr, *, as_of: dt.date, period: int,
                  prepared: _Prepared | None = None) -> pl.DataFrame:
    """One measure expression per division: ``division_code, level, own, total``.

    ``own`` is what the division itself holds, ``total`` its whole subtree; used for
    assessment penalties and short-board "people affected".
    """
    ready = prepared or prepare(tables, as_of=as_of)
    evaluator = Evaluator(ready, period)
    own = evaluator.own(expression)
    return pl.DataFrame({
        "division_code": ready.hierarchy.codes,
        "level": pl.Series(ready.hierarchy.level, dtype=pl.Int8),
        "own": own, "total": ready.hierarchy.rollup(own),
    })


__all__ = [
    "ACCESS_SCHEMA", "DIVISION_SCHEMA", "FACILITY_SCHEMA", "INPUT_SCHEMA", "POPULATION_SCHEMA",
    "RESULT_SCHEMA", "WORKFORCE_SCHEMA", "Hierarchy", "MeasureTables", "build_hierarchy",
    "compute_indicators", "holder_values", "people_by_division", "prepare",
]


def people_by_division(tables: MeasureTables, *, as_of: dt.date, period: int,
                       prepared: _Prepared | None = None) -> pl.DataFrame:
    """Every person measure (residents, age groups …) summed over each division's subtree."""
    ready = prepared or prepare(tables, as_of=as_of)
    evaluator = Evaluator(ready, period)
    columns: dict[str, pl.Series] = {
        "division_code": ready.hierarchy.codes,
        "level": pl.Series(ready.hierarchy.level, dtype=pl.Int8),
    }
    for name in PERSON_MEASURES:
        columns[name] = pl.Series(name, ready.hierarchy.rollup(
            evaluator.own(Measure(name, "persons"))))
    return pl.DataFrame(columns)
