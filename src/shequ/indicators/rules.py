"""Validation rules and outlier checks for reported figures: a pure, vectorised core.

A *rule* compares two expressions of the indicator expression language
(:mod:`shequ.indicators.expr`) evaluated on one unit's reported figures::

    left(current figures)  OP  right(current or previous period's figures)

with ``OP`` one of ``== != < <= > >=`` (the rule holds when the comparison is true), or
``compulsory_pair`` (both sides reported or neither) or ``exclusive_pair`` (never both).
A comparison whose side cannot be computed (a figure missing) is skipped, as DHIS2 does
with its default "skip if any value missing" strategy.  An *error* blocks a submission;
a *warning* needs a comment.

An *outlier check* compares one figure with the unit's own history ``h₁ … hₙ``:

* ``z_score``: ``|x − mean(h)| / sd(h) > threshold`` (sample sd; default 3);
* ``modified_z``: ``0.6745 · |x − median(h)| / MAD(h) > threshold`` (Iglewicz and
  Hoaglin 1993, default 3.5);
* ``min_max``: ``x`` outside ``[min(h)·(1 − margin), max(h)·(1 + margin)]``, further
  bounded by fixed ``min`` / ``max`` when given.

With a spread of zero (every past value equal) the scores are undefined and the unit is
not judged: a change against a flat history is the rules' business (e.g. "no more than
20% on last period").
Checks need ``min_history`` past values (3 by default, 1 for min–max), else they are
skipped for that unit.

Rules are data: ``catalog/validation_rules.toml`` and, in a deployment's catalog folder,
``validation_rules*.toml`` files (a province adds its own rules, each with the
``jurisdiction`` it applies under).  Figures are keyed by the canonical text of their
measure (``residents``, ``workers(community_worker)``,
``input(residential_floor_area)``) — the form's field names.

Everything here takes arrays (one entry per unit) and mappings; nothing reads the
database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shequ.catalog import PACKAGED_DIR, load_catalog, read_toml
from shequ.errors import CatalogError, ExpressionError
from shequ.indicators.definitions import NATION_CODE, jurisdiction_covers
from shequ.indicators.expr import (
    BinOp,
    Expr,
    Measure,
    Number,
    Scale,
    Vocabulary,
    measures_of,
    parse_expression,
    render,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

COMPARISON_OPERATORS = ("==", "!=", "<", "<=", ">", ">=")
PAIR_OPERATORS = ("compulsory_pair", "exclusive_pair")
OPERATORS = COMPARISON_OPERATORS + PAIR_OPERATORS
IMPORTANCES = ("error", "warning")
OUTLIER_METHODS = {"z_score": 3.0, "modified_z": 3.5, "min_max": 0.0}
PERIODS = ("current", "previous")
# Iglewicz and Hoaglin's constant: 0.6745 = Φ⁻¹(0.75), so that MAD/0.6745 estimates σ.
MAD_CONSTANT = 0.6745
# Relative tolerance of == and != (figures are counts and areas, not exact binary floats).
EQUAL_TOLERANCE = 1e-9
PACKAGED_RULES = PACKAGED_DIR / "validation_rules.toml"
CODE_RE = re.compile(r"[a-z][a-z0-9_]{0,47}")


@dataclass(frozen=True, slots=True)
class Rule:
    """``left OP right``: a relation that reported figures must satisfy."""

    code: str
    left: Expr
    left_text: str
    operator: str
    right: Expr
    right_text: str
    importance: str
    message_zh: str
    message_en: str
    field: str | None
    right_period: str = "current"
    jurisdiction: str = NATION_CODE

    def message(self, lang: str) -> str:
        """The message template in ``lang`` (``{left}`` and ``{right}`` placeholders)."""
        return self.message_zh if lang.startswith("zh") else self.message_en

    @property
    def fields(self) -> tuple[str, ...]:
        """The figures the rule reads (canonical measure texts)."""
        keys = dict.fromkeys(m.key for m in (*measures_of(self.left), *measures_of(self.right)))
        return tuple(keys)


@dataclass(frozen=True, slots=True)
class OutlierCheck:
    """One figure compared with the unit's history by ``method``."""

    code: str
    field: str
    method: str
    threshold: float
    importance: str
    message_zh: str
    message_en: str
    min_history: int = 3
    lower: float | None = None
    upper: float | None = None
    jurisdiction: str = NATION_CODE

    def message(self, lang: str) -> str:
        """The message template in ``lang`` (``{value}``, ``{low}``, ``{high}``, ``{score}``)."""
        return self.message_zh if lang.startswith("zh") else self.message_en


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rule and outlier check in force, with the files they came from."""

    rules: tuple[Rule, ...]
    outliers: tuple[OutlierCheck, ...]
    files: tuple[str, ...] = ()

    def for_unit(self, division_code: str) -> RuleSet:
        """The rules and checks whose jurisdiction covers ``division_code``."""
        return RuleSet(tuple(r for r in self.rules if jurisdiction_covers(r.jurisdiction,
                                                                          division_code)),
                       tuple(o for o in self.outliers if jurisdiction_covers(o.jurisdiction,
                                                                             division_code)),
                       self.files)

    def by_code(self) -> dict[str, Rule | OutlierCheck]:
        """Every rule and check by its code."""
        found: dict[str, Rule | OutlierCheck] = {r.code: r for r in self.rules}
        found.update({o.code: o for o in self.outliers})
        return found

    @property
    def fields(self) -> tuple[str, ...]:
        """Every figure some rule or check reads."""
        keys: dict[str, None] = {}
        for rule in self.rules:
            keys.update(dict.fromkeys(rule.fields))
        keys.update(dict.fromkeys(o.field for o in self.outliers))
        return tuple(keys)


# --- loading -------------------------------------------------------------------------


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where}: {key} is missing; give a text, e.g. {key} = \"…\"")
    return value.strip()


def _choice(entry: Mapping[str, Any], key: str, allowed: Sequence[str], default: str,
            where: str) -> str:
    value = str(entry.get(key, default))
    if value not in allowed:
        raise CatalogError(f"{where}: {key} = {value!r} must be one of {', '.join(allowed)}")
    return value


def _jurisdiction(entry: Mapping[str, Any], where: str) -> str:
    text = str(entry.get("jurisdiction", "nation")).strip()
    if text in ("", "0", "nation", "national", NATION_CODE):
        return NATION_CODE
    if not text.isdigit() or len(text) not in (2, 4, 6, 9, 12):
        raise CatalogError(f"{where}: jurisdiction {text!r} is not a division code; use a "
                           "12-digit code or its 2/4/6/9-digit prefix (\"nation\" for all)")
    return text.ljust(12, "0")


def _code(entry: Mapping[str, Any], where: str, seen: set[str]) -> str:
    code = _text(entry, "code", where)
    if not CODE_RE.fullmatch(code):
        raise CatalogError(f"{where}: code {code!r} must be lower-case letters, digits and _ "
                           "(at most 48), starting with a letter")
    if code in seen:
        raise CatalogError(f"{where}: code {code!r} is used twice; codes name rules in the "
                           "violations list, so each must be unique")
    seen.add(code)
    return code


def _expression(text: str, vocabulary: Vocabulary, where: str) -> Expr:
    try:
        node = parse_expression(text, vocabulary, where=where)
    except ExpressionError as exc:
        raise CatalogError(str(exc)) from None
    for measure in measures_of(node):
        if measure.filter is not None or measure.distance_m is not None:
            raise CatalogError(f"{where}: {render(measure)!r} is computed, not reported; a "
                               "rule reads the figures a unit reports (no [filter], no "
                               "_within coverage)")
    return node


def _rule(entry: Mapping[str, Any], vocabulary: Vocabulary, where: str, seen: set[str]) -> Rule:
    code = _code(entry, where, seen)
    where = f"{where} ({code})"
    operator = _choice(entry, "operator", OPERATORS, "", where)
    left_text, right_text = _text(entry, "left", where), _text(entry, "right", where)
    left = _expression(left_text, vocabulary, f"{where}, left")
    right = _expression(right_text, vocabulary, f"{where}, right")
    period = _choice(entry, "right_period", PERIODS, "current", where)
    field = entry.get("field")
    left_keys = [m.key for m in measures_of(left)]
    if field is None:
        field = left_keys[0] if left_keys else None
    elif not isinstance(field, str) or field not in {*left_keys,
                                                       *(m.key for m in measures_of(right))}:
        raise CatalogError(f"{where}: field {field!r} is not a figure the rule reads; the "
                           f"message is shown beside it (figures: {', '.join(left_keys)})")
    return Rule(code, left, left_text, operator, right, right_text,
                _choice(entry, "importance", IMPORTANCES, "error", where),
                _text(entry, "message_zh", where), _text(entry, "message_en", where),
                field, period, _jurisdiction(entry, where))


def _outlier(entry: Mapping[str, Any], vocabulary: Vocabulary, where: str,
             seen: set[str]) -> OutlierCheck:
    code = _code(entry, where, seen)
    where = f"{where} ({code})"
    field_text = _text(entry, "field", where)
    node = _expression(field_text, vocabulary, f"{where}, field")
    if not isinstance(node, Measure):
        raise CatalogError(f"{where}: field {field_text!r} must be one reported figure")
    method = _choice(entry, "method", tuple(OUTLIER_METHODS), "modified_z", where)
    threshold = float(entry.get("threshold", OUTLIER_METHODS[method]))
    if threshold < 0 or (method != "min_max" and threshold == 0):
        raise CatalogError(f"{where}: threshold {threshold} must be positive")
    lower, upper = entry.get("min"), entry.get("max")
    for name, bound in (("min", lower), ("max", upper)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)):
            raise CatalogError(f"{where}: {name} = {bound!r} must be a number")
    history = int(entry.get("min_history", 1 if method == "min_max" else 3))
    if history < 1 or (method == "z_score" and history < 2):
        raise CatalogError(f"{where}: min_history {history} is too small for {method}")
    return OutlierCheck(code, node.key, method, threshold,
                        _choice(entry, "importance", IMPORTANCES, "warning", where),
                        _text(entry, "message_zh", where), _text(entry, "message_en", where),
                        history, None if lower is None else float(lower),
                        None if upper is None else float(upper), _jurisdiction(entry, where))


def rule_files(catalog_dir: Path | None = None) -> list[Path]:
    """The packaged rules and every ``validation_rules*.toml`` of the deployment's folder
    (a file named ``validation_rules.toml`` there replaces the packaged one)."""
    extra = sorted(Path(catalog_dir).glob("validation_rules*.toml")) if catalog_dir else []
    replaced = any(p.name == PACKAGED_RULES.name for p in extra)
    return ([] if replaced else [PACKAGED_RULES]) + extra


def parse_rules(documents: Iterable[tuple[str, Mapping[str, Any]]], *,
                vocabulary: Vocabulary) -> RuleSet:
    """Check rule documents (already parsed TOML) and build the rule set."""
    rules: list[Rule] = []
    outliers: list[OutlierCheck] = []
    seen: set[str] = set()
    files: list[str] = []
    for where, data in documents:
        files.append(where)
        for index, entry in enumerate(data.get("rule", []), start=1):
            rules.append(_rule(entry, vocabulary, f"{where}, rule #{index}", seen))
        for index, entry in enumerate(data.get("outlier", []), start=1):
            outliers.append(_outlier(entry, vocabulary, f"{where}, outlier #{index}", seen))
    return RuleSet(tuple(rules), tuple(outliers), tuple(files))


def load_rules(catalog_dir: Path | None = None, *,
               inputs: Mapping[str, str] | None = None) -> RuleSet:
    """Read the rule files in force; ``inputs`` are the declared indicator inputs."""
    if inputs is None:
        from shequ.indicators.definitions import load_indicator_catalog

        inputs = load_indicator_catalog(catalog_dir).inputs
    vocabulary = Vocabulary(frozenset(load_catalog(catalog_dir).facility_types), inputs)
    return parse_rules(((str(p), read_toml(p)) for p in rule_files(catalog_dir)),
                       vocabulary=vocabulary)


# --- evaluation ----------------------------------------------------------------------


def evaluate(node: Expr, figures: Mapping[str, FloatArray], size: int) -> FloatArray:
    """The expression for every unit; NaN where a figure it needs is missing."""
    if isinstance(node, Number):
        return np.full(size, node.value)
    if isinstance(node, Measure):
        values = figures.get(node.key)
        return np.full(size, np.nan) if values is None else np.asarray(values, dtype=np.float64)
    if isinstance(node, Scale):
        return evaluate(node.expr, figures, size) * node.factor
    if isinstance(node, BinOp):
        left, right = evaluate(node.left, figures, size), evaluate(node.right, figures, size)
        return left + right if node.op == "+" else left - right
    raise TypeError(f"not an expression: {node!r}")


def _compare(left: FloatArray, operator: str, right: FloatArray) -> BoolArray:
    """Where ``left OP right`` holds (NaN sides compare as holding: skipped)."""
    tolerance = EQUAL_TOLERANCE * np.maximum(1.0, np.maximum(np.abs(left), np.abs(right)))
    with np.errstate(invalid="ignore"):
        equal = np.abs(left - right) <= tolerance
        outcome: BoolArray
        if operator == "==":
            outcome = equal
        elif operator == "!=":
            outcome = ~equal
        elif operator == "<":
            outcome = (left < right) & ~equal
        elif operator == "<=":
            outcome = (left <= right) | equal
        elif operator == ">":
            outcome = (left > right) & ~equal
        else:
            outcome = (left >= right) | equal
    return outcome | np.isnan(left) | np.isnan(right)


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """Where one rule is broken, with both sides' values for every unit."""

    rule: Rule
    broken: BoolArray
    left: FloatArray
    right: FloatArray


def check_rules(rules: Iterable[Rule], current: Mapping[str, FloatArray],
                previous: Mapping[str, FloatArray] | None = None, *,
                size: int) -> list[RuleOutcome]:
    """Evaluate every rule for ``size`` units at once (figures keyed by measure text)."""
    previous = previous or {}
    outcomes = []
    for rule in rules:
        left = evaluate(rule.left, current, size)
        right = evaluate(rule.right, previous if rule.right_period == "previous" else current,
                         size)
        if rule.operator in PAIR_OPERATORS:
            has_left, has_right = ~np.isnan(left), ~np.isnan(right)
            broken = (has_left ^ has_right if rule.operator == "compulsory_pair"
                      else has_left & has_right)
        else:
            broken = ~_compare(left, rule.operator, right)
        outcomes.append(RuleOutcome(rule, broken, left, right))
    return outcomes


@dataclass(frozen=True, slots=True)
class OutlierOutcome:
    """Where one figure is an outlier against its history, with the bounds used."""

    check: OutlierCheck
    flagged: BoolArray
    value: FloatArray
    score: FloatArray  # z or modified z (NaN for min–max)
    low: FloatArray
    high: FloatArray


def _spread_score(deviation: FloatArray, spread: FloatArray) -> FloatArray:
    """``|deviation| / spread``, NaN (not judged) where the spread is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.abs(deviation) / spread
    score[~(spread > 0)] = np.nan
    return score


def _row_median(values: FloatArray) -> FloatArray:
    """Each row's median, NaN left out (np.median's partition when there is none)."""
    if not np.isnan(values).any():
        return np.median(values, axis=1)
    return np.nanmedian(values, axis=1)


def check_outliers(check: OutlierCheck, value: FloatArray, history: FloatArray
                   ) -> OutlierOutcome:
    """Flag ``value[i]`` against row ``history[i]`` (units × past periods, NaN = none).

    The bounds returned are the values beyond which a figure is flagged (for the message).
    """
    value = np.asarray(value, dtype=np.float64)
    history = np.asarray(history, dtype=np.float64)
    history = history.reshape(len(value), -1) if len(value) else np.empty((0, 0))
    count = np.sum(~np.isnan(history), axis=1)
    enough = (count >= check.min_history) & ~np.isnan(value)
    size = len(value)
    score = np.full(size, np.nan)
    low, high = np.full(size, np.nan), np.full(size, np.nan)
    rows = np.flatnonzero(enough)
    flagged = np.zeros(size, dtype=np.bool_)
    if rows.size:
        past, current = history[rows], value[rows]
        if check.method == "z_score":
            centre = np.nanmean(past, axis=1)
            spread = np.nanstd(past, axis=1, ddof=1)
            score[rows] = _spread_score(current - centre, spread)
            low[rows], high[rows] = (centre - check.threshold * spread,
                                     centre + check.threshold * spread)
        elif check.method == "modified_z":
            centre = _row_median(past)
            mad = _row_median(np.abs(past - centre[:, None]))
            score[rows] = MAD_CONSTANT * _spread_score(current - centre, mad)
            reach = check.threshold * mad / MAD_CONSTANT
            low[rows], high[rows] = centre - reach, centre + reach
        else:
            low[rows] = np.nanmin(past, axis=1) * (1 - check.threshold)
            high[rows] = np.nanmax(past, axis=1) * (1 + check.threshold)
        if check.method == "min_max":
            flagged[rows] = (current < low[rows]) | (current > high[rows])
        else:
            judged = ~np.isnan(score[rows])
            flagged[rows] = judged & (np.nan_to_num(score[rows]) > check.threshold)
            low[rows[~judged]], high[rows[~judged]] = np.nan, np.nan
    # fixed bounds apply with or without history
    present = ~np.isnan(value)
    if check.lower is not None:
        flagged |= present & (value < check.lower)
        low = np.where(np.isnan(low), check.lower, np.maximum(low, check.lower))
    if check.upper is not None:
        flagged |= present & (value > check.upper)
        high = np.where(np.isnan(high), check.upper, np.minimum(high, check.upper))
    return OutlierOutcome(check, flagged, value, score, low, high)


__all__ = [
    "COMPARISON_OPERATORS", "IMPORTANCES", "MAD_CONSTANT", "OPERATORS", "OUTLIER_METHODS",
    "OutlierCheck", "OutlierOutcome", "Rule", "RuleOutcome", "RuleSet", "check_outliers",
    "check_rules", "evaluate", "load_rules", "parse_rules", "rule_files",
]
