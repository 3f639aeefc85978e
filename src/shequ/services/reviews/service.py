"""Residents' reviews: submit, revise, moderate, and the scores for the assessment.

Each subject kind has a resolver that checks the resident may review the item (a
facility in service; their own approved booking that has ended; their own care place;
an activity they signed up for; their own closed service request; a directory service)
and returns the community responsible for it.  :func:`review_scores` gives the
assessment of local governments its input: mean score and count per division.

The use cases at the end (:func:`submit_review`, :func:`revise_review`,
:func:`moderate_review` and the staff lists) check who may act, act and write the audit
row; the JSON API and the pages call them alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shequ.errors import AccessDenied, ConflictError, NotFoundError, Problem, ValidationError
from shequ.registry.codes import LEVEL_DIGITS
from shequ.registry.models import Facility, FacilityStatus
from shequ.services.accounts import HANDLER_ROLES, Role, User, audit, require_handler, require_role
from shequ.services.accounts.acting import visible_prefix
from shequ.services.accounts.policy import role_of
from shequ.services.bookings.clock import local_now
from shequ.services.privacy import split_free_text
from shequ.services.reviews.models import CommentStatus, Review, SubjectKind

if TYPE_CHECKING:
    from shequ.indicators.assessment import Scheme
    from shequ.services.bookings.models import Booking
    from shequ.services.care.models import CareApplication

MAX_COMMENT = 2000
MAX_ID = 2_147_483_647  # record ids are 32-bit in every back-end


@dataclass(frozen=True, slots=True)
class Subject:
    """A reviewable item: what it is called and which community answers for it."""

    kind: SubjectKind
    subject_id: str
    title: str
    division_code: str


def _int_id(kind: SubjectKind, subject_id: str) -> int:
    if not subject_id.isdigit() or len(subject_id) > 10 or int(subject_id) > MAX_ID:
        raise ValidationError([Problem("review", f"{subject_id!r} is not a {kind.value} id",
                                       column="subject_id", code="reviews.not_an_id",
                                       params={"value": subject_id})])
    return int(subject_id)


def _not_reviewable(kind: SubjectKind, subject_id: str, why: str, code: str
                    ) -> ValidationError:
    return ValidationError([Problem(f"{kind.value} {subject_id}", why, column="subject_id",
                                    code=f"reviews.{code}", params={"id": subject_id})])


def _not_found(what: str, subject_id: str, code: str) -> NotFoundError:
    return NotFoundError(f"{what} {subject_id}", code=f"reviews.{code}",
                         params={"id": subject_id})


def _facility(session: Session, subject_id: str, user_id: int, now: dt.datetime) -> Subject:
    facility = session.get(Facility, _int_id(SubjectKind.FACILITY, subject_id))
    if facility is None:
        raise _not_found("no facility with id", subject_id, "facility_not_found")
    if facility.status != FacilityStatus.IN_SERVICE.value:
        raise _not_reviewable(SubjectKind.FACILITY, subject_id, "is not in service",
                              "facility_not_in_service")
    return Subject(SubjectKind.FACILITY, subject_id, facility.name, facility.division_code)


def _booking(session: Session, subject_id: str, user_id: int, now: dt.datetime) -> Subject:
    from shequ.services.bookings.models import BookableResource, Booking

    row = session.get(Booking, _int_id(SubjectKind.BOOKING, subject_id))
    if row is None or row.user_id != user_id:
        raise _not_found("you have no booking with id", subject_id, "booking_not_found")
    if row.status != "approved" or row.ends_at > now:
        raise _not_reviewable(SubjectKind.BOOKING, subject_id,
                              "can be rated once the approved booking has ended",
                              "booking_not_ended")
    res = session.get(BookableResource, row.resource_id)
    facility = session.get(Facility, res.facility_id) if res else None
    if res is None or facility is None:
        raise _not_found("the venue no longer exists of booking", subject_id, "subject_gone")
    return Subject(SubjectKind.BOOKING, subject_id, f"{facility.name} · {res.name}",
                   facility.division_code)


def _care_place(session: Session, subject_id: str, user_id: int, now: dt.datetime) -> Subject:
    from shequ.services.care.models import CareApplication

    row = session.get(CareApplication, _int_id(SubjectKind.CARE_PLACE, subject_id))
    if row is None or row.applicant_user_id != user_id:
        raise _not_found("you have no care application with id", subject_id,
                         "care_place_not_found")
    if row.status not in ("accepted", "ended"):
        raise _not_reviewable(SubjectKind.CARE_PLACE, subject_id,
                              "can be rated once the place has been taken up",
                              "place_not_taken")
    facility = session.get(Facility, row.facility_id)
    if facility is None:
        raise _not_found("the facility no longer exists of application", subject_id,
                         "subject_gone")
    return Subject(SubjectKind.CARE_PLACE, subject_id, facility.name, facility.division_code)


def _activity(session: Session, subject_id: str, user_id: int, now: dt.datetime) -> Subject:
    from shequ.services.volunteers.models import Volunteer, VolunteerActivity, VolunteerSignup

    act = session.get(VolunteerActivity, _int_id(SubjectKind.VOLUNTEER_ACTIVITY, subject_id))
    if act is None:
        raise _not_found("no volunteer activity with id", subject_id, "activity_not_found")
    took_part = session.scalar(select(VolunteerSignup.id).join(
        Volunteer, VolunteerSignup.volunteer_id == Volunteer.id).where(
        VolunteerSignup.activity_id == act.id, Volunteer.user_id == user_id,
        VolunteerSignup.status == "signed_up"))
    if took_part is None or act.starts_at > now:
        raise _not_reviewable(SubjectKind.VOLUNTEER_ACTIVITY, subject_id,
                              "can be rated by its volunteers once it has begun",
                              "activity_not_joined")
    return Subject(SubjectKind.VOLUNTEER_ACTIVITY, subject_id, act.title, act.division_code)


def _request(session: Session, subject_id: str, user_id: int, now: dt.datetime) -> Subject:
    from shequ.services.requests.models import RequestStatus, ServiceRequest

    row = session.get(ServiceRequest, _int_id(SubjectKind.REQUEST, subject_id))
    if row is None or row.submitter_id != user_id:
        raise _not_found("you have no service request with id", subject_id,
                         "request_not_found")
    if row.status != RequestStatus.CLOSED.value:
        raise _not_reviewable(SubjectKind.REQUEST, subject_id,
                              "can be rated once the request is closed", "request_not_closed")
    return Subject(SubjectKind.REQUEST, subject_id, row.service_code, row.division_code)


def _service(session: Session, subject_id: str, user_id: int, now: dt.datetime) -> Subject:
    from shequ.services.directory.models import DirectoryEntry

    entry = session.scalar(select(DirectoryEntry).where(DirectoryEntry.service_uuid == subject_id))
    facility = session.get(Facility, entry.facility_id) if entry else None
    if facility is None:
        raise _not_found("no directory service with id", subject_id, "service_not_found")
    return Subject(SubjectKind.SERVICE, subject_id, facility.name, facility.division_code)


Resolver = Callable[[Session, str, int, dt.datetime], Subject]
RESOLVERS: dict[SubjectKind, Resolver] = {
    SubjectKind.FACILITY: _facility,
    SubjectKind.BOOKING: _booking,
    SubjectKind.CARE_PLACE: _care_place,
    SubjectKind.VOLUNTEER_ACTIVITY: _activity,
    SubjectKind.REQUEST: _request,
    SubjectKind.SERVICE: _service,
}


def resolve_subject(session: Session, kind: str, subject_id: str, *, user_id: int,
                    now: dt.datetime | None = None) -> Subject:
    """The item ``kind``/``subject_id`` if ``user_id`` may review it, else an error."""
    try:
        subject_kind = SubjectKind(kind)
    except ValueError:
        raise ValidationError([Problem("review", f"{kind!r} cannot be reviewed",
                                       hint="one of " + ", ".join(k.value for k in SubjectKind),
                                       column="subject_kind", code="not_a_choice",
                                       params={"value": kind})]) from None
    return RESOLVERS[subject_kind](session, subject_id, user_id, now or local_now())


def _check(score: int, comment: str | None) -> list[Problem]:
    problems = []
    if not 1 <= score <= 5:
        problems.append(Problem("review", f"{score} is not between 1 and 5", column="score",
                                code="out_of_range", params={"value": score, "low": 1,
                                                             "high": 5}))
    if comment is not None and len(comment) > MAX_COMMENT:
        problems.append(Problem("review", f"is longer than {MAX_COMMENT} characters",
                                column="comment", code="too_long",
                                params={"limit": MAX_COMMENT}))
    return problems


def submit(session: Session, *, user_id: int, subject_kind: str, subject_id: str, score: int,
           comment: str | None = None, period: int | None = None,
           now: dt.datetime | None = None) -> Review:
    """Rate an item 1–5; one review per resident, item and period (the calendar year).

    A comment waits for the community's moderation before others see it; the score
    counts at once.  A second review of the same item in the period is a ConflictError
    (revise the first instead).
    """
    now = now or local_now()
    problems = _check(score, comment)
    if problems:
        raise ValidationError(problems)
    subject = resolve_subject(session, subject_kind, subject_id, user_id=user_id, now=now)
    text = (comment or "").strip() or None
    # A number or e-mail typed into the comment is shown masked; the whole comment is kept
    # encrypted for the moderating community (shequ.services.privacy).
    shown, whole = split_free_text(text)
    review = Review(user_id=user_id, subject_kind=subject.kind.value,
                    subject_id=subject.subject_id, division_code=subject.division_code,
                    period=period or now.year, score=score, comment=shown, comment_enc=whole,
                    comment_status=(CommentStatus.PENDING if text else CommentStatus.NONE).value,
                    created_at=now)
    session.add(review)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ConflictError(f"you already reviewed {subject.kind.value} {subject.subject_id} "
                            f"in {review.period}; change that review instead",
                            code="reviews.already_reviewed",
                            params={"period": review.period}) from exc
    return review


def review(session: Session, review_id: int) -> Review:
    """The review ``review_id``; NotFoundError when there is none."""
    found = session.get(Review, review_id)
    if found is None:
        raise NotFoundError(f"no review with id {review_id}; GET /api/v1/reviews/mine lists "
                            "yours, /api/v1/reviews/moderation those to moderate",
                            code="reviews.review_not_found", params={"id": review_id})
    return found


def revise(session: Session, review_id: int, *, user_id: int, score: int,
           comment: str | None = None) -> Review:
    """The author changes their score or comment (a new comment is moderated again)."""
    row = review(session, review_id)
    if row.user_id != user_id:
        raise NotFoundError(f"you have no review with id {review_id}",
                            code="reviews.review_not_found", params={"id": review_id})
    problems = _check(score, comment)
    if problems:
        raise ValidationError(problems)
    text = (comment or "").strip() or None
    row.score = score
    if text != (row.comment_enc or row.comment):
        row.comment, row.comment_enc = split_free_text(text)
        row.comment_status = (CommentStatus.PENDING if text else CommentStatus.NONE).value
        row.moderated_by = row.moderated_at = row.moderation_note = None
    session.flush()
    return row


def moderate(session: Session, review_id: int, *, approve: bool, moderated_by: int,
             note: str | None = None, now: dt.datetime | None = None) -> Review:
    """Publish or hide a review's comment; the score is never removed."""
    row = review(session, review_id)
    if row.comment_status == CommentStatus.NONE.value:
        raise ConflictError(f"review {review_id} has no comment to moderate",
                            code="reviews.nothing_to_moderate", params={"id": review_id})
    row.comment_status = (CommentStatus.APPROVED if approve else CommentStatus.HIDDEN).value
    row.moderated_by = moderated_by
    row.moderated_at = now or local_now()
    row.moderation_note = note
    session.flush()
    return row


def to_moderate(session: Session, *, division_prefix: str = "") -> list[Review]:
    """Comments waiting for moderation under ``division_prefix``, oldest first."""
    query = select(Review).where(Review.comment_status == CommentStatus.PENDING.value)
    if division_prefix:
        query = query.where(Review.division_code.startswith(division_prefix))
    return list(session.scalars(query.order_by(Review.created_at, Review.id)))


def reviews_of(session: Session, *, user_id: int | None = None, subject_kind: str | None = None,
               subject_id: str | None = None) -> list[Review]:
    """Reviews by a user or of an item, newest first."""
    query = select(Review)
    if user_id is not None:
        query = query.where(Review.user_id == user_id)
    if subject_kind is not None:
        query = query.where(Review.subject_kind == subject_kind)
    if subject_id is not None:
        query = query.where(Review.subject_id == subject_id)
    return list(session.scalars(query.order_by(Review.created_at.desc(), Review.id.desc())))


def review_scores(session: Session, *, period: int, level: int = 5,
                  division_prefix: str = "") -> dict[str, tuple[float, int]]:
    """Mean score and number of reviews per division in ``period``, for the assessment.

    ``level`` 5 keys the result by community (12-digit code); a lower level groups by
    that level's code prefix, padded to 12 digits (township 4, county 3 …), so that
    mean = Σ scores ÷ count over every review in the unit (not a mean of means).
    Hidden comments do not change a score: moderation never removes a rating.
    """
    digits = LEVEL_DIGITS[level]
    key = func.substr(Review.division_code, 1, digits)
    query = (select(key, func.sum(Review.score), func.count())
             .where(Review.period == period).group_by(key))
    if division_prefix:
        query = query.where(Review.division_code.startswith(division_prefix))
    return {str(code).ljust(12, "0"): (int(total) / int(n), int(n))
            for code, total, n in session.execute(query)}


def review_scores_given(session: Session, *, start: dt.date, end: dt.date, level: int = 5,
                        division_prefix: str = "") -> dict[str, tuple[float, int]]:
    """Mean score and number of reviews per division *given* from ``start`` (inclusive)
    to ``end`` (exclusive), China time: the assessment's review window.

    Keys and means as :func:`review_scores`.
    """
    digits = LEVEL_DIGITS[level]
    key = func.substr(Review.division_code, 1, digits)
    begin = dt.datetime.combine(start, dt.time())
    finish = dt.datetime.combine(end, dt.time())
    query = (select(key, func.sum(Review.score), func.count())
             .where(Review.created_at >= begin, Review.created_at < finish).group_by(key))
    if division_prefix:
        query = query.where(Review.division_code.startswith(division_prefix))
    return {str(code).ljust(12, "0"): (int(total) / int(n), int(n))
            for code, total, n in session.execute(query)}


def assessment_reviews(session: Session, scheme: Scheme, *, period: int, level: int = 5
                       ) -> dict[str, tuple[float, int]]:
    """The reviews that count toward assessed year ``period``: those given in the
    scheme's review window (:meth:`~shequ.indicators.assessment.Scheme.review_window`)."""
    start, end = scheme.review_window(period)
    return review_scores_given(session, start=start, end=end, level=level)


def item_score(session: Session, subject_kind: str, subject_id: str, *,
               period: int | None = None) -> tuple[float | None, int]:
    """Mean score and count of one item (all periods unless given)."""
    query = select(func.avg(Review.score), func.count()).where(
        Review.subject_kind == subject_kind, Review.subject_id == subject_id)
    if period is not None:
        query = query.where(Review.period == period)
    mean, n = session.execute(query).one()
    return (float(mean) if mean is not None else None, int(n))


# ---- use cases: who may act, the act, the audit row ----------------------------------------

def submit_review(session: Session, user: User, *, subject_kind: str, subject_id: str,
                  score: int, comment: str | None = None) -> Review:
    """A resident rates an item (staff do not score the services they are assessed on)."""
    if role_of(user) is not Role.RESIDENT:
        raise AccessDenied(f"only residents rate; user {user.id} is {user.role}",
                           code="reviews.residents_only")
    row = submit(session, user_id=user.id, subject_kind=subject_kind, subject_id=subject_id,
                 score=score, comment=comment)
    audit(session, user=user, action="create", entity="review", entity_id=row.id)
    return row


def revise_review(session: Session, user: User, review_id: int, *, score: int,
                  comment: str | None = None) -> Review:
    """The author changes their review (a changed comment is moderated again)."""
    row = revise(session, review_id, user_id=user.id, score=score, comment=comment)
    audit(session, user=user, action="update", entity="review", entity_id=review_id)
    return row


def moderate_review(session: Session, user: User, review_id: int, *, approve: bool,
                    note: str | None = None) -> Review:
    """Publish or hide a comment of a community in ``user``'s jurisdiction."""
    row = review(session, review_id)
    require_handler(user, row.division_code)
    moderate(session, review_id, approve=approve, moderated_by=user.id, note=note)
    audit(session, user=user, action="approve" if approve else "hide", entity="review",
          entity_id=review_id)
    return row


def moderation_queue_for(session: Session, user: User) -> list[Review]:
    """Comments waiting for ``user``'s moderation (case workers only)."""
    require_role(user, *HANDLER_ROLES)
    return to_moderate(session, division_prefix=visible_prefix(user))


def scores_for(session: Session, user: User, *, period: int, level: int = 5
               ) -> dict[str, tuple[float, int]]:
    """:func:`review_scores` inside ``user``'s jurisdiction."""
    return review_scores(session, period=period, level=level,
                         division_prefix=visible_prefix(user))


def subject_titles(session: Session, reviews: list[Review]) -> dict[tuple[str, str], str]:
    """What each reviewed item is called (a facility's or activity's name, a booking's
    venue); items without a name (service requests, removed records) are left out."""
    from shequ.services.bookings.models import BookableResource, Booking
    from shequ.services.care.models import CareApplication
    from shequ.services.directory.models import DirectoryEntry
    from shequ.services.volunteers.models import VolunteerActivity

    titles: dict[tuple[str, str], str] = {}
    for r in reviews:
        key = (r.subject_kind, r.subject_id)
        if key in titles:
            continue
        name: str | None = None
        number = int(r.subject_id) if r.subject_id.isdigit() and len(r.subject_id) <= 10 \
            else None
        if r.subject_kind == SubjectKind.FACILITY.value and number is not None:
            facility = session.get(Facility, number)
            name = facility.name if facility else None
        elif r.subject_kind == SubjectKind.BOOKING.value and number is not None:
            booking = session.get(Booking, number)
            res = session.get(BookableResource, booking.resource_id) if booking else None
            facility = session.get(Facility, res.facility_id) if res else None
            name = f"{facility.name} · {res.name}" if facility and res else None
        elif r.subject_kind == SubjectKind.CARE_PLACE.value and number is not None:
            application = session.get(CareApplication, number)
            facility = session.get(Facility, application.facility_id) if application else None
            name = facility.name if facility else None
        elif r.subject_kind == SubjectKind.VOLUNTEER_ACTIVITY.value and number is not None:
            act = session.get(VolunteerActivity, number)
            name = act.title if act else None
        elif r.subject_kind == SubjectKind.SERVICE.value:
            entry = session.scalar(select(DirectoryEntry).where(
                DirectoryEntry.service_uuid == r.subject_id))
            facility = session.get(Facility, entry.facility_id) if entry else None
            name = facility.name if facility else None
        if name is not None:
            titles[key] = name
    return titles


@dataclass(frozen=True, slots=True)
class Choices:
    """What a resident may rate from the page: facilities of their township in service,
    their approved bookings that have ended, their care places taken up."""

    facilities: list[Facility]
    bookings: list[tuple[Booking, str]]
    care_places: list[tuple[CareApplication, str]]


def choices_for(session: Session, user: User, division: str,
                now: dt.datetime | None = None) -> Choices:
    """The items ``user`` may rate from the page (``division``: their community)."""
    from shequ.services.bookings.models import BookableResource, Booking
    from shequ.services.care.models import CareApplication

    now = now or local_now()
    facilities = list(session.scalars(select(Facility).where(
        Facility.division_code.startswith(division[:9]),
        Facility.status == FacilityStatus.IN_SERVICE.value).order_by(Facility.name)))
    bookings = [(b, f"{facility_name} · {resource_name}") for b, resource_name, facility_name
                in session.execute(
                    select(Booking, BookableResource.name, Facility.name)
                    .join(BookableResource, Booking.resource_id == BookableResource.id)
                    .join(Facility, BookableResource.facility_id == Facility.id)
                    .where(Booking.user_id == user.id, Booking.status == "approved",
                           Booking.ends_at <= now)
                    .order_by(Booking.starts_at.desc()))]
    places = [(a, facility_name) for a, facility_name in session.execute(
        select(CareApplication, Facility.name)
        .join(Facility, CareApplication.facility_id == Facility.id)
        .where(CareApplication.applicant_user_id == user.id,
               CareApplication.status.in_(["accepted", "ended"]))
        .order_by(CareApplication.id))]
    return Choices(facilities, bookings, places)
