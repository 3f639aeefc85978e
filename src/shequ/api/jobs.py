"""Jobs (``/api/v1/jobs``): long work followed by polling — status, progress, result or
problem — cancelled or run again.  Staff read the jobs of their jurisdiction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from shequ.http.caller import CurrentUser
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.http.problems import api_language, problem_item
from shequ.services.jobs.models import Job
from shequ.services.jobs.runner import stored_problems
from shequ.services.jobs.service import cancel, get_job, job_json, list_jobs, rerun

router = APIRouter(prefix="/jobs", tags=["jobs"])


def _answer(job: Job, request: Request) -> dict[str, Any]:
    """A job as :func:`job_json` serves it, a failed job's input problems each said in
    the caller's language (``Accept-Language``, else English) as a refused request's
    ``problems`` are: source, row, column, code, detail, reason, hint."""
    body = job_json(job)
    problem = body["problem"]
    if problem and problem.get("problems"):
        lang = api_language(request.scope)
        problem["problems"] = [problem_item(p, lang) for p in stored_problems(problem)]
    return body


@router.get("")
def jobs(request: Request, session: SessionDep, user: CurrentUser,
         mine: Annotated[bool, Query(description="only the caller's own jobs")] = False,
         kind: Annotated[str | None, Query(max_length=40)] = None) -> list[dict[str, Any]]:
    """Jobs of the caller's jurisdiction (or the caller's own), newest first (100)."""
    return [_answer(j, request) for j in list_jobs(session, user, mine=mine, kind=kind)]


@router.post("/analyses", status_code=202)
def refresh_analyses(ctx: ContextDep, session: SessionDep, user: CurrentUser
                     ) -> dict[str, Any]:
    """Planners: recompute the jurisdiction's life circles, then every indicator, as a job."""
    from shequ.services.analyses import start_refresh

    session.rollback()
    return job_json(start_refresh(ctx, user))


@router.get("/{job_id}")
def job(job_id: IdPath, request: Request, session: SessionDep, user: CurrentUser
        ) -> dict[str, Any]:
    """One job: status, progress (0–1), its step, timings, result or problem (a failed
    import's problem lists every refused row, as a refused upload's answer does)."""
    return _answer(get_job(session, user, job_id), request)


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
