"""The pages of reporting rounds: ``/reporting`` lists the rounds (and opens one, for the
nation and the provinces), a round's overview shows completeness, timeliness and
sign-off rolled up with the late units, and a unit's form is filled, saved, submitted,
signed off and unapproved there.

Every form goes through the service functions the JSON API calls
(:mod:`shequ.services.reporting.service`).  A refused form is drawn again at once with
what was typed and each problem beside its field, in the reader's language; a form
locked by a sign-off is drawn again with the reason (409), nothing changed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated

import pydantic
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from shequ import i18n
from shequ.context import Context
from shequ.errors import AccessDenied, ConflictError, NotFoundError, Problem, ShequError
from shequ.errors import ValidationError as ShequValidationError
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.services.accounts import STAFF_ROLES, Role
from shequ.services.bookings.clock import local_now
from shequ.services.reporting import service as reporting
from shequ.services.reporting.config import DataItem, ReportingConfig
from shequ.services.reporting.models import Frequency
from shequ.web.forms import FormState, back, failed, typed
from shequ.web.page import Crumb, Page, SignedInPage, render

router = APIRouter(include_in_schema=False)

CodePath = Annotated[str, Path(pattern=r"^\d{12}$")]
COMMENT = "comment-"


async def _form(request: Request) -> FormData:
    """The posted form, read once (the CSRF check reads it too)."""
    return await request.form()


Posted = Annotated[FormData, Depends(_form)]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _config(ctx: Context) -> ReportingConfig:
    return reporting.reporting_config(ctx.settings.catalog_dir)


def item_label(lang: str, item: DataItem) -> str:
    """An item's name in ``lang`` (its key when the catalog has no words for it, as for
    an input a province added)."""
    key = f"reporting.item_{item.template}"
    name = i18n.translate(lang, key) if i18n.has_message(lang, key) else item.template
    return name if item.facility_name is None else f"{item.facility_name} · {name}"


def _breadcrumbs(page: Page, *more: Crumb) -> list[Crumb]:
    return [Crumb(page.t("common.workbench"), "/work"),
            Crumb(page.t("reporting.title"), "/reporting"), *more]


# ------------------------------------------------------------------------- rounds


def _rounds_page(page: Page, ctx: Context, session: Session, *,
                 state: FormState | None = None, status_code: int = 200) -> HTMLResponse:
    user = page.require(*STAFF_ROLES)
    rounds = reporting.rounds_for(session, user)
    config = _config(ctx)
    today = local_now().date()
    own = user.jurisdiction_code if Role(user.role) is Role.COMMUNITY_WORKER else None
    return render(page, "reporting_rounds.html", {
        "rounds": rounds, "own": own, "today": today,
        "may_open": Role(user.role) in reporting.OPENING_ROLES,
        "datasets": [(d, page.t(f"reporting.dataset_{d}")) for d in config.datasets],
        "frequencies": [(f.value, page.t(f"reporting.frequency_{f.value}"))
                        for f in Frequency],
        "state": state, "next_year": today.year - 1,
        "default_opens": today.replace(day=1), "default_due": today + dt.timedelta(days=30),
        "breadcrumbs": [*_breadcrumbs(page)[:-1], Crumb(page.t("reporting.title"))],
    }, status_code=status_code)


@router.get("/reporting", response_class=HTMLResponse)
def rounds_page(page: SignedInPage, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """The rounds that concern the reader's jurisdiction."""
    return _rounds_page(page, ctx, session)


def _date(form: FormData, name: str) -> dt.date:
    text = _text(form, name).strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ShequValidationError([Problem("form", f"{text!r} is not a date", column=name,
                                            code="required" if not text else "not_a_date",
                                            params={"value": text})]) from None


def _int(form: FormData, name: str) -> int:
    text = _text(form, name).strip()
    try:
        return int(text)
    except ValueError:
        raise ShequValidationError([Problem("form", f"{text!r} is not a number", column=name,
                                            code="required" if not text else "not_a_number",
                                            params={"value": text})]) from None


@router.post("/reporting/rounds", response_class=HTMLResponse)
def open_round_form(form: Posted, page: SignedInPage, ctx: ContextDep,
                    session: SessionDep) -> Response:
    """Open a round from the page (the nation, or a province for itself)."""
    user = page.require(*reporting.OPENING_ROLES)
    state = typed(form)
    try:
        quarter = _text(form, "quarter").strip()
        round_ = reporting.open_round(
            session, _config(ctx), user, name=_text(form, "name"), period=_int(form, "period"),
            opens_on=_date(form, "opens_on"), due_on=_date(form, "due_on"),
            datasets=[v for v in form.getlist("datasets") if isinstance(v, str)][:20],
            frequency=_text(form, "frequency") or Frequency.ANNUAL.value,
            quarter=int(quarter) if quarter.isdigit() else None, now=local_now())
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        state = failed(state, exc, page.lang, session=session, fields={
            n: n for n in ("name", "period", "opens_on", "due_on", "datasets", "frequency",
                           "quarter")})
        return _rounds_page(page, ctx, session, state=state, status_code=422)
    return back(f"/reporting/rounds/{round_.id}", message="reporting.opened")


# ----------------------------------------------------------------------- overview


@router.get("/reporting/rounds/{round_id}", response_class=HTMLResponse)
def overview_page(round_id: IdPath, page: SignedInPage, ctx: ContextDep,
                  session: SessionDep) -> HTMLResponse:
    """Completeness, timeliness and sign-off of a round in the reader's jurisdiction."""
    user = page.require(*STAFF_ROLES)
    seen = reporting.overview(session, _config(ctx), user, round_id,
                              today=local_now().date())
    totals = seen.totals
    expected = totals["expected"] or 1
    late = [u for u in seen.units if u.late]
    own = user.jurisdiction_code if Role(user.role) is Role.COMMUNITY_WORKER else None
    return render(page, "reporting_overview.html", {
        "seen": seen, "round": seen.round, "totals": totals, "late": late,
        "shares": {k: totals[k] / expected for k in ("reported", "on_time", "approved")},
        "own": own, "last_level": _config(ctx).last_level,
        "breadcrumbs": _breadcrumbs(page, Crumb(seen.round.name)),
    })


# --------------------------------------------------------------------------- form


def _form_page(page: Page, ctx: Context, session: Session, round_id: int, code: str, *,
               state: FormState | None = None, warned: frozenset[str] = frozenset(),
               reason_state: FormState | None = None, status_code: int = 200) -> HTMLResponse:
    user = page.require(*STAFF_ROLES)
    view = reporting.form_view(session, _config(ctx), user, round_id, code,
                               catalog_dir=ctx.settings.catalog_dir)
    groups: list[tuple[str, list[tuple[DataItem, str]]]] = []
    for item in view.items:
        if not groups or groups[-1][0] != item.dataset:
            groups.append((item.dataset, []))
        groups[-1][1].append((item, item_label(page.lang, item)))
    shown = {k: "" if v is None else (str(int(v)) if float(v).is_integer() else str(v))
             for k, v in view.values.items()}
    return render(page, "reporting_form.html", {
        "view": view, "round": view.round, "unit": view.unit, "groups": groups,
        "shown": shown, "state": state, "reason_state": reason_state,
        "comment_boxes": set(view.comments) | set(warned) | {
            k.removeprefix(COMMENT) for k in (state.values if state else {})
            if k.startswith(COMMENT) and state and state.values[k]},
        "comment": COMMENT,
        "breadcrumbs": _breadcrumbs(page, Crumb(view.round.name,
                                                f"/reporting/rounds/{view.round.id}"),
                                    Crumb(view.unit.name)),
    }, status_code=status_code)


@router.get("/reporting/rounds/{round_id}/forms/{code}", response_class=HTMLResponse)
def form_page(round_id: IdPath, code: CodePath, page: SignedInPage, ctx: ContextDep,
              session: SessionDep) -> HTMLResponse:
    """A unit's form in a round."""
    return _form_page(page, ctx, session, round_id, code)


def _warned(exc: ShequError) -> frozenset[str]:
    """The items a warning asks a comment for (their comment boxes are shown)."""
    if not isinstance(exc, ShequValidationError):
        return frozenset()
    return frozenset(p.column for p in exc.problems
                     if p.column and p.code == "reporting.comment_needed")


@router.post("/reporting/rounds/{round_id}/forms/{code}", response_class=HTMLResponse)
def save_form(round_id: IdPath, code: CodePath, form: Posted, *, page: SignedInPage,
              ctx: ContextDep, session: SessionDep) -> Response:
    """Save the form as a draft (``action=save``) or submit it (``action=submit``)."""
    user = page.require(*STAFF_ROLES)
    state = typed(form)
    config = _config(ctx)
    submit = _text(form, "action") == "submit"
    round_ = reporting.get_round(session, round_id)
    items = reporting.unit_items(session, config, round_, code,
                                 catalog_dir=ctx.settings.catalog_dir)
    keys = [i.key for i in items]
    try:
        reporting.save_form(session, config, user, round_id, code,
                            values={k: _text(form, k) for k in keys},
                            comments={k: _text(form, COMMENT + k) for k in keys},
                            submit=submit, now=local_now(),
                            catalog_dir=ctx.settings.catalog_dir)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        warned = _warned(exc) if isinstance(exc, ShequError) else frozenset()
        if isinstance(exc, ShequValidationError):  # each problem names its item's label
            labels = {i.key: item_label(page.lang, i) for i in items}
            exc.problems = tuple(
                replace(p, params={"field": labels[p.column or ""], **p.params})
                if (p.column or "") in labels else p for p in exc.problems)
        state = failed(state, exc, page.lang, session=session,
                       fields={k: k for k in keys} | {
                           f"{COMMENT}{k}": f"{COMMENT}{k}" for k in keys})
        return _form_page(page, ctx, session, round_id, code, state=state, warned=warned,
                          status_code=409 if isinstance(exc, ConflictError) else 422)
    return back(f"/reporting/rounds/{round_id}/forms/{code}",
                message="reporting.submitted" if submit else "reporting.saved")


@router.post("/reporting/forms/{form_id}/approve", response_class=HTMLResponse)
def approve_form(form_id: IdPath, form: Posted, page: SignedInPage, ctx: ContextDep,
                 session: SessionDep) -> Response:
    """Sign the form off at the next level."""
    user = page.require(*STAFF_ROLES)
    del form  # read for the CSRF check only
    row = reporting.get_form(session, form_id)
    try:
        reporting.approve_form(session, _config(ctx), user, form_id, now=local_now(),
                               catalog_dir=ctx.settings.catalog_dir)
    except ConflictError as exc:
        state = failed(FormState(), exc, page.lang, session=session)
        return _form_page(page, ctx, session, row.round_id, row.division_code,
                          state=state, status_code=409)
    return back(f"/reporting/rounds/{row.round_id}/forms/{row.division_code}",
                message="reporting.approved")


@router.post("/reporting/forms/{form_id}/unapprove", response_class=HTMLResponse)
def unapprove_form(form_id: IdPath, form: Posted, page: SignedInPage, ctx: ContextDep,
                   session: SessionDep) -> Response:
    """Withdraw the form's latest sign-off, with a reason."""
    user = page.require(*STAFF_ROLES)
    row = reporting.get_form(session, form_id)
    round_id, code = row.round_id, row.division_code
    state = typed(form)
    try:
        reporting.unapprove_form(session, _config(ctx), user, form_id, _text(form, "reason"),
                                 now=local_now())
    except (ConflictError, ShequValidationError) as exc:
        state = failed(state, exc, page.lang, session=session, fields={"reason": "reason"})
        return _form_page(page, ctx, session, round_id, code, reason_state=state,
                          status_code=409 if isinstance(exc, ConflictError) else 422)
    return back(f"/reporting/rounds/{round_id}/forms/{code}",
                message="reporting.unapproved")
