"""Residents' reviews over HTTP: JSON under ``/api/v1/reviews`` and the pages ``/reviews``.

Residents rate items they may review (the service checks ownership and state); the
community responsible moderates comments (``require_handler`` on the review's division);
staff read the scores of their jurisdiction, the input of the assessment.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.http.caller import CurrentUser, OptionalUser
from shequ.api.bookings import (
    ERRORS,
    acting_division,
    page_context,
    visible_prefix,
)
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.errors import Problem, ValidationError
from shequ.registry.models import Facility, FacilityStatus
from shequ.services.accounts import (
    HANDLER_ROLES,
    Role,
    User,
    audit,
    require_handler,
    require_role,
)
from shequ.services.bookings.clock import local_now
from shequ.services.bookings.models import Booking
from shequ.services.care.models import CareApplication
from shequ.services.reviews import service as rv
from shequ.services.reviews.models import CommentStatus, Review, SubjectKind
from shequ.web.forms import back, errors_back_to, login_redirect
from shequ.web.templates import render

router = APIRouter(tags=["reviews"])
pages = APIRouter(include_in_schema=False)


class ReviewIn(BaseModel):
    """A score from 1 to 5 with an optional comment about one item."""

    subject_kind: SubjectKind
    subject_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=rv.MAX_COMMENT)


class RevisionIn(BaseModel):
    """A new score and comment for one's own review."""

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=rv.MAX_COMMENT)


class ModerationIn(BaseModel):
    """Publish or hide a comment, with a note."""

    approve: bool
    note: str | None = Field(default=None, max_length=500)


class ReviewOut(BaseModel):
    """A review as its author and the moderating community see it."""

    id: int
    subject_kind: str
    subject_id: str
    division_code: str
    period: int
    score: int
    comment: str | None
    comment_status: str
    created_at: dt.datetime


class ItemScoreOut(BaseModel):
    """An item's mean score and count, and the published comments."""

    subject_kind: str
    subject_id: str
    mean_score: float | None
    count: int
    comments: list[str]


class ScoreOut(BaseModel):
    """Mean score and number of reviews of one division in one period."""

    division_code: str
    mean_score: float
    count: int


def _out(r: Review) -> ReviewOut:
    return ReviewOut(id=r.id, subject_kind=r.subject_kind, subject_id=r.subject_id,
                     division_code=r.division_code, period=r.period, score=r.score,
                     comment=r.comment, comment_status=r.comment_status,
                     created_at=r.created_at)


def _submit(session: Session, user: User, body: ReviewIn) -> Review:
    # Residents rate; staff do not score the services they are assessed on.
    require_role(user, Role.RESIDENT)
    r = rv.submit(session, user_id=user.id, subject_kind=body.subject_kind.value,
                  subject_id=body.subject_id, score=body.score, comment=body.comment)
    audit(session, user=user, action="create", entity="review", entity_id=r.id)
    return r


def _moderate(session: Session, user: User, review_id: int, body: ModerationIn) -> Review:
    r = rv.review(session, review_id)
    require_handler(user, r.division_code)
    rv.moderate(session, review_id, approve=body.approve, moderated_by=user.id, note=body.note)
    audit(session, user=user, action="approve" if body.approve else "hide", entity="review",
          entity_id=review_id)
    return r


# ---- JSON API --------------------------------------------------------------------------------

@router.post("/reviews", response_model=ReviewOut, status_code=201, responses=ERRORS)
def submit(body: ReviewIn, user: CurrentUser, session: SessionDep) -> ReviewOut:
    """Rate an item once per period as a resident (409 for a second: revise the first)."""
    return _out(_submit(session, user, body))


@router.get("/reviews/mine", response_model=list[ReviewOut], responses=ERRORS)
def mine(user: CurrentUser, session: SessionDep) -> list[ReviewOut]:
    """Your reviews, newest first."""
    return [_out(r) for r in rv.reviews_of(session, user_id=user.id)]


@router.put("/reviews/{review_id}", response_model=ReviewOut, responses=ERRORS)
def revise(review_id: IdPath, body: RevisionIn, user: CurrentUser,
           session: SessionDep) -> ReviewOut:
    """Change your review (a changed comment is moderated again)."""
    r = rv.revise(session, review_id, user_id=user.id, score=body.score, comment=body.comment)
    audit(session, user=user, action="update", entity="review", entity_id=review_id)
    return _out(r)


@router.get("/reviews/items/{subject_kind}/{subject_id}", response_model=ItemScoreOut)
def item(subject_kind: SubjectKind,
         subject_id: Annotated[str, Path(max_length=64, pattern=r"^[0-9A-Za-z-]+$")],
         session: SessionDep) -> ItemScoreOut:
    """An item's score and its published comments (public)."""
    mean, count = rv.item_score(session, subject_kind.value, subject_id)
    comments = [r.comment for r in rv.reviews_of(session, subject_kind=subject_kind.value,
                                                  subject_id=subject_id)
                if r.comment and r.comment_status == CommentStatus.APPROVED.value]
    return ItemScoreOut(subject_kind=subject_kind.value, subject_id=subject_id,
                        mean_score=mean, count=count, comments=comments)


@router.get("/reviews/moderation", response_model=list[ReviewOut], responses=ERRORS)
def moderation_queue(user: CurrentUser, session: SessionDep) -> list[ReviewOut]:
    """Comments waiting for moderation in your jurisdiction."""
    require_role(user, *HANDLER_ROLES)
    return [_out(r) for r in rv.to_moderate(session, division_prefix=visible_prefix(user))]


@router.post("/reviews/{review_id}/moderate", response_model=ReviewOut, responses=ERRORS)
def moderate(review_id: IdPath, body: ModerationIn, user: CurrentUser,
             session: SessionDep) -> ReviewOut:
    """Publish or hide a comment of your community (the score always counts)."""
    return _out(_moderate(session, user, review_id, body))


@router.get("/reviews/scores", response_model=list[ScoreOut], responses=ERRORS)
def scores(user: CurrentUser, session: SessionDep,
           period: Annotated[int, Query(ge=2000, le=2100)],
           level: Annotated[int, Query(ge=1, le=5)] = 5) -> list[ScoreOut]:
    """Mean score and count per division (at ``level``) inside your jurisdiction."""
    prefix = visible_prefix(user)
    table = rv.review_scores(session, period=period, level=level, division_prefix=prefix)
    return [ScoreOut(division_code=code, mean_score=mean, count=n)
            for code, (mean, n) in sorted(table.items())]


# ---- pages -----------------------------------------------------------------------------------

@pages.get("/reviews", response_class=HTMLResponse)
def reviews_page(request: Request, ctx: ContextDep, session: SessionDep,
                 user: OptionalUser) -> Response:
    """Residents: rate a facility, a past booking or a care place; see one's reviews."""
    if user is None:
        return login_redirect(request)
    division = acting_division(session, user) or ""
    now = local_now()
    facilities = list(session.scalars(select(Facility).where(
        Facility.division_code.startswith(division[:9]),
        Facility.status == FacilityStatus.IN_SERVICE.value).order_by(Facility.name)))
    past = list(session.scalars(select(Booking).where(
        Booking.user_id == user.id, Booking.status == "approved", Booking.ends_at <= now)))
    places = list(session.scalars(select(CareApplication).where(
        CareApplication.applicant_user_id == user.id,
        CareApplication.status.in_(["accepted", "ended"]))))
    return render(request, "reviews.html", {
        **page_context(request, ctx, user), "facilities": facilities, "past": past,
        "places": places, "mine": rv.reviews_of(session, user_id=user.id)})


@pages.post("/reviews/submit-form")
@errors_back_to("/reviews")
def submit_form(session: SessionDep, user: CurrentUser, *,
                subject: Annotated[str, Form(pattern=r"^[a-z_]+:[0-9A-Za-z-]{1,64}$")],
                score: Annotated[int, Form(ge=1, le=5)],
                comment: Annotated[str, Form(max_length=rv.MAX_COMMENT)] = "") -> Response:
    """Rate from the page (``subject`` is ``kind:id``)."""
    kind, subject_id = subject.split(":", 1)
    if kind not in {k.value for k in SubjectKind}:
        raise ValidationError([Problem("subject", f"{kind!r} is not something to rate",
                                       hint=f"one of {', '.join(SubjectKind)}")])
    _submit(session, user, ReviewIn(subject_kind=SubjectKind(kind), subject_id=subject_id,
                                    score=score, comment=comment or None))
    return back("/reviews", message="resident_services.reviewed")


@pages.get("/reviews/manage", response_class=HTMLResponse)
def reviews_manage_page(request: Request, ctx: ContextDep, session: SessionDep,
                        user: OptionalUser) -> Response:
    """Community workers: comments to moderate and the scores of the jurisdiction."""
    if user is None:
        return login_redirect(request)
    require_role(user, *HANDLER_ROLES)
    prefix = visible_prefix(user)
    year = local_now().year
    return render(request, "reviews_manage.html", {
        **page_context(request, ctx, user),
        "pending": rv.to_moderate(session, division_prefix=prefix), "year": year,
        "scores": sorted(rv.review_scores(session, period=year,
                                          division_prefix=prefix).items())})


@pages.post("/reviews/{review_id}/moderate-form")
@errors_back_to("/reviews/manage")
def moderate_form(session: SessionDep, user: CurrentUser, *, review_id: IdPath,
                  decision: Annotated[str, Form(pattern="^(approve|hide)$")],
                  note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Publish or hide a comment from the worker's page."""
    _moderate(session, user, review_id, ModerationIn(approve=decision == "approve",
                                                     note=note or None))
    return back("/reviews/manage", message=f"resident_services.comment_{decision}")
