"""Residents' reviews of services, facilities and closed requests (1–5 with a comment).

``review_scores(session, *, period)`` is the assessment's input: mean score and count
per community (or, with ``level``, per township, county …).
"""

from shequ.services.reviews.models import CommentStatus, Review, SubjectKind
from shequ.services.reviews.service import (
    item_score,
    moderate,
    review_scores,
    revise,
    submit,
    to_moderate,
)

__all__ = [
    "CommentStatus",
    "Review",
    "SubjectKind",
    "item_score",
    "moderate",
    "review_scores",
    "revise",
    "submit",
    "to_moderate",
]
