"""Jobs (``/api/v1/jobs``): long work followed by polling — status, progress, result or
problem — cancelled or run again.  Staff read the jobs of their jurisdiction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from shequ.http.caller import CurrentUser
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.services.jobs.service import cancel, get_job, job_json, list_jobs, rerun

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("")
def jobs(session: SessionDep, user: CurrentUser,
         mine: Annotated[bool, Query(description="only the caller's own jobs")] = False,
         kind: Annotated[str | None, Query(max_length=40)] = None) -> list[dict[str, Any]]:
    """Jobs of the caller's jurisdiction (or the caller's own), newest first (100)."""
    return [job_json(j) for j in list_jobs(session, user, mine=mine, kind=kind)]


@router.post("/analyses", status_code=202)
def refresh_analyses(ctx: ContextDep, session: SessionDep, user: CurrentUser
                     ) -> dict[str, Any]:
    """Planners: recompute the jurisdiction's life circles, then every indicator, as a job."""
    from shequ.services.analyses import start_refresh

    session.rollback()
    return job_json(start_refresh(ctx, user))


@router.get("/{job_id}")
def job(job_id: IdPath, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """One job: status, progress (0–1), its step, timings, result or problem."""
    return job_json(get_job(session, user, job_id))


@router.post("/{job_id}/cancel")
def cancel_job(job_id: IdPath, ctx: ContextDep, session: SessionDep, user: CurrentUser
               ) -> dict[str, Any]:
    """Ask the job to stop (a queued job stops at once, a running one at its next step)."""
    session.rollback()
    return job_json(cancel(ctx, user, job_id))


@router.post("/{job_id}/rerun", status_code=202)
def rerun_job(job_id: IdPath, ctx: ContextDep, session: SessionDep, user: CurrentUser
              ) -> dict[str, Any]:
    """Run an ended job again with its parameters (a new job naming the old one)."""
    session.rollback()
    return job_json(rerun(ctx, user, job_id))
