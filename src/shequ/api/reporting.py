"""Reporting rounds over HTTP: JSON under ``/api/v1/reporting`` (the pages are
:mod:`shequ.web.reporting`'s).

Open a round, read a unit's form (prefilled), save or submit it, sign it off or
unapprove it with a reason, and read the round's completeness and timeliness; every
route calls the one service function of its use case (:mod:`shequ.services.reporting`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from shequ.api.registry import ERRORS
from shequ.http.caller import CurrentUser
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.registry import queries
from shequ.registry.codes import code_prefix
from shequ.registry.models import MAX_PERIOD, MIN_PERIOD
from shequ.services.bookings.clock import local_now
from shequ.services.reporting import service as reporting
from shequ.services.reporting.models import Frequency, RoundForm

router = APIRouter(prefix="/reporting", tags=["reporting"], responses=ERRORS)

CodePath = Annotated[str, Path(pattern=r"^\d{12}$", description="12-digit division code")]
WRITE_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "Not signed in"},
    403: {"description": "Not a role that may do this, or outside the jurisdiction"},
    409: {"description": "The form is locked by a sign-off, or not in a state for this"},
    422: {"description": "A figure or a rule is wrong; nothing was stored"},
}


class ItemOut(BaseModel):
    """One data item a round may ask for."""

    key: str
    dataset: str
    target: str


class DatasetOut(BaseModel):
    """A data set of the catalog and its items."""

    code: str
    items: list[ItemOut]


class RoundIn(BaseModel):
    """A round to open."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    period: int = Field(ge=MIN_PERIOD, le=MAX_PERIOD)
    frequency: Frequency = Frequency.ANNUAL
    quarter: int | None = Field(default=None, ge=1, le=4)
    scope_code: str | None = Field(default=None, pattern=r"^\d{12}$",
                                   description="a province's code; none: the nation")
    opens_on: dt.date
    due_on: dt.date
    datasets: list[str] = Field(min_length=1, max_length=20)


class RoundOut(BaseModel):
    """A round as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    period: int
    frequency: str
    quarter: int | None
    scope_code: str | None
    opens_on: dt.date
    due_on: dt.date
    period_start: dt.date = Field(description="the first day the figures are for")
    period_end: dt.date = Field(description="the last day the figures are for")


class EventOut(BaseModel):
    """A step of a form's history."""

    model_config = ConfigDict(from_attributes=True)

    action: str
    level: int | None
    username: str | None
    at: dt.datetime
    reason: str | None


class FormOut(BaseModel):
    """A unit's form: values (stored, else prefilled and from where), status, what the
    caller may do."""

    round_id: int
    division_code: str
    form_id: int | None
    status: str
    approved_level: int | None
    values: dict[str, float | None]
    comments: dict[str, str]
    prefilled: dict[str, str]
    can_edit: bool
    approve_level: int | None
    can_unapprove: bool
    events: list[EventOut]


class FormIn(BaseModel):
    """Figures by item key (null or left out: empty), comments by item key, and whether
    to submit."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, float | None] = Field(default_factory=dict, max_length=200)
    comments: dict[str, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=200)
    submit: bool = False


class ReasonIn(BaseModel):
    """Why a sign-off is withdrawn."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class SignOffOut(BaseModel):
    """A form's standing after a sign-off or an unapproval."""

    form_id: int
    status: str
    approved_level: int | None
    applied: bool


class CountsOut(BaseModel):
    """Expected, reported, on-time and approved communities."""

    expected: int
    reported: int
    on_time: int
    approved: int


class ChildOut(CountsOut):
    """One child division's counts."""

    code: str
    name: str


class UnitOut(BaseModel):
    """One community's standing."""

    code: str
    name: str
    status: str | None
    approved_level: int | None
    first_submitted_at: dt.datetime | None
    late: bool


class OverviewOut(BaseModel):
    """A round seen from the caller's jurisdiction."""

    round: RoundOut
    totals: CountsOut
    children: list[ChildOut]
    units: list[UnitOut]


def _form_out(view: reporting.FormView) -> FormOut:
    form = view.form
    return FormOut(round_id=view.round.id, division_code=view.unit.code,
                   form_id=form.id if form else None, status=view.status,
                   approved_level=form.approved_level if form else None,
                   values=view.values, comments=view.comments, prefilled=view.prefilled,
                   can_edit=view.can_edit, approve_level=view.approve_level,
                   can_unapprove=view.can_unapprove,
                   events=[EventOut.model_validate(e) for e in view.events])


@router.get("/datasets", response_model=list[DatasetOut])
def datasets(ctx: ContextDep) -> list[DatasetOut]:
    """The data sets a round may ask for, with their items."""
    config = reporting.reporting_config(ctx.settings.catalog_dir)
    return [DatasetOut(code=d.code, items=[ItemOut(key=i.key, dataset=i.dataset,
                                                   target=i.target.value) for i in d.items])
            for d in config.datasets.values()]


@router.get("/rounds", response_model=list[RoundOut])
def rounds(user: CurrentUser, session: SessionDep) -> list[RoundOut]:
    """The rounds that concern the caller's jurisdiction, newest first."""
    return [RoundOut.model_validate(r) for r in reporting.rounds_for(session, user)]


@router.post("/rounds", response_model=RoundOut, status_code=201, responses=WRITE_ERRORS)
def open_round(body: RoundIn, user: CurrentUser, ctx: ContextDep,
               session: SessionDep) -> RoundOut:
    """Open a round (the nation, or a province for itself)."""
    round_ = reporting.open_round(
        session, reporting.reporting_config(ctx.settings.catalog_dir), user, name=body.name,
        period=body.period, frequency=body.frequency.value, quarter=body.quarter,
        scope_code=body.scope_code, opens_on=body.opens_on, due_on=body.due_on,
        datasets=body.datasets, now=local_now())
    return RoundOut.model_validate(round_)


@router.get("/rounds/{round_id}/forms/{code}", response_model=FormOut)
def read_form(round_id: IdPath, code: CodePath, user: CurrentUser, ctx: ContextDep,
              session: SessionDep) -> FormOut:
    """The unit's form: stored values, else prefilled from the registry and the last
    round."""
    config = reporting.reporting_config(ctx.settings.catalog_dir)
    return _form_out(reporting.form_view(session, config, user, round_id, code,
                                         catalog_dir=ctx.settings.catalog_dir))


@router.put("/rounds/{round_id}/forms/{code}", response_model=FormOut,
            responses=WRITE_ERRORS)
def save_form(round_id: IdPath, code: CodePath, body: FormIn, user: CurrentUser,
              ctx: ContextDep, session: SessionDep) -> FormOut:
    """Save the unit's form as a draft, or submit it (``submit: true``)."""
    config = reporting.reporting_config(ctx.settings.catalog_dir)
    reporting.save_form(session, config, user, round_id, code, values=body.values,
                        comments=body.comments, submit=body.submit, now=local_now(),
                        source="body", catalog_dir=ctx.settings.catalog_dir)
    return _form_out(reporting.form_view(session, config, user, round_id, code,
                                         catalog_dir=ctx.settings.catalog_dir))


def _sign_off_out(form: RoundForm) -> SignOffOut:
    return SignOffOut(form_id=form.id, status=form.status, approved_level=form.approved_level,
                      applied=form.applied_at is not None)


@router.post("/forms/{form_id}/approve", response_model=SignOffOut, responses=WRITE_ERRORS)
def approve(form_id: IdPath, user: CurrentUser, ctx: ContextDep,
            session: SessionDep) -> SignOffOut:
    """Sign the form off at the next level."""
    config = reporting.reporting_config(ctx.settings.catalog_dir)
    return _sign_off_out(reporting.approve_form(session, config, user, form_id,
                                                now=local_now(),
                                                catalog_dir=ctx.settings.catalog_dir))


@router.post("/forms/{form_id}/unapprove", response_model=SignOffOut,
             responses=WRITE_ERRORS)
def unapprove(form_id: IdPath, body: ReasonIn, user: CurrentUser, ctx: ContextDep,
              session: SessionDep) -> SignOffOut:
    """Withdraw the form's latest sign-off, with a reason."""
    config = reporting.reporting_config(ctx.settings.catalog_dir)
    return _sign_off_out(reporting.unapprove_form(session, config, user, form_id,
                                                  body.reason, now=local_now()))


class UnapprovedOut(BaseModel):
    """Whether a division's figures of a year rest on unapproved forms, and which of its
    communities' do."""

    period: int
    division_code: str
    rests_on_unapproved: bool
    communities: list[str]


@router.get("/unapproved/{code}/{period}", response_model=UnapprovedOut)
def unapproved(code: CodePath, period: Annotated[int, Path(ge=MIN_PERIOD, le=MAX_PERIOD)],
               ctx: ContextDep, session: SessionDep) -> UnapprovedOut:
    """Whether the indicator values of ``code`` for ``period`` rest on figures a reporting
    form wrote but no sign-off holds (public, like the indicator values)."""
    config = reporting.reporting_config(ctx.settings.catalog_dir)
    unit = queries.division(session, code)
    communities = reporting.resting_on_unapproved(
        session, config, period=period, prefix=code_prefix(unit.code, unit.level))
    return UnapprovedOut(period=period, division_code=unit.code,
                         rests_on_unapproved=bool(communities), communities=communities)


@router.get("/rounds/{round_id}/overview", response_model=OverviewOut)
def overview(round_id: IdPath, user: CurrentUser, ctx: ContextDep,
             session: SessionDep) -> OverviewOut:
    """Completeness, timeliness and sign-off in the caller's jurisdiction."""
    config = reporting.reporting_config(ctx.settings.catalog_dir)
    seen = reporting.overview(session, config, user, round_id, today=local_now().date())
    return OverviewOut(
        round=RoundOut.model_validate(seen.round), totals=CountsOut(**seen.totals),
        children=[ChildOut(code=c, name=n, **counts) for c, n, counts in seen.children],
        units=[UnitOut(code=u.code, name=u.name, status=u.status,
                       approved_level=u.approved_level,
                       first_submitted_at=u.first_submitted_at, late=u.late)
               for u in seen.units])
