"""The jobs' use cases: submit, read, list, cancel, rerun — each checked, done and audited.

Jobs are staff work: a job belongs to a division, and a user reads the jobs of divisions
in their jurisdiction; who may *start* a kind is the caller's business (planning checks
planner roles before it submits).  Cancelling or rerunning needs the same right as
starting: the one who started it, or a planner or administrator of its division.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shequ.context import Context
from shequ.errors import AccessDenied, ConflictError, NotFoundError
from shequ.registry.columns import utc_now
from shequ.services.accounts import (
    PLANNER_ROLES,
    STAFF_ROLES,
    Role,
    User,
    audit,
    jurisdiction_prefix,
    require_in_jurisdiction,
)
from shequ.services.jobs.models import ACTIVE_STATUSES, ENDED_STATUSES, Job, JobStatus
from shequ.services.jobs.runner import KINDS, runner_for


def _busy(kind: str, division_code: str) -> ConflictError:
    return ConflictError(f"a {kind} job for {division_code} is queued or running already; "
                         "wait for it or cancel it", code="jobs.busy",
                         params={"kind": kind, "division": division_code})


def submit(ctx: Context, user: User | None, *, kind: str, division_code: str,
           parameters: dict[str, Any], rerun_of: int | None = None,
           start: bool = True) -> Job:
    """Store a queued job (one per division and kind at a time), audit it, start it."""
    if kind not in KINDS:
        raise NotFoundError(f"no job kind {kind!r}", code="jobs.no_kind", params={"kind": kind})
    runner = runner_for(ctx)
    try:
        with ctx.sessions.begin() as session:
            busy = session.scalar(select(Job.id).where(
                Job.kind == kind, Job.division_code == division_code,
                Job.status.in_(ACTIVE_STATUSES)))
            if busy is not None:
                raise _busy(kind, division_code)
            job = Job(kind=kind, user_id=user.id if user is not None else None,
                      username=user.username if user is not None else None,
                      division_code=division_code,
                      parameters=json.dumps(parameters, ensure_ascii=False, sort_keys=True),
                      status=JobStatus.QUEUED.value, progress=0.0, cancel_requested=False,
                      runner=runner.name, created_at=utc_now(), rerun_of=rerun_of)
            session.add(job)
            session.flush()
            audit(session, user=user, action="rerun" if rerun_of else "submit", entity="job",
                  entity_id=job.id, detail={"kind": kind, "division_code": division_code,
                                            "rerun_of": rerun_of})
            session.expunge(job)
    except IntegrityError:
        # Another server stored one between the check and the insert.
        raise _busy(kind, division_code) from None
    if start:
        runner.start(job.id)
    return job


def _may_read(user: User, job: Job) -> None:
    if Role(user.role) not in STAFF_ROLES:
        raise AccessDenied("jobs are for staff accounts", code="accounts.role_needed")
    require_in_jurisdiction(user, job.division_code)


def _may_change(user: User, job: Job) -> None:
    _may_read(user, job)
    if job.user_id != user.id and Role(user.role) not in PLANNER_ROLES | {Role.ADMIN}:
        raise AccessDenied(f"job {job.id} was started by someone else",
                           code="jobs.not_yours", params={"id": job.id})


def get_job(session: Session, user: User | None, job_id: int) -> Job:
    """Job ``job_id`` (``user`` None: the CLI, which may read every job)."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"no job with id {job_id}", code="jobs.no_job",
                            params={"id": job_id})
    if user is not None:
        _may_read(user, job)
    return job


def list_jobs(session: Session, user: User, *, mine: bool = False, kind: str | None = None,
              limit: int = 100) -> list[Job]:
    """Jobs of ``user``'s jurisdiction (or only theirs), newest first."""
    if Role(user.role) not in STAFF_ROLES:
        raise AccessDenied("jobs are for staff accounts", code="accounts.role_needed")
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if mine:
        query = query.where(Job.user_id == user.id)
    else:
        query = query.where(Job.division_code.startswith(jurisdiction_prefix(user) or ""))
    if kind is not None:
        query = query.where(Job.kind == kind)
    return list(session.scalars(query))


def cancel(ctx: Context, user: User, job_id: int) -> Job:
    """Ask a job to stop: a queued one stops at once, a running one at its next step."""
    with ctx.sessions.begin() as session:
        job = get_job(session, user, job_id)
        _may_change(user, job)
        if job.status in ENDED_STATUSES:
            raise ConflictError(f"job {job_id} has ended ({job.status})", code="jobs.ended",
                                params={"id": job_id})
        job.cancel_requested = True
        if job.status == JobStatus.QUEUED.value:
            job.status = JobStatus.CANCELLED.value
            job.finished_at = utc_now()
        audit(session, user=user, action="cancel", entity="job", entity_id=job_id,
              detail={"kind": job.kind})
        session.flush()
        session.expunge(job)
    return job


def rerun(ctx: Context, user: User, job_id: int) -> Job:
    """Run an ended job again with the same parameters (a new job that names the old)."""
    with ctx.sessions() as session:
        job = get_job(session, user, job_id)
        _may_change(user, job)
        if job.status not in ENDED_STATUSES:
            raise ConflictError(f"job {job_id} has not ended ({job.status})",
                                code="jobs.not_ended", params={"id": job_id})
        kind, division_code = job.kind, job.division_code
        parameters = json.loads(job.parameters or "{}")
    return submit(ctx, user, kind=kind, division_code=division_code, parameters=parameters,
                  rerun_of=job_id)


def wait(ctx: Context, job_id: int, *, timeout: float = 120.0, every: float = 0.1) -> Job:
    """Poll job ``job_id`` until it has ended (TimeoutError after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while True:
        with ctx.sessions() as session:
            job = session.get(Job, job_id)
            if job is not None and job.status in ENDED_STATUSES:
                session.expunge(job)
                return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still not ended after {timeout:g} s")
        time.sleep(every)


def job_json(job: Job) -> dict[str, Any]:
    """A job as the API serves it."""
    return {"id": job.id, "kind": job.kind, "division_code": job.division_code,
            "username": job.username, "status": job.status, "progress": job.progress,
            "step": job.step, "parameters": json.loads(job.parameters or "{}"),
            "created_at": job.created_at.isoformat() if job.created_at else None,
            "started_at": job.started_at.isoformat() if job.started_at else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "seconds": job.seconds, "rerun_of": job.rerun_of,
            "cancel_requested": job.cancel_requested,
            "result": json.loads(job.result) if job.result else None,
            "problem": json.loads(job.problem) if job.problem else None}
