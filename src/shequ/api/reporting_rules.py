"""Validation rules and violations over HTTP: JSON under ``/api/v1/reporting`` (the page is
:mod:`shequ.web.reporting_violations`).

The rules in force (catalog data, with their messages in the reader's language), a
round's violations in keyset pages filtered by area, rule and importance, and the whole
list as XLSX.  Staff only, inside their jurisdiction
(:mod:`shequ.services.reporting.validation`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from shequ.api.registry import ERRORS
from shequ.http.caller import CurrentUser
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.http.language import data_language
from shequ.indicators.rules import load_rules
from shequ.services.reporting import validation

router = APIRouter(prefix="/reporting", tags=["reporting"], responses=ERRORS)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Under = Annotated[str, Query(pattern=r"^\d{12}$|^$",
                             description="a division code: its subtree only")]
RuleCode = Annotated[str | None, Query(max_length=48, pattern=r"^[a-z][a-z0-9_]*$")]
ImportanceQuery = Annotated[str | None, Query(pattern=r"^(error|warning)$")]


class RuleOut(BaseModel):
    """A validation rule or an outlier check in force."""

    code: str
    kind: str
    importance: str
    left: str | None
    operator: str | None
    right: str | None
    right_period: str | None
    field: str | None
    method: str | None
    threshold: float | None
    jurisdiction: str
    message: str


class ViolationOut(BaseModel):
    """One violation of a unit's figures, its message in the reader's language."""

    id: int
    division_code: str
    rule_code: str
    kind: str
    importance: str
    field: str | None
    left_value: float | None
    right_value: float | None
    params: dict[str, Any]
    message: str
    comment: str | None
    form: str


class ViolationPageOut(BaseModel):
    """One page of the list; ``next`` is the cursor of the following page (None: last)."""

    items: list[ViolationOut]
    next: str | None


@router.get("/rules", response_model=list[RuleOut])
def rules(ctx: ContextDep, request: Request) -> list[RuleOut]:
    """Every validation rule and outlier check in force (the catalog's and provinces')."""
    lang = data_language(request)
    found = load_rules(ctx.settings.catalog_dir)
    out = [RuleOut(code=r.code, kind="rule", importance=r.importance, left=r.left_text,
                   operator=r.operator, right=r.right_text, right_period=r.right_period,
                   field=r.field, method=None, threshold=None, jurisdiction=r.jurisdiction,
                   message=r.message(lang)) for r in found.rules]
    out += [RuleOut(code=o.code, kind="outlier", importance=o.importance, left=None,
                    operator=None, right=None, right_period=None, field=o.field,
                    method=o.method, threshold=o.threshold, jurisdiction=o.jurisdiction,
                    message=o.message(lang)) for o in found.outliers]
    return out


@router.get("/rounds/{round_id}/violations", response_model=ViolationPageOut)
def violations(round_id: IdPath, user: CurrentUser, ctx: ContextDep, session: SessionDep,
               request: Request, under: Under = "", rule: RuleCode = None,
               importance: ImportanceQuery = None,
               after: Annotated[str | None, Query(max_length=80)] = None,
               limit: Annotated[int, Query(ge=1, le=validation.MAX_PAGE_SIZE)] = 50
               ) -> ViolationPageOut:
    """A page of the round's violations in (unit code, id) order; pass ``next`` as
    ``after`` for the following page."""
    validation.round_of(session, round_id)
    lang = data_language(request)
    found = load_rules(ctx.settings.catalog_dir)
    page = validation.violations_for(
        session, user, validation.ViolationFilter(round_id, under, rule, importance),
        after=after, limit=limit)
    return ViolationPageOut(items=[ViolationOut(
        id=row.id, division_code=row.division_code, rule_code=row.rule_code, kind=row.kind,
        importance=row.importance, field=row.field, left_value=row.left_value,
        right_value=row.right_value, params=dict(row.params or {}),
        message=validation.violation_text(validation.to_violation(row), lang, rules=found),
        comment=row.comment, form=validation.form_path(row.round_id, row.division_code))
        for row in page.rows], next=page.next_cursor)


class CheckOut(BaseModel):
    """How many violations a whole round's check found (the list now holds them)."""

    round_id: int
    violations: int


@router.post("/rounds/{round_id}/checks", response_model=CheckOut)
def check_round(round_id: IdPath, user: CurrentUser, ctx: ContextDep,
                session: SessionDep) -> CheckOut:
    """Check every form handed in to the round against the rules in force, all units at
    once, and replace the round's violations list (nation, its province, administrators)."""
    count = validation.check_round(session, user, round_id,
                                   catalog_dir=ctx.settings.catalog_dir)
    return CheckOut(round_id=round_id, violations=count)


@router.get("/rounds/{round_id}/violations.xlsx", response_class=Response,
            responses={200: {"content": {XLSX: {}}}})
def violations_xlsx(round_id: IdPath, user: CurrentUser, ctx: ContextDep,
                    session: SessionDep, request: Request, under: Under = "",
                    rule: RuleCode = None, importance: ImportanceQuery = None) -> Response:
    """The whole filtered list as a spreadsheet (no cap on its length)."""
    validation.round_of(session, round_id)
    with tempfile.TemporaryDirectory() as folder:
        path = FilePath(folder) / "violations.xlsx"
        validation.violations_xlsx(
            session, user, validation.ViolationFilter(round_id, under, rule, importance), path,
            lang=data_language(request), rules=load_rules(ctx.settings.catalog_dir))
        content = path.read_bytes()
    return Response(content, media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="violations_{round_id}.xlsx"'})


__all__ = ["router"]
