"""The demo county's 2025 reporting round: synthetic, and made through the services.

``shequ demo`` opens a round for the demo's year 2025 (the administrator, nationwide)
asking every data set, due a month from ``now``.  Every community and village of the
county except the demo worker's reports: the county planner fills each form with the
registry's 2025 figures (prefilled) and synthetic floor areas (residential floor area
about 90 m² per household, commercial service floor area 3–8 % of it, drawn from the
seed), submits it, and signs it off for the street and the county, which writes the
figures into the registry and the indicator inputs, so that N3 has values at every level.
The demo worker's own form is left to fill in, and the demo officer's street keeps a few
submissions waiting for its approval.

Running it again adds nothing: the round is found by its name.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.context import Context
from shequ.errors import NotFoundError, ValidationError
from shequ.indicators.store import compute_for_registry
from shequ.registry import queries
from shequ.services.accounts.models import User
from shequ.services.reporting import service as reporting
from shequ.services.reporting.config import ReportingConfig, Target
from shequ.services.reporting.models import ReportingRound, RoundForm

DEMO_ROUND_NAME = "2025 年度社区基础数据（合成演示）"
DEMO_PERIOD = 2025
# Submissions of the officer's street left for the officer to approve.
WAITING_FOR_STREET = 2
SYNTHETIC_COMMENT = "合成演示数据（synthetic demo figures）"


def _account(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError(f"demo account {username} is missing; run `shequ demo` first")
    return user


def _submit(session: Session, config: ReportingConfig, user: User, round_id: int,
            code: str, *, values: dict[str, object], now: dt.datetime,
            catalog_dir: Path | None) -> RoundForm:
    """Submit the form; a warning of the validation rules is answered with a comment
    saying the figures are synthetic (an error is a fault of the generator and raises)."""
    try:  # a refused submission writes nothing, so it can simply be sent again
        return reporting.save_form(session, config, user, round_id, code, values=values,
                                   submit=True, now=now, source="demo",
                                   catalog_dir=catalog_dir)
    except ValidationError as exc:
        warned = {p.column for p in exc.problems if p.code == "reporting.comment_needed"}
        if not warned or any(p.code != "reporting.comment_needed" for p in exc.problems):
            raise
        comments = {str(item): SYNTHETIC_COMMENT for item in warned if item}
        return reporting.save_form(session, config, user, round_id, code, values=values,
                                   comments=comments, submit=True, now=now, source="demo",
                                   catalog_dir=catalog_dir)


def run_demo_round(session: Session, config: ReportingConfig, *, county_code: str,
                   seed: int, now: dt.datetime,
                   catalog_dir: Path | None = None) -> dict[str, int]:
    """Open the demo's 2025 round and report for the county (see the module docstring);
    the counts of what was done (all zero when the round exists)."""
    if session.scalars(select(ReportingRound).where(
            ReportingRound.name == DEMO_ROUND_NAME)).first() is not None:
        return {"reporting rounds": 0, "forms submitted": 0, "forms signed off": 0}
    admin = _account(session, "demo_admin")
    planner = _account(session, "demo_planner")
    worker = _account(session, "demo_worker")
    officer = _account(session, "demo_officer")
    today = now.date()
    round_ = reporting.open_round(
        session, config, admin, name=DEMO_ROUND_NAME, period=DEMO_PERIOD,
        opens_on=today - dt.timedelta(days=14), due_on=today + dt.timedelta(days=30),
        # the demo's facilities are the generator's, kept as generated: no facility set
        datasets=[code for code, d in config.datasets.items()
                  if d.target is not Target.FACILITY], now=now - dt.timedelta(days=14))
    rng = np.random.default_rng(seed)
    units = [u for u in queries.communities_under(session, county_code[:6])
             if u.code != worker.jurisdiction_code]
    street = officer.jurisdiction_code or ""
    waiting = [u.code for u in units if u.code.startswith(street[:9])][:WAITING_FOR_STREET]
    submitted = signed = 0
    for unit in units:
        view = reporting.form_view(session, config, planner, round_.id, unit.code)
        households = view.values.get("households") or 0.0
        residential = round(float(households) * rng.uniform(80.0, 100.0))
        values: dict[str, object] = {}
        for item in view.items:
            value = view.values.get(item.key)
            if item.target is Target.INPUT:
                value = {"residential_floor_area": residential,
                         "commercial_service_floor_area": round(
                             residential * rng.uniform(0.03, 0.08)),
                         "home_visited_elderly": round(
                             (view.values.get("age_80_plus") or 0.0) * rng.uniform(0.5, 0.9)),
                         }.get(item.key, 0.0)
            values[item.key] = 0 if value is None else value
        at = now - dt.timedelta(days=float(rng.uniform(1.0, 13.0)))
        form = _submit(session, config, planner, round_.id, unit.code, values=values, now=at,
                       catalog_dir=catalog_dir)
        submitted += 1
        if unit.code in waiting:
            continue
        while reporting.form_view(session, config, planner, round_.id,
                                  unit.code).approve_level is not None:
            reporting.approve_form(session, config, planner, form.id, now=now)
        signed += 1
    session.flush()
    return {"reporting rounds": 1, "forms submitted": submitted, "forms signed off": signed}




def report_demo_round(ctx: Context, *, county_code: str, seed: int, now: dt.datetime
                      ) -> dict[str, int]:
    """:func:`run_demo_round` committed, then the indicators computed again when figures
    reached the registry (so that N3 has values)."""
    with ctx.sessions() as session:
        counts = run_demo_round(session, reporting.reporting_config(ctx.settings.catalog_dir),
                                county_code=county_code, seed=seed, now=now,
                                catalog_dir=ctx.settings.catalog_dir)
        session.commit()
    if counts["forms signed off"]:
        compute_for_registry(ctx, note="shequ demo: after the 2025 reporting round")
    return counts


__all__ = ["DEMO_PERIOD", "DEMO_ROUND_NAME", "report_demo_round", "run_demo_round"]
