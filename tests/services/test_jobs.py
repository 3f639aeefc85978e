"""Jobs on SQLite and PostgreSQL: a plan solved as a job, progress, one job per division
and kind (the database's own index holds it), cancel, failure kept with its code, the
sweep after a restart, rerun, and the Dask cluster giving what the server's pool gives."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shequ.context import Context
from shequ.errors import AccessDenied, ConflictError
from shequ.plan.models import PlanScenario
from shequ.registry.columns import utc_now
from shequ.registry.models import Division
from shequ.services.accounts.models import AuditLog, User
from shequ.services.accounts.passwords import hash_password
from shequ.services.accounts.users import create_user
from shequ.services.jobs.models import Job
from shequ.services.jobs.runner import KINDS, PROCESS_TOKEN, own_runner, sweep_interrupted
from shequ.services.jobs.service import cancel, get_job, list_jobs, rerun, submit, wait
from shequ.services.planning import PlanRequest, free_scenario_name, start_solve
from shequ.settings import Settings
from tests.plan.county import COUNTY, seed_county


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    """The seeded test county with a planner, a community worker and a stranger."""
    context = Context.open(settings)
    seed_county(context.sessions)
    digest = hash_password("a long test password 123")
    with context.sessions.begin() as session:
        session.add(Division(code="330200000000", level=2, parent_code="330000000000",
                             name="Other city", kind="prefecture_city",
                             valid_from=dt.date(2000, 1, 1)))
        session.add(Division(code="330201000000", level=3, parent_code="330200000000",
                             name="Other county", kind="county",
                             valid_from=dt.date(2000, 1, 1)))
        for name, role, code in (("planner", "county_planner", COUNTY),
                                 ("worker", "community_worker", "330110100201"),
                                 ("stranger", "county_planner", "330201000000")):
            create_user(session, username=name, password_hash=digest, role=role,
                        jurisdiction_code=code)
    with own_runner(context):
        yield context
    context.close()


def _user(ctx: Context, name: str) -> User:
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == name)).one()
        session.expunge(user)
        return user


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job kind that counts slowly, and one that fails."""
    monkeypatch.setitem(KINDS, "test.count", "tests.services.jobs_work:count_slowly")
    monkeypatch.setitem(KINDS, "test.fail", "tests.services.jobs_work:fail")


def test_a_plan_is_solved_as_a_job_with_its_result_and_audit(ctx: Context) -> None:
    planner = _user(ctx, "planner")
    job = start_solve(ctx, planner, PlanRequest(COUNTY, target=0.8, name="as a job"))
    done = wait(ctx, job.id)
    assert done.status == "done" and done.progress == 1.0
    assert done.started_at is not None and done.finished_at is not None
    assert done.finished_at >= done.started_at >= done.created_at
    result = json.loads(done.result or "{}")
    # 20 of 30 villages have the facility; 80% needs 24, the budget buys 4 new builds or
    # the six reuses and two builds: 28 (hand-checked in tests/plan/test_api.py)
    assert result["objective"] == 28 and result["gap"] == 0
    assert result["scenario_name"] == "as a job"
    assert json.loads(done.parameters)["request"]["target"] == 0.8
    with ctx.sessions() as session:
        logged = [(r.username, r.action, r.entity) for r in session.scalars(
            select(AuditLog).order_by(AuditLog.id))]
    assert ("planner", "submit", "job") in logged
    assert ("planner", "create", "plan_scenario") in logged


def test_a_rerun_whose_scenario_name_is_taken_saves_it_with_a_suffix(ctx: Context) -> None:
    """Solving again under a name already taken stores "name (2)", then "name (3)", instead
    of failing once the work is done; the page says which name it got."""
    planner = _user(ctx, "planner")
    first = wait(ctx, start_solve(ctx, planner, PlanRequest(COUNTY, target=0.8,
                                                            name="villages 80%")).id)
    second = wait(ctx, rerun(ctx, planner, first.id).id)
    third = wait(ctx, rerun(ctx, planner, second.id).id)
    names = [json.loads(j.result or "{}").get("scenario_name") for j in (first, second, third)]
    assert [j.status for j in (first, second, third)] == ["done", "done", "done"]
    assert names == ["villages 80%", "villages 80% (2)", "villages 80% (3)"]
    # the same plan each time: 28 of 30 villages (as in the job test above)
    assert {json.loads(j.result or "{}")["objective"] for j in (first, second, third)} == {28}
    with ctx.sessions() as session:
        stored = sorted(session.scalars(select(PlanScenario.name)))
        # a name at the column's length keeps its suffix inside it
        long_name = free_scenario_name(session, "x" * 120)
        session.add(PlanScenario(name="x" * 120, division_code=COUNTY, status="draft"))
        session.flush()
        longer = free_scenario_name(session, "x" * 120)
    assert stored == ["villages 80%", "villages 80% (2)", "villages 80% (3)"]
    assert long_name == "x" * 120
    assert longer == "x" * 116 + " (2)" and len(longer) == 120


def test_only_planners_of_the_division_start_plans(ctx: Context) -> None:
    request = PlanRequest(COUNTY, target=0.8)
    with pytest.raises(AccessDenied):
        start_solve(ctx, _user(ctx, "worker"), request)
    with pytest.raises(AccessDenied):
        start_solve(ctx, _user(ctx, "stranger"), request)
    with ctx.sessions() as session:
        assert session.scalar(select(Job.id)) is None


def test_one_job_per_division_and_kind(ctx: Context, counting: None) -> None:
    planner = _user(ctx, "planner")
    first = submit(ctx, planner, kind="test.count", division_code=COUNTY,
                   parameters={"steps": 3}, start=False)
    with pytest.raises(ConflictError) as refused:
        submit(ctx, planner, kind="test.count", division_code=COUNTY,
               parameters={"steps": 3}, start=False)
    assert refused.value.code == "jobs.busy"
    # another kind, or another division, may run beside it
    submit(ctx, planner, kind="test.fail", division_code=COUNTY, parameters={}, start=False)
    # the database itself refuses a second active row (two servers at the same instant)
    with pytest.raises(IntegrityError), ctx.sessions.begin() as session:
        session.add(Job(kind="test.count", division_code=COUNTY, parameters="{}",
                        status="running", progress=0.0, cancel_requested=False,
                        created_at=utc_now()))
    # a queued job cancelled ends at once, and the division is free again
    assert cancel(ctx, planner, first.id).status == "cancelled"
    again = submit(ctx, planner, kind="test.count", division_code=COUNTY,
                   parameters={"steps": 2, "sleep": 0.01})
    assert wait(ctx, again.id).status == "done"


def test_progress_cancel_failure_and_rerun(ctx: Context, counting: None) -> None:
    planner = _user(ctx, "planner")
    job = submit(ctx, planner, kind="test.count", division_code=COUNTY,
                 parameters={"steps": 400, "sleep": 0.02})
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    while True:
        with ctx.sessions() as session:
            seen = get_job(session, planner, job.id)
            if seen.progress > 0.05:
                break
        assert dt.datetime.now(dt.UTC) < deadline, "no progress was reported"
    assert seen.status == "running" and seen.step == "solve" and seen.heartbeat_at
    with pytest.raises(AccessDenied):  # the worker is outside the county's jobs
        cancel(ctx, _user(ctx, "stranger"), job.id)
    cancel(ctx, planner, job.id)
    stopped = wait(ctx, job.id)
    assert stopped.status == "cancelled" and stopped.progress < 1.0
    with pytest.raises(ConflictError):
        cancel(ctx, planner, job.id)
    failing = submit(ctx, planner, kind="test.fail", division_code=COUNTY, parameters={})
    failed = wait(ctx, failing.id)
    assert failed.status == "failed"
    assert json.loads(failed.problem or "{}") == {
        "code": "jobs.no_job", "params": {"id": "7"}, "detail": "nothing here"}
    again = rerun(ctx, planner, stopped.id)
    assert again.rerun_of == stopped.id and json.loads(again.parameters)["steps"] == 400
    cancel(ctx, planner, again.id)
    wait(ctx, again.id)
    with ctx.sessions() as session:
        listed = [j.id for j in list_jobs(session, planner)]
        assert listed == [again.id, failing.id, job.id]
        assert list_jobs(session, _user(ctx, "stranger")) == []


def test_jobs_left_by_a_gone_process_are_marked_interrupted(ctx: Context) -> None:
    now = utc_now()
    import socket

    host = socket.gethostname()
    rows = {"dead": f"{host}:999999999:0000", "mine": None,
            "stale": "dask:tcp://elsewhere:8786", "fresh": "dask:tcp://elsewhere:8786"}
    from shequ.services.jobs.runner import process_runner_name

    mine = rows["mine"] = process_runner_name()
    assert mine.endswith(PROCESS_TOKEN)
    ids = {}
    with ctx.sessions.begin() as session:
        for n, (name, runner) in enumerate(rows.items()):
            beat = now - dt.timedelta(hours=2) if name == "stale" else now
            job = Job(kind="plan.evaluate", division_code=f"3301101{n:02d}000",
                      parameters="{}", status="running", progress=0.3,
                      cancel_requested=False, runner=runner, created_at=beat,
                      started_at=beat, heartbeat_at=beat)
            session.add(job)
            session.flush()
            ids[name] = job.id
    gone = sweep_interrupted(ctx)
    assert sorted(gone) == sorted([ids["dead"], ids["stale"]])
    with ctx.sessions() as session:
        status = {name: session.get(Job, i).status for name, i in ids.items()}  # type: ignore[union-attr]
    assert status == {"dead": "interrupted", "mine": "running", "stale": "interrupted",
                      "fresh": "running"}


def test_the_dask_cluster_solves_as_the_server_pool_does(ctx: Context) -> None:
    from distributed import LocalCluster

    planner = _user(ctx, "planner")
    here = wait(ctx, start_solve(ctx, planner, PlanRequest(
        COUNTY, model="pmedian", p=2, name="in process")).id)
    cluster_of_one = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster_of_one as cluster:
        remote = Context.open(ctx.settings.with_(dask_scheduler=cluster.scheduler_address),
                              migrate=False)
        try:
            with own_runner(remote) as runner:
                assert runner.name == f"dask:{cluster.scheduler_address}"
                job = start_solve(remote, planner, PlanRequest(
                    COUNTY, model="pmedian", p=2, name="on dask"))
                there = wait(remote, job.id, timeout=120)
        finally:
            remote.close()
    assert here.status == there.status == "done"
    assert there.runner is not None and there.runner.startswith("dask:")
    a, b = json.loads(here.result or "{}"), json.loads(there.result or "{}")
    assert a["objective"] == pytest.approx(b["objective"], rel=1e-12)
    assert [s["key"] for s in a["sites"]] == [s["key"] for s in b["sites"]]
    assert a["scenario_name"] == "in process" and b["scenario_name"] == "on dask"
