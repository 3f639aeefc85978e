"""The directory kept in step with the registry, before any request that reads it: a
dependency of the HSDS API and of the directory pages alike."""

from __future__ import annotations

import asyncio

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shequ.context import Context
from shequ.services.directory import DirectoryState, ensure_in_step
from shequ.services.directory.sync import check_due


async def directory_in_step(request: Request) -> None:
    """Bring the directory's id map in step with the registry (at most once a second);
    the due check runs on the event loop, the database work in the thread pool."""
    state = getattr(request.app.state, "directory_state", None)
    if state is None:
        state = request.app.state.directory_state = DirectoryState()
    if not check_due(state):
        return
    ctx: Context = request.app.state.ctx
    if state.stamp is None:
        await run_in_threadpool(_bring_in_step, ctx.sessions, state)  # first: wait for it
    else:
        # Later checks run beside the request instead of in front of it.
        asyncio.get_running_loop().run_in_executor(None, _bring_in_step, ctx.sessions, state)


def _bring_in_step(sessions: sessionmaker[Session], state: DirectoryState) -> None:
    """:func:`ensure_in_step`, once more when another server process added the same new
    facilities' entries first (each worker of ``uvicorn --workers`` syncs on its own;
    the loser's insert hits the winner's keys, and the second pass finds them written)."""
    try:
        ensure_in_step(sessions, state)
    except IntegrityError:
        state.checked_at = float("-inf")
        ensure_in_step(sessions, state)
