"""The job table: long work (solving, evaluating, life circles, indicators, imports) stored
with who asked, where, what, how far it is and how it ended.

A job is ``queued`` when stored, ``running`` once a worker took it, and ends ``done``
(with its result), ``failed`` (with its problem), ``cancelled`` (asked to stop) or
``interrupted`` (its worker went away: a restart, a crash).  ``runner`` names the worker
process (``host:pid``, or ``dask:<address>``) so that a starting server can tell the jobs
it left behind.  At most one job per division and kind is queued or running at a time: a
partial unique index holds that even when two servers store one at the same instant.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from shequ.registry.columns import AwareDateTime, division_code_column, enum_check, utc_now
from shequ.registry.models import Base


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


ACTIVE_STATUSES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
ENDED_STATUSES = (JobStatus.DONE.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value,
                  JobStatus.INTERRUPTED.value)
_ACTIVE_SQL = "status IN ('queued', 'running')"


class Job(Base):
    """One piece of long work."""

    __tablename__ = "job"
    __table_args__ = (
        enum_check("status", JobStatus, name="status_value"),
        Index("uq_job_active_per_division", "division_code", "kind", unique=True,
              sqlite_where=text(_ACTIVE_SQL), postgresql_where=text(_ACTIVE_SQL)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    username: Mapped[str | None] = mapped_column(String(100))
    division_code: Mapped[str] = division_code_column(index=True)
    parameters: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    # The step under way, a message key of the jobs catalog (``jobs.step_<step>``).
    step: Mapped[str | None] = mapped_column(String(40))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    runner: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime(), default=utc_now)
    started_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime())
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime())
    result: Mapped[str | None] = mapped_column(Text)
    # The problem of a failed job: {"code", "params", "detail"} (JSON).
    problem: Mapped[str | None] = mapped_column(Text)
    rerun_of: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", ondelete="SET NULL"))

    @property
    def seconds(self) -> float | None:
        """Seconds from start to end (or to now while running)."""
        if self.started_at is None:
            return None
        end = self.finished_at or utc_now()
        return (end - self.started_at).total_seconds()
