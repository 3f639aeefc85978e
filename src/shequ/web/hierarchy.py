"""``/hierarchy/changes``: administrators upload a change file in the civil-affairs layout
(with, for splits by boundaries, a boundary file of the parts) and see every problem
beside its file and row, or the changes applied and listed.

The page calls the same use case as ``POST /api/v1/hierarchy/changes`` and
``shequ hierarchy change apply`` (:mod:`shequ.services.hierarchy`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from shequ import i18n
from shequ.errors import AccessDenied, NotFoundError, Problem, ShequError, ValidationError
from shequ.http.deps import SessionDep
from shequ.ingest.changes import read_change_bytes
from shequ.services.hierarchy import CHANGE_ROLES, apply_change_file, list_changes
from shequ.web.forms import back
from shequ.web.page import Crumb, Page, SignedInPage, render

router = APIRouter(include_in_schema=False)

MAX_FILE_BYTES = 8 * 2**20


async def _form(request: Request) -> FormData:
    """The posted form, read before anything else (a body over the limits is a 413)."""
    return await request.form()


Posted = Annotated[FormData, Depends(_form)]


def _column_name(page: Page, column: str | None) -> str:
    """A problem's column as the file's header names it in the reader's language."""
    if not column:
        return ""
    key = f"hierarchy.field.{column}"
    return page.t(key) if i18n.has_message(page.lang, key) else column


def _show(page: Page, session: Session, *, problems: list[dict[str, Any]] | None = None,
          filename: str | None = None, status_code: int = 200) -> HTMLResponse:
    total, rows = list_changes(session, limit=200)
    changes = [{"id": r.id, "kind": r.kind,
                "effective_on": i18n.date_text(r.effective_on, page.lang),
                "old": ", ".join(json.loads(r.old_codes)),
                "new": ", ".join(c for c in json.loads(r.new_codes) if c),
                "source": r.source, "by": r.recorded_by or ""} for r in rows]
    return render(page, "hierarchy_changes.html", {
        "total": total, "changes": changes, "problems": problems, "filename": filename,
        "breadcrumbs": [Crumb(page.t("common.workbench"), "/work"),
                        Crumb(page.t("hierarchy.title"))],
    }, status_code=status_code)


@router.get("/hierarchy/changes", response_class=HTMLResponse)
def changes_page(page: SignedInPage, session: SessionDep) -> HTMLResponse:
    """The upload form and the recorded changes."""
    page.require(*CHANGE_ROLES)
    return _show(page, session)


@router.post("/hierarchy/changes", response_class=HTMLResponse)
def upload_changes(form: Posted, page: SignedInPage, session: SessionDep) -> Response:
    """Apply an uploaded change file; a refused file is drawn again with its problems."""
    user = page.require(*CHANGE_ROLES)
    upload = form.get("file")
    filename = upload.filename if isinstance(upload, UploadFile) else None
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationError([Problem("form", "choose a file", column="file",
                                           code="required")])
        data = upload.file.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ValidationError([Problem(upload.filename, "the file is over 8 MiB",
                                           code="changes.file_too_large")])
        shapes = form.get("boundaries")
        boundaries = None
        if isinstance(shapes, UploadFile) and shapes.filename:
            shape_data = shapes.file.read(MAX_FILE_BYTES + 1)
            if len(shape_data) > MAX_FILE_BYTES:
                raise ValidationError([Problem(shapes.filename, "the file is over 8 MiB",
                                               code="changes.file_too_large")])
            boundaries = (shape_data, shapes.filename)
        outcome = apply_change_file(session, user, read_change_bytes(
            data, upload.filename, boundaries=boundaries))
    except ShequError as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        session.rollback()
        problems = list(exc.problems) if isinstance(exc, ValidationError) else [
            Problem(filename or "file", str(exc), code=exc.code)]
        shown = [{"file": p.source, "row": p.row, "column": _column_name(page, p.column),
                  "detail": i18n.describe_problem(p, page.lang)} for p in problems]
        return _show(page, session, problems=shown, filename=filename, status_code=422)
    return back("/hierarchy/changes", message="hierarchy.applied",
                events=outcome.events)
