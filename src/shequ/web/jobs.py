"""``/jobs``: long work of the reader's division (or only their own) — status, progress,
timings — cancelled or run again from the page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from shequ.errors import AccessDenied, ShequError
from shequ.http.deps import ContextDep, IdPath, SessionDep
from shequ.services.accounts import STAFF_ROLES, User
from shequ.services.jobs.models import Job
from shequ.services.jobs.service import cancel, list_jobs, rerun
from shequ.web.forms import FormState, back, failed
from shequ.web.page import Crumb, Page, SignedInPage, render

router = APIRouter(include_in_schema=False)


async def _posted(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_posted)]


def _row(page: Page, job: Job, names: dict[int, str]) -> dict[str, Any]:
    who = names.get(job.user_id, job.username or "") if job.user_id else job.username or ""
    return {"id": job.id, "kind": page.t(f"jobs.kind_{job.kind.replace('.', '_')}"),
            "division_code": job.division_code, "username": who,
            "status": job.status, "status_text": page.t(f"jobs.status_{job.status}"),
            "progress": job.progress, "created_at": job.created_at, "seconds": job.seconds,
            "ended": job.status not in ("queued", "running"), "rerun_of": job.rerun_of,
            "link": _link(job)}


def _link(job: Job) -> str | None:
    if job.kind in ("plan.solve", "plan.evaluate"):
        return f"/plan?job={job.id}"
    if job.kind == "access.life_circles":
        return f"/access?division={job.division_code}&job={job.id}"
    if job.kind == "registry.import":
        return f"/upkeep?job={job.id}"
    return None


def _jobs_page(page: Page, session: Any, *, form: FormState | None = None,
               status_code: int = 200) -> HTMLResponse:
    user = page.require(*STAFF_ROLES)
    mine = page.request.query_params.get("mine") == "1"
    jobs = list_jobs(session, user, mine=mine)
    ids = {j.user_id for j in jobs if j.user_id is not None}
    names = dict(session.execute(select(User.id, User.display_name).where(
        User.id.in_(ids))).all()) if ids else {}
    rows = [_row(page, j, names) for j in jobs]
    return render(page, "jobs.html", {
        "jobs": rows, "mine": mine, "form": form,
        "breadcrumbs": [Crumb(page.t("common.workbench"), "/work"), Crumb(page.t("jobs.title"))],
    }, status_code=status_code)


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(page: SignedInPage, session: SessionDep) -> HTMLResponse:
    """Jobs of the reader's jurisdiction (``?mine=1``: their own), newest first."""
    return _jobs_page(page, session)


def _next(form: FormData) -> str:
    target = form.get("next")
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//"):
        return target
    return "/jobs"


@router.post("/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel_form(job_id: IdPath, form: Posted, page: SignedInPage, ctx: ContextDep,
                session: SessionDep) -> Response:
    """Ask a job to stop."""
    user = page.require(*STAFF_ROLES)
    session.rollback()
    try:
        cancel(ctx, user, job_id)
    except ShequError as exc:
        if isinstance(exc, AccessDenied):
            raise
        return _jobs_page(page, session, form=failed(FormState(), exc, page.lang),
                          status_code=409)
    return back(_next(form), message="jobs.cancel_asked")


@router.post("/jobs/{job_id}/rerun", response_class=HTMLResponse)
def rerun_form(job_id: IdPath, page: SignedInPage, ctx: ContextDep,
               session: SessionDep) -> Response:
    """Run an ended job again; the page of its work follows it."""
    user = page.require(*STAFF_ROLES)
    session.rollback()
    try:
        job = rerun(ctx, user, job_id)
    except ShequError as exc:
        if isinstance(exc, AccessDenied):
            raise
        return _jobs_page(page, session, form=failed(FormState(), exc, page.lang),
                          status_code=409)
    return back(_link(job) or "/jobs", message="jobs.rerun_started")
