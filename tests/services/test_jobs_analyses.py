"""The planners' recompute (life circles, then every indicator) runs as a job on the demo
county, from the API and from /plan; a community worker may not start it."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shequ.access.models import CommunityAccess
from shequ.context import Context
from shequ.errors import AccessDenied
from shequ.indicators.models import IndicatorRun
from shequ.services.accounts.demo import ensure_demo_accounts
from shequ.services.accounts.models import User
from shequ.services.accounts.users import DEMO_PASSWORD
from shequ.services.analyses import start_refresh
from shequ.services.jobs.runner import own_runner
from shequ.services.jobs.service import wait
from shequ.settings import Settings

pytestmark = [pytest.mark.slow]


def test_the_recompute_runs_as_a_job(demo_settings: Settings) -> None:
    from shequ.app import create_app

    ctx = Context.open(demo_settings)
    with ctx.sessions.begin() as session:
        ensure_demo_accounts(session, county_code="130123000000", environment="test")
    try:
        with ctx.sessions() as session:
            worker = session.scalars(select(User).where(User.username == "demo_worker")).one()
            session.expunge(worker)
        with pytest.raises(AccessDenied):
            start_refresh(ctx, worker)
        with TestClient(create_app(ctx)) as client, own_runner(ctx):
            token = client.post("/api/v1/auth/token", data={
                "username": "demo_planner", "password": DEMO_PASSWORD}).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            started = client.post("/api/v1/jobs/analyses", headers=auth)
            assert started.status_code == 202, started.text
            assert started.json()["division_code"] == "130123000000"
            done = wait(ctx, started.json()["id"], timeout=300)
            assert done.status == "done", done.problem
            page = client.get(f"/plan?job={done.id}", headers=auth)
            assert "重算生活圈和指标" in page.text and 'data-status="done"' in page.text
            assert re.search(r'data-testid="refresh-form"', page.text)
        with ctx.sessions() as session:
            assert session.scalar(select(func.count()).select_from(IndicatorRun)) == 1
            assert (session.scalar(select(func.count()).select_from(CommunityAccess)) or 0) > 0
    finally:
        ctx.close()
