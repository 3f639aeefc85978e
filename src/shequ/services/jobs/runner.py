"""Running jobs: the server's own worker pool by default, a Dask distributed cluster when
``SHEQU_DASK_SCHEDULER`` is set — the same code path (:func:`execute`) either way.

A job's work is a function ``(ctx, parameters, progress) -> result`` named by its kind in
:data:`KINDS` (a dotted path, so that a Dask worker imports it by name).  ``progress``
writes how far the work is to the job row, beats the heart and raises
:class:`JobCancelled` once someone asked the job to stop.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import update

from shequ.context import Context
from shequ.errors import Problem, ShequError, ValidationError
from shequ.registry.columns import utc_now
from shequ.services.jobs.models import ACTIVE_STATUSES, Job, JobStatus
from shequ.settings import Settings

# kind → "module:function" doing the work.
KINDS: dict[str, str] = {
    "plan.solve": "shequ.services.planning:solve_job",
    "plan.evaluate": "shequ.services.planning:evaluate_job",
    "access.life_circles": "shequ.services.analyses:life_circles_job",
    "indicators.run": "shequ.services.analyses:indicators_job",
    "analyses.refresh": "shequ.services.analyses:refresh_job",
    "registry.import": "shequ.services.upkeep:import_job",
}
# Seconds between two progress writes (the last one is always written).
PROGRESS_EVERY_S = 0.2
# This process's name among the job runners: host, pid and a token told apart from a
# later process that happens to get the same pid.
PROCESS_TOKEN = secrets.token_hex(4)


def process_runner_name() -> str:
    """``host:pid:token`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{PROCESS_TOKEN}"


class JobCancelled(Exception):
    """Raised by :class:`Progress` when the job was asked to stop."""


class ProgressReporter(Protocol):
    """What a job's work calls to say how far it is (0–1) and which step it is on."""

    def __call__(self, fraction: float, step: str | None = None) -> None: ...


def no_progress(fraction: float, step: str | None = None) -> None:
    """A reporter for work run outside a job (the CLI)."""


@dataclass
class Progress:
    """Writes progress to the job row (at most every :data:`PROGRESS_EVERY_S`)."""

    ctx: Context
    job_id: int
    last: float = field(default=0.0)

    def __call__(self, fraction: float, step: str | None = None) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and fraction < 1.0:
            return
        self.last = now
        with self.ctx.sessions.begin() as session:
            job = session.get(Job, self.job_id)
            if job is None or job.cancel_requested:
                raise JobCancelled
            job.progress = max(0.0, min(1.0, float(fraction)))
            if step is not None:
                job.step = step
            job.heartbeat_at = utc_now()


def work_function(kind: str) -> Callable[..., dict[str, Any]]:
    """The function doing the work of ``kind``."""
    module, name = KINDS[kind].split(":")
    function: Callable[..., dict[str, Any]] = getattr(importlib.import_module(module), name)
    return function


def _problem_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ValidationError):
        # every input problem kept (row, column, code and its message's values), so that
        # the page and the API name each one in the reader's language, as they do for
        # the same input refused in a request
        params = {"count": str(len(exc.problems)),
                  **{k: str(v) for k, v in exc.params.items()}}
        return {"code": exc.code, "params": params, "detail": str(exc),
                "problems": [problem_record(p) for p in exc.problems]}
    if isinstance(exc, ShequError):
        return {"code": exc.code, "params": {k: str(v) for k, v in exc.params.items()},
                "detail": str(exc)}
    return {"code": "jobs.crashed", "params": {"error": type(exc).__name__},
            "detail": "".join(traceback.format_exception_only(exc)).strip()}


def problem_record(problem: Problem) -> dict[str, Any]:
    """An input problem as a failed job stores it (JSON: its message's values kept as
    numbers and text, anything else as text)."""
    return {"source": problem.source, "row": problem.row, "column": problem.column,
            "reason": problem.reason, "hint": problem.hint, "code": problem.code,
            "params": {k: v if isinstance(v, bool | int | float | str) or v is None
                       else str(v) for k, v in problem.params.items()}}


def stored_problems(problem: dict[str, Any] | None) -> list[Problem]:
    """The input problems of a failed job's stored problem (none for other failures)."""
    return [Problem(source=str(p.get("source") or ""), reason=str(p.get("reason") or ""),
                    row=p.get("row"), column=p.get("column"), hint=p.get("hint"),
                    code=p.get("code"), params=dict(p.get("params") or {}))
            for p in (problem or {}).get("problems") or []]


def execute(ctx: Context, job_id: int, runner: str | None = None) -> str:
    """Run job ``job_id`` to its end; return its final status.

    A job no longer queued (cancelled before it started, taken by another worker) is
    left alone.
    """
    with ctx.sessions.begin() as session:
        claimed = session.execute(  # type: ignore[attr-defined]
            update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED.value)
            .values(status=JobStatus.RUNNING.value, started_at=utc_now(),
                    heartbeat_at=utc_now(), runner=runner or process_runner_name())
        ).rowcount
        job = session.get(Job, job_id)
        if not claimed or job is None:
            return job.status if job is not None else "missing"
        kind, parameters = job.kind, json.loads(job.parameters or "{}")
    status, result, problem = JobStatus.DONE.value, None, None
    try:
        result = work_function(kind)(ctx, parameters, Progress(ctx, job_id))
    except JobCancelled:
        status = JobStatus.CANCELLED.value
    except Exception as exc:
        status, problem = JobStatus.FAILED.value, _problem_of(exc)
    with ctx.sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is None:
            return "missing"
        if status == JobStatus.DONE.value and job.cancel_requested:
            status = JobStatus.CANCELLED.value
        job.status = status
        job.finished_at = utc_now()
        if status == JobStatus.DONE.value:
            job.progress = 1.0
            job.result = json.dumps(result, ensure_ascii=False, default=str)
        if problem is not None:
            job.problem = json.dumps(problem, ensure_ascii=False)
    return status


# --------------------------------------------------------------------------- Dask workers

_WORKER_CONTEXTS: dict[Settings, Context] = {}
_WORKER_LOCK = threading.Lock()


def execute_on_worker(settings: Settings, job_id: int, runner: str) -> str:
    """:func:`execute` on a Dask worker, over a context opened once per worker process."""
    with _WORKER_LOCK:
        ctx = _WORKER_CONTEXTS.get(settings)
        if ctx is None:
            ctx = _WORKER_CONTEXTS[settings] = Context.open(settings, migrate=False)
    return execute(ctx, job_id, runner)


# --------------------------------------------------------------------------- the runner

class JobRunner:
    """Starts stored jobs: on a thread pool of this process, or on a Dask cluster."""

    def __init__(self, ctx: Context, *, workers: int = 2) -> None:
        self.ctx = ctx
        self.scheduler = ctx.settings.dask_scheduler
        self._pool: Executor | None = None
        self._client: Any = None
        self.workers = workers

    @property
    def name(self) -> str:
        """What the job rows say ran them."""
        return f"dask:{self.scheduler}" if self.scheduler else process_runner_name()

    def start(self, job_id: int) -> None:
        """Hand job ``job_id`` (stored, queued, committed) to a worker."""
        if self.scheduler:
            from distributed import Client, fire_and_forget

            if self._client is None:
                self._client = Client(  # type: ignore[no-untyped-call]
                    self.scheduler, set_as_default=False)
            future = self._client.submit(execute_on_worker, self.ctx.settings, job_id,
                                         self.name, pure=False,
                                         key=f"shequ-job-{job_id}-{secrets.token_hex(3)}")
            fire_and_forget(future)  # type: ignore[no-untyped-call]
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers,
                                            thread_name_prefix="shequ-job")
        self._pool.submit(execute, self.ctx, job_id, self.name)

    def close(self) -> None:
        """Stop taking jobs (running ones end on their own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()


_RUNNERS: dict[int, JobRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def runner_for(ctx: Context) -> JobRunner:
    """The runner of ``ctx`` (one per context and process)."""
    with _RUNNERS_LOCK:
        found = _RUNNERS.get(id(ctx))
        if found is None or found.ctx is not ctx:
            found = _RUNNERS[id(ctx)] = JobRunner(ctx)
        return found


@contextlib.contextmanager
def own_runner(ctx: Context) -> Iterator[JobRunner]:
    """A runner for ``ctx`` closed afterwards (tests, the CLI)."""
    runner = runner_for(ctx)
    try:
        yield runner
    finally:
        runner.close()
        with _RUNNERS_LOCK:
            _RUNNERS.pop(id(ctx), None)


# --------------------------------------------------------------------------- after a restart

# A job on another host, or on Dask, whose heart has not beaten for this long is gone.
STALE_AFTER_S = 30 * 60


def _process_gone(runner: str) -> bool:
    host, _, rest = runner.partition(":")
    pid_text, _, token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return token != PROCESS_TOKEN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def sweep_interrupted(ctx: Context) -> list[int]:
    """Mark the jobs whose worker went away as interrupted; return their ids.

    A job is gone when its runner was a process of this host that no longer runs, or
    when its heart has not beaten for :data:`STALE_AFTER_S` (another host, Dask).
    """
    now = utc_now()
    gone: list[int] = []
    with ctx.sessions.begin() as session:
        from sqlalchemy import select

        for job in session.scalars(select(Job).where(Job.status.in_(ACTIVE_STATUSES))):
            beat = job.heartbeat_at or job.created_at
            stale = (now - beat).total_seconds() > STALE_AFTER_S
            if (job.runner and _process_gone(job.runner)) or stale:
                job.status = JobStatus.INTERRUPTED.value
                job.finished_at = now
                gone.append(job.id)
    return gone
