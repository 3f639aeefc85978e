"""The stored version of a record a worker's queued write changes:
``GET /api/v1/offline/current?path=…``.

When a write queued on a device without signal is refused because the record changed
meanwhile (409, :func:`shequ.services.offline.check_seen`), the outbox page asks this for
the server's version and shows it beside the worker's own, so the worker chooses.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from shequ.http.caller import CurrentUser
from shequ.http.deps import ContextDep, SessionDep
from shequ.http.problems import error_responses
from shequ.services import offline

router = APIRouter(tags=["offline"])


class CurrentOut(BaseModel):
    """A record as stored now: its kind, id, version and the fields a form shows."""

    entity: str
    id: int
    version: str
    fields: dict[str, str]


@router.get("/offline/current", response_model=CurrentOut,
            responses=error_responses(401, 403, 404))
def current(ctx: ContextDep, session: SessionDep, user: CurrentUser,
            path: Annotated[str, Query(max_length=300,
                                       description="the address the write was sent to")]
            ) -> CurrentOut:
    """The record a write to ``path`` changes (a request's workflow step, a facility's
    correction), as stored now, with its version."""
    found = offline.current_for(session, ctx.settings.catalog_dir, user, path)
    return CurrentOut(entity=found.entity, id=found.id, version=found.version,
                      fields=found.fields)
