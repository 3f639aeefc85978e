"""Checking a round's figures: the rules and outlier checks, their violations and the list.

:func:`check_submission` is what a form's submission calls: it reads the rules in force
for the unit (:mod:`shequ.indicators.rules`), the unit's figures of earlier periods from
the registry, and returns every violation; errors refuse the submission, warnings need a
comment on their field.  :func:`record_violations` keeps a unit's violations for the
round's list; :func:`check_round` checks every unit of a round at once (vectorised).

Form items are the figures' own names: a population item is its measure (``residents``),
a declared indicator input is ``input(name)``, and a workforce item is one role with one
certification (``reporting.toml``); a rule's ``workers(community_worker)`` adds up the
items of that role.  The list pages by keyset (``division_code``, ``id``), so its first
page costs the same over a million rows as over ten.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import delete, insert, literal, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from shequ.errors import AccessDenied, NotFoundError, Problem, ValidationError
from shequ.indicators.expr import HOUSEHOLD_MEASURES, PERSON_MEASURES, Measure
from shequ.indicators.models import IndicatorInput
from shequ.indicators.rules import (
    FloatArray,
    OutlierOutcome,
    Rule,
    RuleSet,
    check_outliers,
    check_rules,
    load_rules,
)
from shequ.registry.codes import LEVEL_DIGITS, level_of
from shequ.registry.models import Population, Workforce
from shequ.services.accounts import STAFF_ROLES, Role, User, audit, require_role
from shequ.services.accounts.acting import visible_prefix
from shequ.services.bookings.clock import local_now
from shequ.services.reporting.config import ReportingConfig, Target, load_reporting_config
from shequ.services.reporting.models import FormStatus, FormValue, ReportingRound, RoundForm
from shequ.services.reporting.rules_models import (
    Importance,
    ValidationViolation,
    ViolationKind,
)

POPULATION_ITEMS = (*PERSON_MEASURES, *HOUSEHOLD_MEASURES)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Violation:
    """One rule or outlier check a unit's figures break.

    ``field`` is the form item the message belongs beside (None: the form as a whole);
    ``message_key`` names the message (:func:`violation_text` renders it) and ``params``
    fills it; ``commented`` says whether the reporter explained it (warnings need that).
    """

    rule_code: str
    importance: str
    field: str | None
    message_key: str
    params: dict[str, Any]
    commented: bool
    kind: str = ViolationKind.RULE.value
    left_value: float | None = None
    right_value: float | None = None

    @property
    def blocks(self) -> bool:
        """True when the submission must be refused: an error, or a warning unexplained."""
        return self.importance == Importance.ERROR.value or not self.commented


# --- form items and the figures rules read -------------------------------------------


@dataclass(frozen=True, slots=True)
class Records:
    """A unit's figures of one period as the registry keeps them."""

    population: Mapping[str, float] = field(default_factory=dict)
    workforce: Sequence[tuple[str, str, float]] = ()  # role, certification, headcount
    inputs: Mapping[str, float] = field(default_factory=dict)


def workforce_items(config: ReportingConfig) -> dict[str, tuple[str, str]]:
    """Workforce form items: key → (role, certification), from the reporting config."""
    return {item.key: (item.column, item.certification or "none")
            for item in config.items.values() if item.target is Target.WORKFORCE}


def reporting_config(catalog_dir: Path | None = None) -> ReportingConfig:
    """The deployment's reporting configuration (its data sets name the form items)."""
    from shequ.indicators.definitions import load_indicator_catalog

    return load_reporting_config(load_indicator_catalog(catalog_dir), catalog_dir)


def records_from_items(values: Mapping[str, float | None], *,
                       workforce: Mapping[str, tuple[str, str]]) -> Records:
    """A form's items as registry records (empty items left out)."""
    population: dict[str, float] = {}
    lines: list[tuple[str, str, float]] = []
    inputs: dict[str, float] = {}
    for item, value in values.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if item in POPULATION_ITEMS:
            population[item] = float(value)
        elif item in workforce:
            role, certification = workforce[item]
            lines.append((role, certification, float(value)))
        else:
            inputs[item] = float(value)
    return Records(population, tuple(lines), inputs)


def measure_value(measure: Measure, records: Records) -> float:
    """A rule's measure on one unit's records (NaN when not reported)."""
    if measure.name in POPULATION_ITEMS:
        return float(records.population.get(measure.name, math.nan))
    if measure.name == "input":
        return float(records.inputs.get(measure.types[0], math.nan))
    if measure.name == "units":
        return 1.0
    if measure.name == "workers":
        lines = [line for line in records.workforce if line[0] in measure.types]
        if not lines:
            return math.nan
        wanted = measure.option("certification")
        return float(sum(n for _, cert, n in lines if wanted is None or cert in wanted))
    return math.nan  # facility figures are read from the registry, not from a form


def item_of(key: str, workforce: Mapping[str, tuple[str, str]], measures: Mapping[str, Measure]
            ) -> str | None:
    """The form item a figure's message is shown beside (a workers sum: its first item)."""
    measure = measures.get(key)
    if measure is None:
        return key
    if measure.name in POPULATION_ITEMS:
        return measure.name
    if measure.name == "input":
        return measure.types[0]
    if measure.name == "workers":
        wanted = measure.option("certification")
        for item, (role, certification) in workforce.items():
            if role in measure.types and (wanted is None or certification in wanted):
                return item
    return None


def rule_measures(rules: RuleSet) -> dict[str, Measure]:
    """Every measure the rules and checks read, by its canonical text."""
    from shequ.indicators.expr import measures_of

    found: dict[str, Measure] = {}
    for rule in rules.rules:
        for measure in (*measures_of(rule.left), *measures_of(rule.right)):
            found[measure.key] = measure
    for check in rules.outliers:
        found.setdefault(check.field, _parse_field(check.field, rules, found))
    return found


def _parse_field(key: str, rules: RuleSet, known: Mapping[str, Measure]) -> Measure:
    if key in known:
        return known[key]
    if key in POPULATION_ITEMS:
        return Measure(key, "persons" if key in PERSON_MEASURES else "households")
    if key.startswith("workers("):
        roles = tuple(key[len("workers("):-1].split(", "))
        return Measure("workers", "workers", types=roles)
    return Measure("input", "", types=(key[len("input("):-1],))


def _registry_records(session: Session, division_code: str, *, before: int
                      ) -> dict[int, Records]:
    """The unit's registry figures of every period before ``before``."""
    population: dict[int, dict[str, float]] = {}
    for row in session.scalars(select(Population).where(
            Population.division_code == division_code, Population.period < before)):
        population[row.period] = {name: float(getattr(row, name)) for name in POPULATION_ITEMS}
    workforce: dict[int, list[tuple[str, str, float]]] = {}
    for line in session.scalars(select(Workforce).where(
            Workforce.division_code == division_code, Workforce.period < before)):
        workforce.setdefault(line.period, []).append(
            (line.role, line.certification, float(line.headcount)))
    inputs: dict[int, dict[str, float]] = {}
    for value in session.scalars(select(IndicatorInput).where(
            IndicatorInput.division_code == division_code, IndicatorInput.period < before)):
        inputs.setdefault(value.period, {})[value.measure] = float(value.value)
    periods = sorted({*population, *workforce, *inputs})
    return {p: Records(population.get(p, {}), tuple(workforce.get(p, [])), inputs.get(p, {}))
            for p in periods}


def _figures(measures: Mapping[str, Measure], records: Records) -> dict[str, FloatArray]:
    return {key: np.array([measure_value(m, records)]) for key, m in measures.items()}


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 2)


def _rule_violation(rule: Rule, left: float, right: float, field_item: str | None,
                    commented: bool) -> Violation:
    params = {"left": None if math.isnan(left) else _number(left),
              "right": None if math.isnan(right) else _number(right)}
    return Violation(rule.code, rule.importance, field_item,
                     f"reporting_rules.rule.{rule.code}", params, commented,
                     ViolationKind.RULE.value, None if math.isnan(left) else left,
                     None if math.isnan(right) else right)


def _outlier_violation(outcome: OutlierOutcome, field_item: str | None, commented: bool
                       ) -> Violation:
    """The violation of unit 0 of ``outcome``."""
    def shown(x: float) -> float | int | None:
        return None if math.isnan(x) or math.isinf(x) else _number(x)

    check = outcome.check
    value, low, high = (float(outcome.value[0]), float(outcome.low[0]),
                        float(outcome.high[0]))
    params = {"value": shown(value), "low": shown(low), "high": shown(high),
              "score": shown(float(outcome.score[0]))}
    bound = high if not math.isnan(high) and value > high else low
    return Violation(check.code, check.importance, field_item,
                     f"reporting_rules.rule.{check.code}", params, commented,
                     ViolationKind.OUTLIER.value, value, None if math.isnan(bound) else bound)


def check_figures(rules: RuleSet, current: Records, history: Mapping[int, Records], *,
                  period: int, comments: Mapping[str, str],
                  workforce: Mapping[str, tuple[str, str]]) -> list[Violation]:
    """Every violation of one unit's figures of ``period`` (history: earlier periods)."""
    measures = rule_measures(rules)
    now = _figures(measures, current)
    previous_records = history.get(period - 1)
    before = {} if previous_records is None else _figures(measures, previous_records)

    def commented(item: str | None) -> bool:
        return bool(item is not None and (comments.get(item) or "").strip())

    found: list[Violation] = []
    for outcome in check_rules(rules.rules, now, before, size=1):
        if outcome.broken[0]:
            item = (item_of(outcome.rule.field, workforce, measures)
                    if outcome.rule.field else None)
            found.append(_rule_violation(outcome.rule, float(outcome.left[0]),
                                         float(outcome.right[0]), item, commented(item)))
    periods = sorted(history)
    for check in rules.outliers:
        measure = measures[check.field]
        past = np.array([[measure_value(measure, history[p]) for p in periods]])
        flagged = check_outliers(check, now[check.field], past.reshape(1, len(periods)))
        if flagged.flagged[0]:
            item = item_of(check.field, workforce, measures)
            found.append(_outlier_violation(flagged, item, commented(item)))
    return found


def round_of(session: Session, round_id: int) -> ReportingRound:
    """The round, or NotFoundError."""
    found = session.get(ReportingRound, round_id)
    if found is None:
        raise NotFoundError(f"no reporting round {round_id}", code="reporting_rules.no_round",
                            params={"round_id": round_id})
    return found


def check_submission(session: Session, round_id: int, division_code: str,
                     values: Mapping[str, float | None], comments: Mapping[str, str], *,
                     rules: RuleSet | None = None, config: ReportingConfig | None = None,
                     catalog_dir: Path | None = None) -> list[Violation]:
    """Every violation of a unit's form values (items → figures) in a round.

    Errors must refuse the submission; a warning needs a comment on its ``field``
    (``Violation.commented``).  Nothing is written: :func:`record_violations` keeps them.
    """
    period = round_of(session, round_id).period
    chosen = (rules or load_rules(catalog_dir)).for_unit(division_code)
    workforce = workforce_items(config or reporting_config(catalog_dir))
    current = records_from_items(values, workforce=workforce)
    history = _registry_records(session, division_code, before=period)
    return check_figures(chosen, current, history, period=period, comments=comments,
                         workforce=workforce)


def violation_text(violation: Violation, lang: str, *, rules: RuleSet | None = None,
                   catalog_dir: Path | None = None) -> str:
    """The violation's message in ``lang`` with its figures formatted for the locale."""
    from shequ.i18n import number

    chosen = rules or load_rules(catalog_dir)
    rule = chosen.by_code().get(violation.rule_code)
    if rule is None:
        from shequ.i18n import translate

        return translate(lang, "reporting_rules.unknown_rule", code=violation.rule_code)
    shown = {k: "—" if v is None else number(v, lang) for k, v in violation.params.items()}
    return rule.message(lang).format_map(_Blank(shown))


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "—"


# --- keeping violations and the list -------------------------------------------------


def record_violations(session: Session, round_id: int, division_code: str,
                      violations: Iterable[Violation], comments: Mapping[str, str] | None = None
                      ) -> int:
    """Replace the unit's violations in the round with ``violations`` (returns the count)."""
    comments = comments or {}
    session.execute(delete(ValidationViolation).where(
        ValidationViolation.round_id == round_id,
        ValidationViolation.division_code == division_code))
    now = local_now()
    rows = [_row(round_id, division_code, v, (comments.get(v.field or "") or "").strip()
                 or None, now) for v in violations]
    if rows:
        session.execute(insert(ValidationViolation), rows)
    return len(rows)


def _row(round_id: int, division_code: str, v: Violation, comment: str | None,
         now: dt.datetime) -> dict[str, Any]:
    return {"round_id": round_id, "division_code": division_code, "rule_code": v.rule_code,
            "kind": v.kind, "importance": v.importance, "field": v.field,
            "left_value": v.left_value, "right_value": v.right_value, "params": v.params,
            "comment": comment, "found_at": now}


@dataclass(frozen=True, slots=True)
class ViolationFilter:
    """What the list shows: a round, an area (code prefix), a rule and an importance."""

    round_id: int
    under: str = ""  # a division code: its subtree only ("" the whole round)
    rule_code: str | None = None
    importance: str | None = None

    @property
    def prefix(self) -> str:
        """The code prefix of ``under``'s subtree."""
        if not self.under or set(self.under) == {"0"}:
            return ""
        return self.under[: LEVEL_DIGITS[level_of(self.under)]]


@dataclass(frozen=True, slots=True)
class ViolationPage:
    """One page of the list and the cursor of the next (None on the last)."""

    rows: list[ValidationViolation]
    next_cursor: str | None


def encode_cursor(division_code: str, row_id: int) -> str:
    """An opaque cursor after the row (``division_code``, ``id``)."""
    return base64.urlsafe_b64encode(f"{division_code}:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """The (``division_code``, ``id``) a cursor stands after; ValidationError if damaged."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        code, _, row_id = text.partition(":")
        if not (code.isdigit() and len(code) == 12 and row_id.isdigit()):
            raise ValueError(text)
        return code, int(row_id)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError([Problem("after", f"{cursor!r} is not a cursor of this list",
                                       column="after", code="reporting_rules.bad_cursor")]
                              ) from None


def _filtered(chosen: ViolationFilter) -> Any:
    query = select(ValidationViolation).where(ValidationViolation.round_id == chosen.round_id)
    if chosen.prefix:
        query = query.where(ValidationViolation.division_code >= chosen.prefix.ljust(12, "0"),
                            ValidationViolation.division_code <= chosen.prefix.ljust(12, "9"))
    if chosen.rule_code:
        query = query.where(ValidationViolation.rule_code == chosen.rule_code)
    if chosen.importance:
        if chosen.importance not in {i.value for i in Importance}:
            raise ValidationError([Problem("importance", f"{chosen.importance!r} is not an "
                                           "importance", column="importance",
                                           code="reporting_rules.bad_importance")])
        query = query.where(ValidationViolation.importance == chosen.importance)
    return query


def list_violations(session: Session, chosen: ViolationFilter, *, after: str | None = None,
                    limit: int = PAGE_SIZE) -> ViolationPage:
    """One page of violations in (division code, id) order, after the cursor ``after``."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    query = _filtered(chosen)
    if after:
        code, row_id = decode_cursor(after)
        # a row-value comparison: both back-ends seek the (…, division_code, id) index
        query = query.where(tuple_(ValidationViolation.division_code, ValidationViolation.id)
                            > tuple_(literal(code), literal(row_id)))
    query = query.order_by(ValidationViolation.division_code, ValidationViolation.id)
    rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1].division_code, rows[-1].id) if more and rows else None
    return ViolationPage(rows, cursor)


def all_violations(session: Session, chosen: ViolationFilter, *, chunk: int = MAX_PAGE_SIZE
                   ) -> Iterator[ValidationViolation]:
    """Every violation of the filter, page by page (for the export: no cap)."""
    cursor: str | None = None
    while True:
        page = list_violations(session, chosen, after=cursor, limit=chunk)
        yield from page.rows
        session.expunge_all()
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def violations_for(session: Session, user: User, chosen: ViolationFilter, *,
                   after: str | None = None, limit: int = PAGE_SIZE) -> ViolationPage:
    """The list inside ``user``'s jurisdiction (staff only)."""
    return list_violations(session, _within(user, chosen), after=after, limit=limit)


def _within(user: User, chosen: ViolationFilter) -> ViolationFilter:
    """``chosen`` narrowed to the user's jurisdiction (NotFoundError when outside it)."""
    require_role(user, *STAFF_ROLES)
    prefix = visible_prefix(user)
    under = chosen.under if chosen.prefix else ""
    if prefix and not chosen.prefix.startswith(prefix):
        if chosen.prefix and not prefix.startswith(chosen.prefix):
            raise NotFoundError(f"{chosen.under} is outside the user's jurisdiction",
                                code="reporting_rules.outside", params={"code": chosen.under})
        under = prefix.ljust(12, "0")
    return ViolationFilter(chosen.round_id, under, chosen.rule_code, chosen.importance)


def violations_xlsx(session: Session, user: User, chosen: ViolationFilter, path: Path, *,
                    lang: str, rules: RuleSet | None = None, form_url: str = "") -> int:
    """Write the whole list (no cap) to an XLSX file; returns the number of rows.

    Text cells a spreadsheet would run as a formula are neutralised; each row links to
    its unit's form (``form_url`` + :func:`form_path`).  The export is audited.
    """
    from openpyxl import Workbook

    from shequ.i18n import translate
    from shequ.ingest.formats import neutralise

    scoped = _within(user, chosen)
    chosen_rules = rules or load_rules()
    book = Workbook(write_only=True)
    sheet = book.create_sheet(translate(lang, "reporting_rules.sheet"))
    heads = ("division_code", "rule", "importance", "field", "message", "comment", "form")
    sheet.append([translate(lang, f"reporting_rules.column.{h}") for h in heads])
    count = 0
    for row in all_violations(session, scoped):
        violation = to_violation(row)
        link = form_url + form_path(row.round_id, row.division_code)
        sheet.append([neutralise(x) for x in (
            row.division_code, row.rule_code,
            translate(lang, f"reporting_rules.importance.{row.importance}"), row.field or "",
            violation_text(violation, lang, rules=chosen_rules), row.comment or "", link)])
        count += 1
    book.save(path)
    audit(session, user=user, action="export", entity="validation_violation",
          entity_id=chosen.round_id, detail={"under": scoped.under, "rule": chosen.rule_code,
                                             "importance": chosen.importance, "rows": count})
    return count


def form_path(round_id: int, division_code: str) -> str:
    """The address of a unit's form in a round (the reporting pages')."""
    return f"/reporting/rounds/{round_id}/forms/{division_code}"


def to_violation(row: ValidationViolation) -> Violation:
    """A stored row as the Violation it records."""
    return Violation(row.rule_code, row.importance, row.field,
                     f"reporting_rules.rule.{row.rule_code}", dict(row.params or {}),
                     bool(row.comment), row.kind, row.left_value, row.right_value)


# --- a whole round at once -----------------------------------------------------------


def figures_table(measures: Mapping[str, Measure], codes: pl.Series, population: pl.DataFrame,
                  workforce: pl.DataFrame, inputs: pl.DataFrame) -> dict[str, FloatArray]:
    """Each measure for every unit of ``codes`` (in that order; NaN where not reported).

    ``population``: division_code and the population columns; ``workforce``:
    division_code, role, certification, headcount; ``inputs``: division_code, measure,
    value — all of one period.  Each table is matched to the units once (one join), and
    every measure is then scattered or summed into place with numpy.
    """
    size = len(codes)
    ordered = codes.is_sorted()
    keys = codes.cast(pl.String).to_numpy().astype("S12") if ordered else None
    base = None if ordered else pl.DataFrame({"division_code": codes}).with_row_index("_pos")

    def placed(table: pl.DataFrame) -> tuple[pl.DataFrame, npt.NDArray[np.int64]]:
        """The table's rows of the units, and each row's unit position."""
        if not table.height:
            return table, np.empty(0, dtype=np.int64)
        if keys is not None:  # sorted units: a binary search, one thread, no join
            wanted = table["division_code"].to_numpy().astype("S12")
            at = np.minimum(np.searchsorted(keys, wanted), max(size - 1, 0))
            found = (keys[at] == wanted) if size else np.zeros(len(wanted), dtype=np.bool_)
            return table.filter(pl.Series(found)), at[found].astype(np.int64)
        assert base is not None
        joined = table.join(base, on="division_code", how="inner")
        return joined, joined["_pos"].to_numpy().astype(np.int64)

    people, people_at = placed(population)
    lines, lines_at = placed(workforce)
    given, given_at = placed(inputs)
    out: dict[str, FloatArray] = {}
    for key, measure in measures.items():
        values = np.full(size, np.nan)
        if measure.name in POPULATION_ITEMS and measure.name in people.columns:
            values[people_at] = people[measure.name].cast(pl.Float64).fill_null(
                np.nan).to_numpy()
        elif measure.name == "workers" and lines.height:
            of_role = lines["role"].is_in(list(measure.types)).to_numpy()
            wanted = measure.option("certification")
            counted = of_role if wanted is None else (
                of_role & lines["certification"].is_in(list(wanted)).to_numpy())
            heads = lines["headcount"].cast(pl.Float64).fill_null(0).to_numpy()
            total = np.bincount(lines_at[counted], weights=heads[counted], minlength=size)
            reported = np.bincount(lines_at[of_role], minlength=size) > 0
            values = np.where(reported, total, np.nan)
        elif measure.name == "input" and given.height:
            chosen = (given["measure"] == measure.types[0]).to_numpy()
            values[given_at[chosen]] = given["value"].cast(pl.Float64).to_numpy()[chosen]
        elif measure.name == "units":
            values = np.ones(size)
        out[key] = values
    return out


@dataclass(frozen=True, slots=True)
class RoundFigures:
    """Every unit's figures of a round's period and of the periods before (pure data)."""

    codes: pl.Series
    current: dict[str, FloatArray]
    history: dict[int, dict[str, FloatArray]]  # period → measure → values per unit


def round_violations(rules: RuleSet, figures: RoundFigures, *, period: int,
                     workforce: Mapping[str, tuple[str, str]]) -> pl.DataFrame:
    """Every violation of every unit as a table (division_code, rule_code, kind,
    importance, field, left_value, right_value) — the vectorised path of a whole round.

    Rules with a jurisdiction apply to the units under it only.
    """
    size = len(figures.codes)
    previous = figures.history.get(period - 1, {})
    frames: list[pl.DataFrame] = []
    measures = rule_measures(rules)

    def covered(jurisdiction: str) -> Any:
        from shequ.indicators.definitions import NATION_CODE

        if jurisdiction == NATION_CODE:
            return np.ones(size, dtype=np.bool_)
        prefix = jurisdiction[: LEVEL_DIGITS[level_of(jurisdiction)]]
        return figures.codes.str.starts_with(prefix).to_numpy()

    def frame(mask: Any, code: str, kind: str, importance: str, field_key: str | None, *,
              left: FloatArray, right: FloatArray, low: FloatArray | None = None,
              high: FloatArray | None = None) -> pl.DataFrame:
        rows = np.flatnonzero(mask)
        none = np.full(rows.size, np.nan)
        item = item_of(field_key, workforce, measures) if field_key else None
        return pl.DataFrame({
            "division_code": figures.codes.gather(rows),
            "left_value": left[rows], "right_value": right[rows],
            "low": none if low is None else low[rows],
            "high": none if high is None else high[rows],
        }).with_columns(pl.lit(code).alias("rule_code"), pl.lit(kind).alias("kind"),
                        pl.lit(importance).alias("importance"),
                        pl.lit(item, dtype=pl.String).alias("field"))

    for outcome in check_rules(rules.rules, figures.current, previous, size=size):
        mask = outcome.broken & covered(outcome.rule.jurisdiction)
        frames.append(frame(mask, outcome.rule.code, ViolationKind.RULE.value,
                            outcome.rule.importance, outcome.rule.field, left=outcome.left,
                            right=outcome.right))
    periods = sorted(figures.history)
    for check in rules.outliers:
        past = (np.column_stack([figures.history[p].get(check.field, np.full(size, np.nan))
                                 for p in periods]) if periods else np.full((size, 0), np.nan))
        value = figures.current.get(check.field, np.full(size, np.nan))
        result = check_outliers(check, value, past)
        bound = np.where(result.value > result.high, result.high, result.low)
        frames.append(frame(result.flagged & covered(check.jurisdiction), check.code,
                            ViolationKind.OUTLIER.value, check.importance, check.field,
                            left=result.value, right=bound, low=result.low,
                            high=result.high))
    return pl.concat(frames) if frames else pl.DataFrame()


_STORED = ("round_id", "division_code", "rule_code", "kind", "importance", "field",
           "left_value", "right_value", "params", "comment", "found_at")


def _violation_rows(round_id: int, table: pl.DataFrame, found_at: dt.datetime
                    ) -> Iterator[tuple[Any, ...]]:
    comments = "comment" in table.columns
    for r in table.iter_rows(named=True):
        yield (round_id, r["division_code"], r["rule_code"], r["kind"], r["importance"],
               r["field"], _finite(r["left_value"]), _finite(r["right_value"]), _params(r),
               r["comment"] if comments else None, found_at)


def _bulk_insert(session: Session, rows: Iterable[tuple[Any, ...]]) -> None:
    """Write violation rows in one stream: COPY on PostgreSQL, one prepared statement
    run over every row on SQLite (each value bound as its column's type binds it).  A
    statement per chunk of dictionaries, as SQLAlchemy's bulk insert does, spent most of
    a national round's check in the driver and the server's parse of each batch."""
    connection = session.connection()
    dialect = connection.dialect
    table = ValidationViolation.__table__
    name_of = ValidationViolation.__tablename__
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                  for name in _STORED]
    bound = (tuple(value if process is None or value is None else process(value)
                   for process, value in zip(processors, row, strict=True)) for row in rows)
    columns = ", ".join(_STORED)
    raw: Any = connection.connection.driver_connection
    if dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(
                f"COPY {name_of} ({columns}) FROM STDIN") as copy:
            for row in bound:
                copy.write_row(row)
    else:  # SQLite, the other back-end
        cursor = raw.cursor()
        try:
            # the table's and the columns' names are the model's own constants
            statement = (f"INSERT INTO {name_of} ({columns}) "  # noqa: S608
                         f"VALUES ({', '.join('?' * len(_STORED))})")
            cursor.executemany(statement, bound)
        finally:
            cursor.close()


def store_round_violations(session: Session, round_id: int, table: pl.DataFrame) -> int:
    """Replace every violation of the round with ``table`` (from :func:`round_violations`,
    with an optional ``comment`` column)."""
    session.execute(delete(ValidationViolation).where(
        ValidationViolation.round_id == round_id))
    if table.height:
        _bulk_insert(session, _violation_rows(round_id, table, local_now()))
    return table.height


HISTORY_YEARS = 5  # how many periods before the round the outlier checks look back
CHECK_ROLES = (Role.NATIONAL_PLANNER, Role.PROVINCE_PLANNER, Role.ADMIN)


def _frame(session: Session, query: ClauseElement, schema: Mapping[str, pl.DataType]
           ) -> pl.DataFrame:
    """The rows of ``query`` (plain text and number columns) as a table, read the fast
    way of each back-end: COPY … TO STDOUT as CSV on PostgreSQL, the driver's own cursor
    on SQLite.  A national round's check reads millions of form values and registry
    figures, and SQLAlchemy's rows took about twice the time of either.  The query's
    bound values are the caller's numbers and enum values, written into its text."""
    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect,
                            compile_kwargs={"literal_binds": True}))
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        buffer = io.BytesIO()
        with raw.cursor() as cursor, cursor.copy(
                f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            for block in copy:
                buffer.write(block)
        if not buffer.tell():
            return pl.DataFrame(schema=dict(schema))
        buffer.seek(0)
        return pl.read_csv(buffer, has_header=False, schema=dict(schema))
    cursor = raw.cursor()
    try:
        rows = cursor.execute(sql).fetchall()
    finally:
        cursor.close()
    return pl.DataFrame(rows, schema=dict(schema), orient="row")


def _form_values(session: Session, round_id: int) -> pl.DataFrame:
    """Every value and comment of the round's forms that were handed in (not drafts)."""
    query = (select(RoundForm.division_code, FormValue.item, FormValue.value,
                    FormValue.comment)
             .join(FormValue, FormValue.form_id == RoundForm.id)
             .where(RoundForm.round_id == round_id,
                    RoundForm.status != FormStatus.DRAFT.value))
    return _frame(session, query, {"division_code": pl.String(), "item": pl.String(),
                                   "value": pl.Float64(), "comment": pl.String()})


def _tables_of_items(values: pl.DataFrame, config: ReportingConfig
                     ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Form values as the registry's population, workforce and input tables."""
    items = config.items
    target = {k: i.target.value for k, i in items.items()}
    typed = values.filter(pl.col("value").is_not_null()).with_columns(
        pl.col("item").replace_strict(target, default=None).alias("target"))
    people = typed.filter(pl.col("target") == Target.POPULATION.value)
    population = (people.pivot(on="item", index="division_code", values="value")
                  if people.height else pl.DataFrame(schema={"division_code": pl.String}))
    roles = {k: i.column for k, i in items.items() if i.target is Target.WORKFORCE}
    certs = {k: i.certification or "none" for k, i in items.items()
             if i.target is Target.WORKFORCE}
    workforce = typed.filter(pl.col("target") == Target.WORKFORCE.value).select(
        "division_code", pl.col("item").replace_strict(roles, default=None).alias("role"),
        pl.col("item").replace_strict(certs, default=None).alias("certification"),
        pl.col("value").alias("headcount"))
    inputs = typed.filter(pl.col("target") == Target.INPUT.value).select(
        "division_code", pl.col("item").alias("measure"), "value")
    return population, workforce, inputs


def _registry_history(session: Session, *, period: int
                      ) -> dict[int, tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]]:
    """The registry's figures of the periods before the round (at most HISTORY_YEARS)."""
    first = period - HISTORY_YEARS
    population = _frame(session, select(
        Population.division_code, Population.period,
        *(getattr(Population, n) for n in POPULATION_ITEMS))
        .where(Population.period >= first, Population.period < period),
        {"division_code": pl.String(), "period": pl.Int64(),
         **{n: pl.Float64() for n in POPULATION_ITEMS}})
    workforce = _frame(session, select(
        Workforce.division_code, Workforce.period, Workforce.role,
        Workforce.certification, Workforce.headcount)
        .where(Workforce.period >= first, Workforce.period < period),
        {"division_code": pl.String(), "period": pl.Int64(), "role": pl.String(),
         "certification": pl.String(), "headcount": pl.Float64()})
    inputs = _frame(session, select(
        IndicatorInput.division_code, IndicatorInput.period, IndicatorInput.measure,
        IndicatorInput.value)
        .where(IndicatorInput.period >= first, IndicatorInput.period < period),
        {"division_code": pl.String(), "period": pl.Int64(), "measure": pl.String(),
         "value": pl.Float64()})
    periods = sorted({*population["period"], *workforce["period"], *inputs["period"]})
    return {p: (population.filter(pl.col("period") == p),
                workforce.filter(pl.col("period") == p),
                inputs.filter(pl.col("period") == p)) for p in periods}


def check_round(session: Session, user: User, round_id: int, *, rules: RuleSet | None = None,
                config: ReportingConfig | None = None, catalog_dir: Path | None = None
                ) -> int:
    """Check every form handed in to the round against the rules in force, all units at
    once, and replace the round's violations list (the reporters' comments kept beside
    their items); audited.  Returns the number of violations."""
    require_role(user, *CHECK_ROLES)
    round_ = round_of(session, round_id)
    prefix = visible_prefix(user)
    if prefix and not (round_.scope_code or "").startswith(prefix):
        raise AccessDenied(f"round {round_id} is not the user's to check",
                           code="reporting_rules.not_yours", params={"round_id": round_id})
    chosen = rules or load_rules(catalog_dir)
    config = config or reporting_config(catalog_dir)
    values = _form_values(session, round_id)
    codes = values["division_code"].unique().sort()
    measures = rule_measures(chosen)
    current = figures_table(measures, codes, *_tables_of_items(values, config))
    history = {p: figures_table(measures, codes, *tables)
               for p, tables in _registry_history(session, period=round_.period).items()}
    table = round_violations(chosen, RoundFigures(codes, current, history),
                             period=round_.period, workforce=workforce_items(config))
    comments = values.filter(pl.col("comment").is_not_null()).select(
        "division_code", pl.col("item").alias("field"), "comment")
    if table.height:
        table = table.join(comments, on=["division_code", "field"], how="left")
    count = store_round_violations(session, round_id, table)
    audit(session, user=user, action="check", entity="reporting_round", entity_id=round_id,
          detail={"forms": len(codes), "violations": count})
    return count


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _params(row: Mapping[str, Any]) -> dict[str, Any]:
    left, right = _finite(row["left_value"]), _finite(row["right_value"])
    if row["kind"] == ViolationKind.OUTLIER.value:
        low, high = _finite(row["low"]), _finite(row["high"])
        return {"value": None if left is None else _number(left),
                "low": None if low is None else _number(low),
                "high": None if high is None else _number(high)}
    return {"left": None if left is None else _number(left),
            "right": None if right is None else _number(right)}


__all__ = [
    "Records",
    "RoundFigures",
    "Violation",
    "ViolationFilter",
    "ViolationPage",
    "all_violations",
    "check_figures",
    "check_submission",
    "decode_cursor",
    "encode_cursor",
    "figures_table",
    "list_violations",
    "record_violations",
    "reporting_config",
    "round_of",
    "round_violations",
    "store_round_violations",
    "to_violation",
    "violation_text",
    "violations_for",
    "violations_xlsx",
    "workforce_items",
]
