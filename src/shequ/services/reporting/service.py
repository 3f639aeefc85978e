"""Reporting rounds as use cases: open a round, fill and submit a unit's form, sign it off
level by level, unapprove with a reason, and see who has reported.

Each function is the one place its rule lives (the API, the pages and the CLI call it):
the permission check, the act and its audit row.  Who may do what:

- the nation (national planner, administrator) opens rounds for everyone, a province
  planner for their province;
- any staff user whose jurisdiction holds a community fills its form (the community
  worker first of all; the street may fill for a community);
- the sign-off levels come from ``reporting.toml`` (street then county by default): a
  user signs off at their own level, or at a lower one on its behalf (as DHIS2's
  "approve lower levels"); nationwide roles may sign at any level;
- a signed-off form is locked: only its signing level or one above may unapprove it,
  with a reason, one level at a time; with no sign-off left the community may edit again.

The figures reach the registry once, when the last level signs off (or at submission,
``apply_on = "submitted"``): population and workforce through the upkeep service's rules,
indicator inputs (N3's floor areas …) through :func:`shequ.indicators.store.put_inputs`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.catalog import load_catalog
from shequ.errors import AccessDenied, ConflictError, NotFoundError, Problem, ValidationError
from shequ.indicators.definitions import load_indicator_catalog
from shequ.indicators.models import IndicatorInput
from shequ.indicators.store import put_inputs
from shequ.registry import queries
from shequ.registry.codes import code_prefix, level_of
from shequ.registry.columns import get_or_not_found
from shequ.registry.models import (
    ACTIVE_STATUSES,
    MAX_PERIOD,
    MIN_PERIOD,
    Division,
    Facility,
    FacilityStatus,
    Population,
    Workforce,
)
from shequ.registry.rules import facility_problems, population_problems
from shequ.services import upkeep
from shequ.services.accounts.audit import audit
from shequ.services.accounts.models import Role, User
from shequ.services.accounts.policy import (
    NATIONWIDE_ROLES,
    ROLE_LEVEL,
    STAFF_ROLES,
    in_jurisdiction,
    jurisdiction_prefix,
    require_in_jurisdiction,
    require_role,
)
from shequ.services.notify.service import Kind, notify_division_workers
from shequ.services.reporting.config import (
    ApplyOn,
    DataItem,
    ReportingConfig,
    Target,
    load_reporting_config,
)
from shequ.services.reporting.models import (
    FormAction,
    FormEvent,
    FormStatus,
    FormValue,
    Frequency,
    ReportingRound,
    RoundForm,
    RoundItem,
)
from shequ.services.reporting.rollup import FORM_SCHEMA, roll_up
from shequ.services.reporting.validation import (
    Violation,
    check_submission,
    record_violations,
    violation_text,
)

OPENING_ROLES = frozenset({Role.NATIONAL_PLANNER, Role.ADMIN, Role.PROVINCE_PLANNER})
MAX_REASON = 500
MAX_COMMENT = 500
MAX_FIGURE = 1e12


@cache
def reporting_config(catalog_dir: Path | None = None) -> ReportingConfig:
    """The deployment's reporting configuration (read once per catalog folder)."""
    return load_reporting_config(load_indicator_catalog(catalog_dir), catalog_dir)


def _label(round_: ReportingRound) -> str:
    return f"reporting round {round_.id}"


# ---------------------------------------------------------------------------- rounds


def _round_problems(config: ReportingConfig, *, name: str, period: int, opens_on: dt.date,
                    due_on: dt.date, datasets: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    if not name.strip():
        problems.append(Problem("round", "is required", column="name", code="required"))
    elif len(name) > 200:
        problems.append(Problem("round", "is too long", column="name", code="too_long",
                                params={"limit": 200}))
    if not MIN_PERIOD <= period <= MAX_PERIOD:
        problems.append(Problem("round", f"year {period} is out of range", column="period",
                                code="out_of_range",
                                params={"value": period, "low": MIN_PERIOD,
                                        "high": MAX_PERIOD}))
    if due_on < opens_on:
        problems.append(Problem("round", "the due date is before the opening date",
                                column="due_on", code="reporting.due_before_opening",
                                params={"opens": opens_on.isoformat(),
                                        "due": due_on.isoformat()}))
    if not datasets:
        problems.append(Problem("round", "choose at least one data set", column="datasets",
                                code="reporting.no_dataset"))
    unknown = [d for d in datasets if d not in config.datasets]
    if unknown:
        problems.append(Problem("round", f"unknown data set(s) {', '.join(unknown)}",
                                column="datasets", code="reporting.unknown_dataset",
                                params={"value": ", ".join(unknown),
                                        "known": ", ".join(config.datasets)}))
    return problems


def open_round(session: Session, config: ReportingConfig, user: User, *, name: str,
               period: int, opens_on: dt.date, due_on: dt.date, datasets: Sequence[str],
               frequency: str = Frequency.ANNUAL.value, quarter: int | None = None,
               scope_code: str | None = None, now: dt.datetime) -> ReportingRound:
    """Open a round for ``period``; a province planner's round covers their province."""
    require_role(user, *OPENING_ROLES)
    if Role(user.role) is Role.PROVINCE_PLANNER:
        scope_code = user.jurisdiction_code
    elif scope_code and level_of(scope_code) != 1:
        raise ValidationError([Problem("round", f"{scope_code} is not a province",
                                       column="scope_code", code="reporting.not_province",
                                       params={"value": scope_code})])
    chosen = list(dict.fromkeys(datasets))
    problems = _round_problems(config, name=name, period=period, opens_on=opens_on,
                               due_on=due_on, datasets=chosen)
    try:
        kind = Frequency(frequency)
    except ValueError:
        problems.append(Problem("round", f"{frequency!r} is no frequency",
                                column="frequency", code="not_a_choice"))
        kind = Frequency.ANNUAL
    if kind is Frequency.QUARTERLY and quarter not in (1, 2, 3, 4):
        problems.append(Problem("round", "a quarterly round needs its quarter (1–4)",
                                column="quarter", code="reporting.quarter_needed"))
    if problems:
        raise ValidationError(problems, summary="the round: nothing was opened")
    round_ = ReportingRound(name=name.strip(), period=period, frequency=kind.value,
                            quarter=quarter if kind is Frequency.QUARTERLY else None,
                            scope_code=scope_code or None, opens_on=opens_on, due_on=due_on,
                            created_at=now, created_by_id=user.id)
    session.add(round_)
    session.flush()
    for position, item in enumerate(config.items_of(chosen)):
        session.add(RoundItem(round_id=round_.id, dataset=item.dataset, item=item.key,
                              position=position))
    audit(session, user=user, action="open", entity="reporting_round", entity_id=round_.id,
          detail={"name": round_.name, "period": period, "datasets": chosen,
                  "scope": scope_code, "opens_on": opens_on, "due_on": due_on})
    session.flush()
    return round_


def _scope_prefix(round_: ReportingRound) -> str:
    return code_prefix(round_.scope_code, 1) if round_.scope_code else ""


def _covers(round_: ReportingRound, prefix: str) -> bool:
    """Whether the round asks anything of the part of the country named by ``prefix``."""
    scope = _scope_prefix(round_)
    return prefix.startswith(scope) or scope.startswith(prefix)


def rounds_for(session: Session, user: User) -> list[ReportingRound]:
    """The rounds that concern the user's jurisdiction, newest first."""
    require_role(user, *STAFF_ROLES)
    prefix = jurisdiction_prefix(user) or ""
    rounds = session.scalars(select(ReportingRound).order_by(
        ReportingRound.period.desc(), ReportingRound.id.desc())).all()
    return [r for r in rounds if _covers(r, prefix)]


def get_round(session: Session, round_id: int) -> ReportingRound:
    """The round ``round_id`` (NotFoundError says where rounds are listed)."""
    return get_or_not_found(session, ReportingRound, round_id, what="reporting round",
                            hint="GET /api/v1/reporting/rounds lists them",
                            code="reporting.no_round", listed_on="/reporting")


def round_items(session: Session, config: ReportingConfig, round_: ReportingRound
                ) -> list[DataItem]:
    """The items the round asks for, in order (items the configuration no longer knows
    are left out)."""
    known = config.items
    keys = session.scalars(select(RoundItem.item).where(
        RoundItem.round_id == round_.id).order_by(RoundItem.position)).all()
    return [known[k] for k in keys if k in known]


def period_span(round_: ReportingRound) -> tuple[dt.date, dt.date]:
    """The first and last day the round's figures are for: its year, or its quarter."""
    return round_.period_start, round_.period_end


def _asked_facilities(session: Session, round_: ReportingRound, code: str
                      ) -> list[Facility]:
    """The unit's facilities a facility data set asks about: those serving residents and
    those closed on or after the round's first day (or with no closing date)."""
    first, _ = period_span(round_)
    return [f for f in session.scalars(select(Facility).where(
        Facility.division_code == code,
        Facility.status.in_([*ACTIVE_STATUSES, FacilityStatus.CLOSED.value])).order_by(
        Facility.type_code, Facility.name, Facility.id))
        if f.status != FacilityStatus.CLOSED.value or f.closed_on is None
        or f.closed_on >= first]


def unit_items(session: Session, config: ReportingConfig, round_: ReportingRound, code: str,
               *, catalog_dir: Path | None = None) -> list[DataItem]:
    """The items the round asks of one unit: a facility data set's items once per facility
    (the floor area where its type keeps one, places/beds/seats where its type counts
    them), every other item once."""
    items = round_items(session, config, round_)
    if not any(i.target is Target.FACILITY for i in items):
        return items
    types = load_catalog(catalog_dir).facility_types
    facilities = _asked_facilities(session, round_, code)
    templates = [i for i in items if i.target is Target.FACILITY]

    def kept(item: DataItem, facility: Facility) -> bool:
        kind = types.get(facility.type_code)
        if item.column == "floor_area_m2":
            return kind is None or kind.records_floor_area
        if item.column == "capacity":
            return kind is not None and kind.capacity_unit != "none"
        return True

    expanded: list[DataItem] = []
    for item in items:
        if item.target is not Target.FACILITY:
            expanded.append(item)
        elif item is templates[0]:  # each facility's figures together, in the items' order
            expanded += [t.on_facility(f.id, f.name) for f in facilities for t in templates
                         if kept(t, f)]
    return expanded


def _require_unit(session: Session, user: User, round_: ReportingRound, code: str
                  ) -> Division:
    require_role(user, *STAFF_ROLES)
    require_in_jurisdiction(user, code)
    unit = queries.division(session, code)
    if unit.level != 5 or not code.startswith(_scope_prefix(round_)):
        raise NotFoundError(f"round {round_.id} asks nothing of {code}: it asks the "
                            "communities and villages of its scope",
                            code="reporting.unit_not_in_round",
                            params={"round": round_.id, "division": code})
    return unit


# ---------------------------------------------------------------------------- forms


@dataclass
class FormView:
    """A unit's form as a reader sees it: the values to show (stored, else prefilled)
    and what the reader may do with it."""

    round: ReportingRound
    unit: Division
    items: list[DataItem]
    form: RoundForm | None
    values: dict[str, float | None]
    comments: dict[str, str]
    prefilled: dict[str, str] = field(default_factory=dict)
    events: list[FormEvent] = field(default_factory=list)
    can_edit: bool = False
    approve_level: int | None = None
    can_unapprove: bool = False

    @property
    def status(self) -> str:
        """The form's status (draft before it is first saved)."""
        return self.form.status if self.form is not None else FormStatus.DRAFT.value

    @property
    def locked(self) -> bool:
        """Whether a sign-off holds the figures."""
        return self.form is not None and self.form.approved_level is not None


def _form(session: Session, round_id: int, code: str) -> RoundForm | None:
    return session.scalars(select(RoundForm).where(
        RoundForm.round_id == round_id, RoundForm.division_code == code)).first()


def _registry_values(session: Session, items: Sequence[DataItem], code: str, period: int
                     ) -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    population = session.scalars(select(Population).where(
        Population.division_code == code, Population.period == period)).first()
    workforce = {(w.role, w.certification): w.headcount for w in session.scalars(
        select(Workforce).where(Workforce.division_code == code, Workforce.period == period))}
    inputs = {i.measure: i.value for i in session.scalars(select(IndicatorInput).where(
        IndicatorInput.division_code == code, IndicatorInput.period == period))}
    asked = [i.facility_id for i in items if i.facility_id is not None]
    facilities = {f.id: f for f in session.scalars(select(Facility).where(
        Facility.id.in_(asked)))} if asked else {}
    for item in items:
        if item.facility_id is not None and item.facility_id in facilities:
            held = facilities[item.facility_id]
            figure = (float(held.status in ACTIVE_STATUSES) if item.column == "open"
                      else getattr(held, item.column))
            if figure is not None:
                found[item.key] = float(figure)
            continue
        if item.target is Target.POPULATION and population is not None:
            found[item.key] = float(getattr(population, item.column))
        elif item.target is Target.WORKFORCE and workforce:
            found[item.key] = float(workforce.get((item.column, item.certification or "none"),
                                                  0))
        elif item.target is Target.INPUT and item.column in inputs:
            found[item.key] = float(inputs[item.column])
    return found


def _last_round_values(session: Session, round_: ReportingRound, code: str
                       ) -> dict[str, float | None]:
    """The unit's figures on its form of the latest earlier round: the one whose period
    (a year or a quarter) ended last before this round's began, so a second quarter
    follows the first and a first quarter the year before."""
    candidates = session.execute(select(RoundForm, ReportingRound).join(
        ReportingRound, ReportingRound.id == RoundForm.round_id).where(
        RoundForm.division_code == code, ReportingRound.period <= round_.period,
        ReportingRound.id != round_.id)).all()
    before = [(r.period_end, r.id, form) for form, r in candidates
              if r.period_end < round_.period_start]
    if not before:
        return {}
    earlier = max(before, key=lambda found: (found[0], found[1]))[2]
    return {v.item: v.value for v in session.scalars(select(FormValue).where(
        FormValue.form_id == earlier.id)) if v.value is not None}


def _user_level(user: User) -> int | None:
    """The level the user's role works at (None: nationwide)."""
    return ROLE_LEVEL[Role(user.role)]


def _may_sign(user: User, level: int, code: str) -> bool:
    role = Role(user.role)
    if role in NATIONWIDE_ROLES:
        return True
    own = ROLE_LEVEL[role]
    return own is not None and own <= level and in_jurisdiction(user, code)


def form_view(session: Session, config: ReportingConfig, user: User, round_id: int,
              code: str, *, catalog_dir: Path | None = None) -> FormView:
    """The unit's form in the round: stored values, else prefilled from the registry's
    figures for the round's year (a facility's as they stand), else from the unit's form
    in the last round."""
    round_ = get_round(session, round_id)
    unit = _require_unit(session, user, round_, code)
    items = unit_items(session, config, round_, code, catalog_dir=catalog_dir)
    form = _form(session, round_.id, code)
    prefilled: dict[str, str] = {}
    if form is not None:
        stored = {v.item: v for v in session.scalars(select(FormValue).where(
            FormValue.form_id == form.id))}
        values = {i.key: stored[i.key].value if i.key in stored else None for i in items}
        comments = {k: v.comment for k, v in stored.items() if v.comment}
        events = list(session.scalars(select(FormEvent).where(
            FormEvent.form_id == form.id).order_by(FormEvent.id)))
    else:
        registry = _registry_values(session, items, code, round_.period)
        last = _last_round_values(session, round_, code)
        values = {}
        for item in items:
            if item.key in registry:
                values[item.key] = registry[item.key]
                prefilled[item.key] = "registry"
            elif item.key in last:
                values[item.key] = last[item.key]
                prefilled[item.key] = "last_round"
            else:
                values[item.key] = None
        comments, events = {}, []
    view = FormView(round_, unit, items, form, values, comments, prefilled, events)
    locked = form is not None and form.approved_level is not None
    view.can_edit = not locked
    if form is not None and form.status != FormStatus.DRAFT.value:
        upcoming = config.next_level(form.approved_level)
        if upcoming is not None and _may_sign(user, upcoming, code):
            view.approve_level = upcoming
        view.can_unapprove = locked and form.approved_level is not None and _may_sign(
            user, form.approved_level, code)
    return view


def _parse(items: Sequence[DataItem], values: Mapping[str, object], source: str
           ) -> tuple[dict[str, float | None], list[Problem]]:
    known = {i.key: i for i in items}
    unknown = sorted(set(values) - set(known))
    problems: list[Problem] = []
    if unknown:
        problems.append(Problem(source, f"unknown item(s) {', '.join(unknown)}",
                                hint=f"the round asks for {', '.join(known)}",
                                code="reporting.unknown_items",
                                params={"value": ", ".join(unknown)}))
    parsed: dict[str, float | None] = {}
    for key, item in known.items():
        raw = values.get(key)
        text = "" if raw is None else str(raw).strip()
        if not text:
            parsed[key] = None
            continue
        try:
            number = float(text)
        except ValueError:
            problems.append(Problem(source, f"{text!r} is not a number", column=key,
                                    code="not_a_number", params={"value": text}))
            continue
        if math.isfinite(number) and number > MAX_FIGURE:
            problems.append(Problem(source, f"{text} is over {MAX_FIGURE:,.0f}", column=key,
                                    code="reporting.too_large", params={"value": text}))
            continue
        if not math.isfinite(number) or number < 0:
            problems.append(Problem(source, f"{text} is not a figure of 0 or more",
                                    column=key, code="reporting.not_a_figure",
                                    params={"value": text}))
            continue
        if item.whole and not number.is_integer():
            problems.append(Problem(source, f"{text} is not a whole number", column=key,
                                    code="reporting.not_whole", params={"value": text}))
            continue
        parsed[key] = number
    return parsed, problems


def _registry_problems(items: Sequence[DataItem], figures: Mapping[str, float | None],
                       unit: Division, source: str) -> list[Problem]:
    """The registry's own rules on a submission (so that its write cannot fail later)."""
    problems = [Problem(source, "is required", column=i.key, code="required")
                for i in items if figures.get(i.key) is None]
    population = {i.column: int(figures[i.key] or 0) for i in items
                  if i.target is Target.POPULATION and figures.get(i.key) is not None}
    if population:
        found = population_problems(
            {name: population.get(name, 0) for name in upkeep.POPULATION_FIELDS}, unit,
            source=source, row=None)
        by_column = {i.column: i.key for i in items if i.target is Target.POPULATION}
        problems += [Problem(p.source, p.reason, column=by_column.get(p.column or "",
                                                                        p.column),
                             hint=p.hint, code=p.code, params=p.params) for p in found]
    return problems


def _facility_changes(items: Sequence[DataItem], figures: Mapping[str, float | None],
                      facility: Facility, round_: ReportingRound, today: dt.date
                      ) -> dict[str, object]:
    """What the form's figures change on one facility (the registry's column values).
    Reported closed, a facility closes on its closing date if it has one, else on the
    last day of the round's period (or today, if that is still to come); reported open,
    a closed one serves again."""
    changes: dict[str, object] = {}
    for item in items:
        figure = figures.get(item.key)
        if item.facility_id != facility.id or figure is None:
            continue
        if item.column == "floor_area_m2":
            changes["floor_area_m2"] = figure
        elif item.column == "capacity":
            changes["capacity"] = int(figure)
        elif figure == 0 and facility.status != FacilityStatus.CLOSED.value:
            changes["status"] = FacilityStatus.CLOSED.value
            changes["closed_on"] = facility.closed_on or min(period_span(round_)[1], today)
        elif figure == 1 and facility.status == FacilityStatus.CLOSED.value:
            changes["status"] = FacilityStatus.IN_SERVICE.value
            changes["closed_on"] = None
    return changes


def _facility_problems(session: Session, items: Sequence[DataItem],
                       figures: Mapping[str, float | None], unit: Division, *,
                       round_: ReportingRound, source: str, catalog_dir: Path | None,
                       today: dt.date) -> list[Problem]:
    """The registry's facility rules on a submission's facility figures (open is 1 or 0;
    the floor area holds the activity area; a closing date after the opening one)."""
    problems = [Problem(source, f"{figures[i.key]:g} is neither 1 (open) nor 0 (closed)",
                        column=i.key, code="reporting.open_or_closed",
                        params={"value": f"{figures[i.key]:g}"})
                for i in items if i.column == "open" and i.target is Target.FACILITY
                and figures.get(i.key) not in (None, 0.0, 1.0)]
    asked = sorted({i.facility_id for i in items if i.facility_id is not None})
    if problems or not asked:
        return problems
    catalog = load_catalog(catalog_dir)
    for facility in session.scalars(select(Facility).where(Facility.id.in_(asked))):
        changes = _facility_changes(items, figures, facility, round_, today)
        merged = {name: getattr(facility, name) for name in upkeep.FACILITY_FIELDS} | changes
        by_column = {i.column: i.key for i in items if i.facility_id == facility.id}
        by_column["status"] = by_column["closed_on"] = by_column.get("open", "")
        by_column["activity_area_m2"] = by_column.get("floor_area_m2", "")
        for p in facility_problems(catalog, merged, unit, source=source, row=None,
                                   as_of=today):
            problems.append(Problem(p.source, f"{facility.name}: {p.reason}",
                                    column=by_column.get(p.column or "") or p.column,
                                    hint=p.hint, code=p.code, params=p.params))
    return problems


def _violation_problem(violation: Violation, source: str, catalog_dir: Path | None
                       ) -> Problem:
    """A validation rule's violation as a problem beside its item, in both languages
    (``problems.reporting.rule`` / ``comment_needed`` show the page's one)."""
    texts = {f"message_{lang[:2]}": violation_text(violation, lang, catalog_dir=catalog_dir)
             for lang in ("zh-CN", "en")}
    error = violation.importance == "error"
    return Problem(source, texts["message_en"], column=violation.field,
                   code="reporting.rule" if error else "reporting.comment_needed",
                   hint=None if error else "explain it in a comment on the item",
                   params={**texts, "rule": violation.rule_code})


def _event(session: Session, form: RoundForm, action: FormAction, user: User,
           now: dt.datetime, *, level: int | None = None, reason: str | None = None) -> None:
    session.add(FormEvent(form_id=form.id, action=action.value, level=level, user_id=user.id,
                          username=user.username, at=now, reason=reason))


def save_form(session: Session, config: ReportingConfig, user: User, round_id: int,
              code: str, *, values: Mapping[str, object],
              comments: Mapping[str, str] | None = None, submit: bool = False,
              now: dt.datetime, source: str = "form",
              catalog_dir: Path | None = None) -> RoundForm:
    """Save the unit's form as a draft, or submit it (every item given, the registry's
    rules and the round's validation rules met; a warning needs a comment).  A signed-off
    form is refused until it is unapproved.  Nothing is stored when anything is wrong."""
    round_ = get_round(session, round_id)
    unit = _require_unit(session, user, round_, code)
    if now.date() < round_.opens_on:
        raise ConflictError(f"round {round_.id} opens on {round_.opens_on.isoformat()}",
                            code="reporting.not_open_yet",
                            params={"date": round_.opens_on.isoformat()})
    form = _form(session, round_.id, code)
    if form is not None and form.approved_level is not None:
        raise ConflictError(
            f"the form of {code} in round {round_.id} is signed off at level "
            f"{form.approved_level}; it must be unapproved (with a reason) before a change",
            code="reporting.form_locked", params={"division": code})
    items = unit_items(session, config, round_, code, catalog_dir=catalog_dir)
    figures, problems = _parse(items, values, source)
    notes = {k: v.strip()[:MAX_COMMENT] for k, v in (comments or {}).items()
             if k in {i.key for i in items} and v and v.strip()}
    violations: list[Violation] = []
    if submit and not problems:
        problems += _registry_problems(items, figures, unit, source)
        problems += _facility_problems(session, items, figures, unit, round_=round_,
                                       source=source, catalog_dir=catalog_dir,
                                       today=now.date())
    if submit and not problems:
        violations = check_submission(session, round_.id, code, figures, notes,
                                      catalog_dir=catalog_dir)
        problems += [_violation_problem(v, source, catalog_dir) for v in violations
                     if v.blocks]
    if problems:
        raise ValidationError(problems, summary=f"the form of {code}: {len(problems)} "
                              "problem(s); nothing was saved")
    if form is None:
        form = RoundForm(round_id=round_.id, division_code=code,
                         status=FormStatus.DRAFT.value, updated_at=now)
        session.add(form)
        session.flush()
    stored = {v.item: v for v in session.scalars(select(FormValue).where(
        FormValue.form_id == form.id))}
    for item in items:
        row = stored.get(item.key)
        if row is None:
            row = FormValue(form_id=form.id, item=item.key)
            session.add(row)
        row.value = figures.get(item.key)
        row.comment = notes.get(item.key)
    form.updated_at = now
    if submit:
        form.status = FormStatus.SUBMITTED.value
        form.submitted_at = now
        form.first_submitted_at = form.first_submitted_at or now
    else:
        form.status = FormStatus.DRAFT.value
    session.flush()
    _event(session, form, FormAction.SUBMIT if submit else FormAction.SAVE, user, now)
    audit(session, user=user, action="submit" if submit else "save", entity="reporting_form",
          entity_id=form.id, detail={"round": round_.id, "division_code": code,
                                     "values": dict(figures)})
    if submit:  # the warnings answered stay in the round's violations list
        record_violations(session, round_.id, code, violations, notes)
    if submit and config.apply_on is ApplyOn.SUBMITTED:
        apply_figures(session, config, user, form, now=now, catalog_dir=catalog_dir)
    session.flush()
    return form


def _told(session: Session, form: RoundForm) -> dict[str, object]:
    """What a notification of ``form``'s sign-off says: the round's and the unit's names."""
    return {"round": get_round(session, form.round_id).name,
            "division": queries.division(session, form.division_code).name}


def get_form(session: Session, form_id: int) -> RoundForm:
    """The form ``form_id``."""
    return get_or_not_found(session, RoundForm, form_id, what="reporting form",
                            hint="a round's overview lists its forms",
                            code="reporting.no_form", listed_on="/reporting")


def approve_form(session: Session, config: ReportingConfig, user: User, form_id: int, *,
                 now: dt.datetime, catalog_dir: Path | None = None) -> RoundForm:
    """Sign the form off at the next level; the last level's sign-off writes the figures
    into the registry (``apply_on = "approved"``)."""
    require_role(user, *STAFF_ROLES)
    form = get_form(session, form_id)
    require_in_jurisdiction(user, form.division_code)
    if form.status == FormStatus.DRAFT.value:
        raise ConflictError(f"form {form.id} is not submitted yet",
                            code="reporting.not_submitted")
    level = config.next_level(form.approved_level)
    if level is None:
        raise ConflictError(f"form {form.id} is signed off by every level",
                            code="reporting.already_approved")
    if not _may_sign(user, level, form.division_code):
        raise AccessDenied(f"the next sign-off of form {form.id} is at level {level}; user "
                           f"{user.id} ({user.role}) works at level {_user_level(user)}",
                           code="reporting.not_your_level", params={"level": level})
    form.approved_level = level
    form.status = FormStatus.APPROVED.value
    form.updated_at = now
    _event(session, form, FormAction.APPROVE, user, now, level=level)
    audit(session, user=user, action="approve", entity="reporting_form", entity_id=form.id,
          detail={"division_code": form.division_code, "level": level})
    notify_division_workers(session, form.division_code, Kind.FIGURES_APPROVED,
                            _told(session, form),
                            f"reporting_form:{form.id}:approved:{level}:{now:%Y%m%dT%H%M%S}",
                            skip_user_id=user.id)
    if level == config.last_level and config.apply_on is ApplyOn.APPROVED:
        apply_figures(session, config, user, form, now=now, catalog_dir=catalog_dir)
    session.flush()
    return form


def unapprove_form(session: Session, config: ReportingConfig, user: User, form_id: int,
                   reason: str, *, now: dt.datetime) -> RoundForm:
    """Withdraw the latest sign-off of the form (its level or one above, with a reason);
    with none left, the community may change and submit it again."""
    require_role(user, *STAFF_ROLES)
    form = get_form(session, form_id)
    require_in_jurisdiction(user, form.division_code)
    text = reason.strip()
    if not text:
        raise ValidationError([Problem("form", "is required", column="reason",
                                       code="reporting.reason_needed")])
    if len(text) > MAX_REASON:
        raise ValidationError([Problem("form", "is too long", column="reason",
                                       code="too_long", params={"limit": MAX_REASON})])
    level = form.approved_level
    if level is None:
        raise ConflictError(f"form {form.id} is not signed off", code="reporting.not_approved")
    if not _may_sign(user, level, form.division_code):
        raise AccessDenied(f"form {form.id} is signed off at level {level}; only that level "
                           "or one above may unapprove it", code="reporting.not_your_level",
                           params={"level": level})
    form.approved_level = config.previous_level(level) if level in config.signoff_levels \
        else None
    form.status = (FormStatus.APPROVED if form.approved_level is not None
                   else FormStatus.SUBMITTED).value
    form.updated_at = now
    _event(session, form, FormAction.UNAPPROVE, user, now, level=level, reason=text)
    audit(session, user=user, action="unapprove", entity="reporting_form", entity_id=form.id,
          detail={"division_code": form.division_code, "level": level, "reason": text})
    notify_division_workers(session, form.division_code, Kind.FIGURES_UNAPPROVED,
                            _told(session, form),
                            f"reporting_form:{form.id}:unapproved:{level}:{now:%Y%m%dT%H%M%S}",
                            skip_user_id=user.id)
    session.flush()
    return form


def apply_figures(session: Session, config: ReportingConfig, user: User, form: RoundForm, *,
                  now: dt.datetime, catalog_dir: Path | None = None) -> None:
    """Write the form's figures into the registry once: the year's population, the
    workforce lines it asks for (other lines kept), the indicator inputs and each
    facility's figures (through the upkeep service's rules, audited).  The registry keeps
    one set of figures a year, so a quarterly round's figures become its year's: the last
    quarter signed off is what every office reads."""
    round_ = get_round(session, form.round_id)
    items = unit_items(session, config, round_, form.division_code, catalog_dir=catalog_dir)
    values = {v.item: v.value for v in session.scalars(select(FormValue).where(
        FormValue.form_id == form.id))}
    given = [(i, values[i.key]) for i in items if values.get(i.key) is not None]
    code, period, label = form.division_code, round_.period, _label(round_)
    population = {i.column: int(v or 0) for i, v in given if i.target is Target.POPULATION}
    if population:
        record = upkeep.record_population(session, user, code, period, population,
                                          source=label)
        record.source = label
    lines = {(i.column, i.certification or "none"): int(v or 0) for i, v in given
             if i.target is Target.WORKFORCE}
    if lines:
        kept = {(w.role, w.certification): w.headcount for w in session.scalars(
            select(Workforce).where(Workforce.division_code == code,
                                    Workforce.period == period))}
        merged = kept | lines
        records = upkeep.record_workforce(session, user, code, period, [
            {"role": r, "certification": c, "headcount": h}
            for (r, c), h in sorted(merged.items())], source=label)
        for line in records:
            line.source = label
    inputs = [(code, period, i.column, float(v or 0.0)) for i, v in given
              if i.target is Target.INPUT]
    if inputs:
        put_inputs(session, inputs, source=label)
    asked = sorted({i.facility_id for i, _ in given if i.facility_id is not None})
    if asked:
        catalog = load_catalog(catalog_dir)
        for facility in session.scalars(select(Facility).where(Facility.id.in_(asked))):
            changes = _facility_changes(items, values, facility, round_, now.date())
            if changes:
                upkeep.update_facility(session, catalog, user, facility.id, changes,
                                       source=label)
    form.applied_at = now
    _event(session, form, FormAction.APPLY, user, now)
    session.flush()


# ------------------------------------------------------------------------ overview


@dataclass(frozen=True, slots=True)
class UnitState:
    """One community's standing in a round."""

    code: str
    name: str
    status: str | None
    approved_level: int | None
    first_submitted_at: dt.datetime | None
    late: bool


def _units(session: Session, round_: ReportingRound, prefix: str) -> pl.DataFrame:
    scope = _scope_prefix(round_)
    inner = prefix if prefix.startswith(scope) else scope
    rows = session.execute(select(Division.code, Division.name).where(
        queries.valid_on(round_.due_on), Division.level == 5,
        Division.code.startswith(inner))).all()
    return pl.DataFrame([tuple(r) for r in rows], schema={"code": pl.String(),
                                                           "name": pl.String()}, orient="row")


def _forms(session: Session, round_: ReportingRound, prefix: str) -> pl.DataFrame:
    rows = session.execute(select(
        RoundForm.division_code, RoundForm.status, RoundForm.approved_level,
        RoundForm.first_submitted_at).where(RoundForm.round_id == round_.id,
                                            RoundForm.division_code.startswith(prefix))).all()
    return pl.DataFrame([tuple(r) for r in rows], schema={
        "division_code": pl.String(), "status": pl.String(), "approved_level": pl.Int64(),
        "first_submitted_at": pl.Datetime()}, orient="row")


def form_flags(forms: pl.DataFrame, *, due_on: dt.date, last_level: int | None
               ) -> pl.DataFrame:
    """Each form's reported / on time / approved flags (:data:`FORM_SCHEMA`)."""
    reported = pl.col("status").is_in([FormStatus.SUBMITTED.value, FormStatus.APPROVED.value])
    approved = (pl.col("approved_level") == last_level) if last_level is not None \
        else reported
    return forms.select(
        "division_code", reported.alias("reported"),
        (reported & (pl.col("first_submitted_at").dt.date() <= due_on)).fill_null(
            value=False).alias("on_time"),
        approved.fill_null(value=False).alias("approved")).cast(
        pl.Schema(FORM_SCHEMA))


@dataclass(frozen=True, slots=True)
class Overview:
    """A round seen from one jurisdiction: its totals, its children's, and every unit."""

    round: ReportingRound
    scope_code: str | None
    totals: dict[str, int]
    children: list[tuple[str, str, dict[str, int]]]
    units: list[UnitState]
    # communities whose registry figures of the year rest on forms no sign-off holds
    unapproved: frozenset[str] = frozenset()


def overview(session: Session, config: ReportingConfig, user: User, round_id: int, *,
             today: dt.date) -> Overview:
    """Completeness, timeliness and sign-off in the user's jurisdiction, per child
    division, and each community's state (late: past the due date and not submitted on
    time)."""
    require_role(user, *STAFF_ROLES)
    round_ = get_round(session, round_id)
    prefix = jurisdiction_prefix(user) or ""
    if not _covers(round_, prefix):
        raise NotFoundError(f"round {round_.id} asks nothing of your jurisdiction",
                            code="reporting.round_not_yours", params={"round": round_.id})
    units = _units(session, round_, prefix)
    forms = _forms(session, round_, prefix)
    flags = form_flags(forms, due_on=round_.due_on, last_level=config.last_level)
    level = level_of(user.jurisdiction_code) if user.jurisdiction_code else 0
    child_level = min(level + 1, 5)
    table = roll_up(units["code"], flags, levels=(level, child_level) if level < 5
                    else (level,))
    own = table.filter(pl.col("level") == level)
    totals = {k: int(own[k].sum()) for k in ("expected", "reported", "on_time", "approved")}
    children_rows = table.filter(pl.col("level") == child_level) if level < 5 else \
        table.head(0)
    names = {d.code: d.name for d in session.scalars(select(Division).where(
        queries.valid_on(round_.due_on),
        Division.code.in_(children_rows["code"].to_list())))} if children_rows.height \
        else {}
    children = [(row["code"], names.get(row["code"], row["code"]),
                 {k: int(row[k]) for k in ("expected", "reported", "on_time", "approved")})
                for row in children_rows.iter_rows(named=True)]
    by_code = {row["division_code"]: row for row in forms.iter_rows(named=True)}
    on_time = set(flags.filter(pl.col("on_time"))["division_code"].to_list())
    past_due = today > round_.due_on
    states = []
    for code, name in units.sort("code").iter_rows():
        row = by_code.get(code)
        status = row["status"] if row else None
        submitted = row["first_submitted_at"] if row else None
        late = (past_due and code not in on_time) or (
            submitted is not None and submitted.date() > round_.due_on)
        states.append(UnitState(code, name, status, row["approved_level"] if row else None,
                                submitted, late))
    resting = frozenset(resting_on_unapproved(session, config, period=round_.period,
                                              prefix=prefix))
    return Overview(round_, user.jurisdiction_code, totals, children, states, resting)


def resting_on_unapproved(session: Session, config: ReportingConfig, *, period: int,
                          prefix: str = "") -> list[str]:
    """The communities under ``prefix`` whose registry figures of ``period`` were last
    written by a form that is not, or no longer, signed off by the last level (applied at
    submission, or unapproved after it was applied).  An indicator value of one of them,
    or of a division above one, rests on unapproved figures."""
    rows = session.execute(select(
        RoundForm.division_code, RoundForm.approved_level, RoundForm.applied_at).join(
        ReportingRound, ReportingRound.id == RoundForm.round_id).where(
        ReportingRound.period == period, RoundForm.applied_at.is_not(None),
        RoundForm.division_code.startswith(prefix))).all()
    latest: dict[str, tuple[dt.datetime, int | None]] = {}
    for code, level, applied in rows:
        if applied is not None and (code not in latest or applied >= latest[code][0]):
            latest[code] = (applied, level)
    return sorted(code for code, (_, level) in latest.items() if level != config.last_level)


def awaiting_signoff(session: Session, config: ReportingConfig, user: User) -> int:
    """How many submitted forms in the user's jurisdiction wait for a sign-off the user
    may give (the workbench's count)."""
    role = Role(user.role)
    if role not in STAFF_ROLES or role is Role.COMMUNITY_WORKER:
        return 0
    prefix = jurisdiction_prefix(user) or ""
    forms = session.execute(select(RoundForm.division_code, RoundForm.approved_level).where(
        RoundForm.status != FormStatus.DRAFT.value,
        RoundForm.division_code.startswith(prefix))).all()
    count = 0
    for code, approved in forms:
        upcoming = config.next_level(approved)
        if upcoming is not None and _may_sign(user, upcoming, code):
            count += 1
    return count


def forms_to_do(session: Session, config: ReportingConfig, user: User, *, today: dt.date
                ) -> tuple[int, int] | None:
    """The workbench's line: (forms waiting for the user, of which late), or None while
    no open round concerns the user's jurisdiction.  A community worker's forms wait
    until submitted; other staff's wait for a sign-off they may give."""
    if Role(user.role) not in STAFF_ROLES:
        return None
    rounds = [r for r in rounds_for(session, user) if r.opens_on <= today]
    if not rounds:
        return None
    if Role(user.role) is not Role.COMMUNITY_WORKER or not user.jurisdiction_code:
        return awaiting_signoff(session, config, user), 0
    waiting = late = 0
    for round_ in rounds:
        form = _form(session, round_.id, user.jurisdiction_code)
        if form is None or form.status == FormStatus.DRAFT.value:
            waiting += 1
            late += today > round_.due_on
    return waiting, late


__all__ = [
    "OPENING_ROLES",
    "FormView",
    "Overview",
    "UnitState",
    "apply_figures",
    "approve_form",
    "awaiting_signoff",
    "form_flags",
    "form_view",
    "forms_to_do",
    "get_form",
    "get_round",
    "open_round",
    "overview",
    "period_span",
    "reporting_config",
    "resting_on_unapproved",
    "round_items",
    "rounds_for",
    "save_form",
    "unapprove_form",
    "unit_items",
]
