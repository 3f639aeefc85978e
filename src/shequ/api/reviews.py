"""Residents' reviews over HTTP: JSON under ``/api/v1/reviews`` (the pages are
:mod:`shequ.web.reviews`).

Residents rate items they may review (the service checks ownership and state); the
community responsible moderates comments; staff read the scores of their jurisdiction,
the input of the assessment.  Who may do what is decided, and audited, by the use cases
of :mod:`shequ.services.reviews.service`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from shequ.http.caller import CurrentUser
from shequ.http.deps import IdPath, SessionDep
from shequ.http.problems import error_responses
from shequ.services.reviews import service as rv
from shequ.services.reviews.models import CommentStatus, Review, SubjectKind

router = APIRouter(tags=["reviews"])
ERRORS = error_responses(401, 403, 404, 409, 422)


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


@router.post("/reviews", response_model=ReviewOut, status_code=201, responses=ERRORS)
def submit(body: ReviewIn, user: CurrentUser, session: SessionDep) -> ReviewOut:
    """Rate an item once per period as a resident (409 for a second: revise the first)."""
    return _out(rv.submit_review(session, user, subject_kind=body.subject_kind.value,
                                 subject_id=body.subject_id, score=body.score,
                                 comment=body.comment))


@router.get("/reviews/mine", response_model=list[ReviewOut], responses=ERRORS)
def mine(user: CurrentUser, session: SessionDep) -> list[ReviewOut]:
    """Your reviews, newest first."""
    return [_out(r) for r in rv.reviews_of(session, user_id=user.id)]


@router.put("/reviews/{review_id}", response_model=ReviewOut, responses=ERRORS)
def revise(review_id: IdPath, body: RevisionIn, user: CurrentUser,
           session: SessionDep) -> ReviewOut:
    """Change your review (a changed comment is moderated again)."""
    return _out(rv.revise_review(session, user, review_id, score=body.score,
                                 comment=body.comment))


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
    return [_out(r) for r in rv.moderation_queue_for(session, user)]


@router.post("/reviews/{review_id}/moderate", response_model=ReviewOut, responses=ERRORS)
def moderate(review_id: IdPath, body: ModerationIn, user: CurrentUser,
             session: SessionDep) -> ReviewOut:
    """Publish or hide a comment of your community (the score always counts)."""
    return _out(rv.moderate_review(session, user, review_id, approve=body.approve,
                                   note=body.note))


@router.get("/reviews/scores", response_model=list[ScoreOut], responses=ERRORS)
def scores(user: CurrentUser, session: SessionDep,
           period: Annotated[int, Query(ge=2000, le=2100)],
           level: Annotated[int, Query(ge=1, le=5)] = 5) -> list[ScoreOut]:
    """Mean score and count per division (at ``level``) inside your jurisdiction."""
    table = rv.scores_for(session, user, period=period, level=level)
    return [ScoreOut(division_code=code, mean_score=mean, count=n)
            for code, (mean, n) in sorted(table.items())]
