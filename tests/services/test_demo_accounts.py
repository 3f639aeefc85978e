"""The demo county's sign-ins: one account per kind of user, at the right levels of 正定县,
created once, refused in production; a demo worker signs in and keeps their community."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shequ.app import create_app
from shequ.context import Context
from shequ.errors import ConfigurationError
from shequ.registry.models import Division
from shequ.services.accounts import User, authenticate
from shequ.services.accounts.demo import DEMO_PASSWORD, ensure_demo_accounts
from shequ.settings import Settings


def test_one_account_per_kind_of_user_created_once(demo_settings: Settings) -> None:
    ctx = Context.open(demo_settings)
    try:
        with ctx.sessions() as session:
            accounts = ensure_demo_accounts(session, county_code="130123000000", environment="test")
            session.commit()
            by_name = {a.username: a for a in accounts}
            worker = by_name["demo_worker"].jurisdiction_code
            assert worker is not None
            unit = session.scalars(select(Division).where(Division.code == worker)).one()
            assert (unit.level, unit.urban_rural[:1] if unit.urban_rural else None) == (5, "1")
            assert by_name["demo_officer"].jurisdiction_code == unit.parent_code
            assert by_name["demo_planner"].jurisdiction_code == "130123000000"
            signed_in = authenticate(session, "demo_resident", DEMO_PASSWORD)
            assert signed_in is not None and signed_in.resident_id is not None
            again = ensure_demo_accounts(session, county_code="130123000000", environment="test")
            session.commit()
            assert again == accounts
            assert session.scalar(select(func.count()).select_from(User)) == 5
            with pytest.raises(ConfigurationError, match="not created in production"):
                ensure_demo_accounts(session, county_code="130123000000", environment="production")
    finally:
        ctx.close()


def test_the_demo_worker_signs_in_to_keep_the_community(demo_settings: Settings) -> None:
    ctx = Context.open(demo_settings)
    with ctx.sessions() as session:
        accounts = ensure_demo_accounts(session, county_code="130123000000", environment="test")
        session.commit()
    community = next(a.jurisdiction_code for a in accounts if a.username == "demo_worker")
    try:
        with TestClient(create_app(ctx)) as client:
            form = client.get("/login?next=/upkeep")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert csrf is not None
            signed = client.post("/login", data={"username": "demo_worker",
                                                 "password": DEMO_PASSWORD,
                                                 "csrf_token": csrf.group(1),
                                                 "next": "/upkeep"}, follow_redirects=True)
            assert signed.status_code == 200
            assert f'<small class="muted">{community}</small>' in signed.text
            assert 'data-testid="facilities"' in signed.text
    finally:
        ctx.close()


def test_the_demo_planner_recomputes_after_staff_edits(demo_settings: Settings) -> None:
    from shequ.access.models import CommunityAccess
    from shequ.indicators.models import IndicatorRun
    from shequ.registry import queries

    ctx = Context.open(demo_settings)
    with ctx.sessions() as session:
        ensure_demo_accounts(session, county_code="130123000000",
                             environment="test")
        session.commit()
    try:
        with TestClient(create_app(ctx)) as client:
            form = client.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert csrf is not None
            client.post("/login", data={"username": "demo_planner", "password": DEMO_PASSWORD,
                                        "csrf_token": csrf.group(1)})
            work = client.get("/work")
            token = re.search(r'name="csrf_token" value="([^"]+)"', work.text)
            assert token is not None and 'data-testid="refresh-form"' in work.text
            done = client.post("/work/refresh", data={"csrf_token": token.group(1)},
                               follow_redirects=False)
            assert done.headers["location"] == "/work?msg=work.refreshed", done.headers
        with ctx.sessions() as session:
            year = queries.today().year
            stored = session.scalar(select(func.count()).select_from(CommunityAccess).where(
                CommunityAccess.period == year))
            assert stored is not None and stored > 0
            assert session.scalar(select(func.count()).select_from(IndicatorRun)) == 1
    finally:
        ctx.close()
