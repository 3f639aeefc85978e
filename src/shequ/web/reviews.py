"""The review pages: a resident rates a facility of their township, a booking that has
ended or a care place, and sees their reviews (``/reviews``); a case worker publishes or
hides the comments of their communities and reads the year's scores
(``/reviews/manage``).

Who may do what, the act and its audit row are the use cases of
:mod:`shequ.services.reviews.service`, shared with the JSON API.  A form that fails is
drawn again with what was typed and each problem beside its field; one that works
redirects with a message key.
"""

from __future__ import annotations

import pydantic
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.errors import AccessDenied, NotFoundError, ShequError
from shequ.http.deps import IdPath, SessionDep
from shequ.registry.models import Division
from shequ.registry.queries import today, valid_on
from shequ.services.accounts import HANDLER_ROLES, Role
from shequ.services.accounts.acting import acting_division
from shequ.services.bookings.clock import local_now
from shequ.services.reviews import service as rv
from shequ.web.forms import FormState, back, failed
from shequ.web.page import Crumb, Page, SignedInPage, render
from shequ.web.volunteers import Posted, filled, problem_status, time_helpers

router = APIRouter(include_in_schema=False)

# Where the problems of the review form's values are shown: the item, the score, the text.
REVIEW_FIELDS = {"subject_id": "subject", "subject_kind": "subject", "subject": "subject",
                 "score": "score"}


class ReviewForm(pydantic.BaseModel):
    """The review form: the item as ``kind:id``, a score, an optional comment."""

    subject: str = pydantic.Field(pattern=r"^[a-z_]+:[0-9A-Za-z-]{1,64}$")
    score: int = pydantic.Field(ge=1, le=5)
    comment: str = pydantic.Field(default="", max_length=rv.MAX_COMMENT)


class ModerationForm(pydantic.BaseModel):
    """A worker's decision on a comment, with an optional note."""

    decision: str = pydantic.Field(pattern="^(approve|hide)$")
    note: str = pydantic.Field(default="", max_length=500)


def _resident_page(page: Page, session: Session, *, form: FormState | None = None,
                   status_code: int = 200) -> HTMLResponse:
    user = page.require()
    mine = rv.reviews_of(session, user_id=user.id)
    return render(page, "reviews.html", {
        "choices": rv.choices_for(session, user, acting_division(session, user) or ""),
        "mine": mine, "titles": rv.subject_titles(session, mine), "form": form,
        "may_rate": page.role is Role.RESIDENT, **time_helpers(page),
        "breadcrumbs": [Crumb(page.t("common.home"), "/"),
                        Crumb(page.t("resident_services.reviews"))]},
        status_code=status_code)


@router.get("/reviews", response_class=HTMLResponse)
def reviews_page(session: SessionDep, page: SignedInPage) -> Response:
    """Residents: rate a facility, a past booking or a care place; see one's reviews."""
    return _resident_page(page, session)


@router.post("/reviews/submit-form", response_class=HTMLResponse)
def submit_form(session: SessionDep, page: SignedInPage, state: Posted) -> Response:
    """Rate from the page (``subject`` is ``kind:id``)."""
    user = page.require()
    try:
        form = ReviewForm.model_validate(filled(state, "subject", "score", "comment"))
        kind, subject_id = form.subject.split(":", 1)
        rv.submit_review(session, user, subject_kind=kind, subject_id=subject_id,
                         score=form.score, comment=form.comment or None)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied):
            raise
        return _resident_page(page, session, form=failed(state, exc, page.lang,
                                                         fields=REVIEW_FIELDS,
                                                         session=session),
                              status_code=problem_status(exc))
    return back("/reviews", message="resident_services.reviewed")


def _division_names(session: Session, codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = session.execute(select(Division.code, Division.name).where(
        Division.code.in_(codes), valid_on(today())))
    return {str(row[0]): str(row[1]) for row in rows}


def _organiser_page(page: Page, session: Session, *, form: FormState | None = None,
                    form_for: str | None = None, status_code: int = 200) -> HTMLResponse:
    user = page.require(*HANDLER_ROLES)
    pending = rv.moderation_queue_for(session, user)
    year = local_now().year
    scores = sorted(rv.scores_for(session, user, period=year).items())
    return render(page, "reviews_manage.html", {
        "pending": pending, "titles": rv.subject_titles(session, pending), "year": year,
        "scores": scores, "names": _division_names(session, [code for code, _ in scores]),
        "form": form, "form_for": form_for,
        "breadcrumbs": [Crumb(page.t("common.home"), "/"),
                        Crumb(page.t("resident_services.reviews"), "/reviews"),
                        Crumb(page.t("resident_services.moderation"))]},
        status_code=status_code)


@router.get("/reviews/manage", response_class=HTMLResponse)
def reviews_manage_page(session: SessionDep, page: SignedInPage) -> Response:
    """Case workers: comments to moderate and the scores of the jurisdiction."""
    return _organiser_page(page, session)


@router.post("/reviews/{review_id}/moderate-form", response_class=HTMLResponse)
def moderate_form(review_id: IdPath, session: SessionDep, page: SignedInPage,
                  state: Posted) -> Response:
    """Publish or hide a comment from the worker's page."""
    user = page.require(*HANDLER_ROLES)
    try:
        form = ModerationForm.model_validate(filled(state, "decision", "note"))
        rv.moderate_review(session, user, review_id, approve=form.decision == "approve",
                           note=form.note or None)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        return _organiser_page(page, session, form=failed(
            state, exc, page.lang, fields={"note": f"note-{review_id}"}, session=session),
            form_for=f"moderate-{review_id}", status_code=problem_status(exc))
    return back("/reviews/manage", message=f"resident_services.comment_{form.decision}")
