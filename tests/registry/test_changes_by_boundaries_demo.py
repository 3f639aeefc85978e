"""A split by boundaries of a demo village from a change file with a boundary file, from
the command line and over HTTP: every facility lands in the part that holds it, the
people are shared by area and the totals stay; a bad boundary file is refused naming its
rows beside the change file's."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely import MultiPolygon, box
from sqlalchemy import func, select
from typer.testing import CliRunner

from shequ.cli import app
from shequ.context import Context
from shequ.registry.boundaries import as_multipolygon, boundary_records
from shequ.registry.models import DivisionChangeEvent, Facility, Population
from shequ.services.requests.models import ServiceRequest
from shequ.settings import Settings
from tests.registry.test_changes_api import site  # noqa: F401 (the API fixture)

runner = CliRunner()
VILLAGE, NEW = "130123102206", "130123102230"
ON = dt.date(2024, 4, 1)
CHANGES = f"""原代码,原名称,变更类型,新代码,新名称,日期,份额
{VILLAGE},东权城村委会,拆分,{VILLAGE},东权城村委会,2024-04-01,
{VILLAGE},东权城村委会,拆分,{NEW},东权城新村村委会,2024-04-01,
"""


def halves(settings: Settings) -> tuple[MultiPolygon, MultiPolygon]:
    """The village's demo boundary cut along the meridian halfway between its westmost
    and eastmost facility, so that each half holds some."""
    ctx = Context.open(settings)
    try:
        with ctx.sessions() as session:
            shape = boundary_records(session, codes=[VILLAGE],
                                     as_of=ON - dt.timedelta(1))[0].shape
            lons = session.scalars(select(Facility.longitude).where(
                Facility.division_code == VILLAGE, Facility.longitude.is_not(None))).all()
    finally:
        ctx.close()
    cut = (min(lons) + max(lons)) / 2  # type: ignore[type-var, operator]
    x0, y0, x1, y1 = shape.bounds
    return (as_multipolygon(shape.intersection(box(x0 - 1, y0 - 1, cut, y1 + 1))),
            as_multipolygon(shape.intersection(box(cut, y0 - 1, x1 + 1, y1 + 1))))


def geojson(parts: dict[str, shapely.Geometry]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code},
         "geometry": json.loads(shapely.to_geojson(shape))} for code, shape in parts.items()]})


def state(settings: Settings) -> tuple[dict[str, str], dict[int, tuple[float, float]], int,
                                       dict[str, float]]:
    """Facilities' divisions and points, 2024 residents of the county, recorded shares."""
    ctx = Context.open(settings)
    try:
        with ctx.sessions() as session:
            rows = session.execute(select(Facility.id, Facility.division_code,
                                          Facility.longitude, Facility.latitude)).all()
            residents = int(session.scalar(select(func.sum(Population.residents)).where(
                Population.period == 2024)) or 0)
            event = session.scalars(select(DivisionChangeEvent)).first()
            shares = json.loads(event.shares or "{}") if event else {}
            return ({str(r.id): r.division_code for r in rows},
                    {r.id: (r.longitude, r.latitude) for r in rows}, residents, shares)
    finally:
        ctx.close()


def test_the_command_line_splits_a_village_by_its_boundary_file(
        demo_settings: Settings, tmp_path: Path) -> None:
    west, east = halves(demo_settings)
    before, points, residents, _ = state(demo_settings)
    ours = [int(i) for i, code in before.items() if code == VILLAGE]
    assert len(ours) >= 2
    pins = {"west": west.representative_point(), "east": east.representative_point()}
    ctx = Context.open(demo_settings)
    try:
        with ctx.sessions() as session, session.begin():
            now = dt.datetime.now(dt.UTC)
            for side, pin in pins.items():
                session.add(ServiceRequest(
                    token=f"split-{side}", service_code="repair", status="submitted",
                    longitude=pin.x, latitude=pin.y, division_code=VILLAGE,
                    responsible_code=VILLAGE, requested_at=now, updated_at=now,
                    deadline_at=now + dt.timedelta(days=3)))
    finally:
        ctx.close()
    (tmp_path / "changes.csv").write_text(CHANGES, encoding="utf-8")
    (tmp_path / "parts.geojson").write_text(geojson({VILLAGE: west, NEW: east}),
                                            encoding="utf-8")
    result = runner.invoke(app, ["hierarchy", "change", "apply", str(tmp_path / "changes.csv"),
                                 "--boundaries", str(tmp_path / "parts.geojson"),
                                 "--data-dir", str(demo_settings.data_dir)])
    assert result.exit_code == 0, result.output
    after, _, residents_after, shares = state(demo_settings)
    assert len(after) == len(before) and residents_after == residents
    for fid in ours:  # each facility in the part whose boundary covers it
        point = shapely.Point(*points[fid])
        assert west.covers(point) or east.covers(point)
        assert after[str(fid)] == (VILLAGE if west.covers(point) else NEW)
    assert {after[str(f)] for f in ours} == {VILLAGE, NEW}
    # the people by the share of the old boundary's area each half takes
    assert abs(shares[NEW] - east.area / (west.area + east.area)) < 1e-9
    # open requests follow their pins: the one in the east half to the new village
    ctx = Context.open(demo_settings)
    try:
        with ctx.sessions() as session:
            placed = {r.token: (r.division_code, r.responsible_code) for r in
                      session.scalars(select(ServiceRequest).where(
                          ServiceRequest.token.startswith("split-")))}
    finally:
        ctx.close()
    assert placed == {"split-west": (VILLAGE, VILLAGE), "split-east": (NEW, NEW)}


def test_the_api_takes_the_boundary_file_and_names_bad_rows_of_both_files(
        site: tuple[TestClient, Context, dict[str, str]]) -> None:  # noqa: F811
    client, ctx, auth = site
    west, east = halves(ctx.settings)
    headers = {"Authorization": auth["hebei"], "Accept-Language": "en"}
    bad = geojson({VILLAGE: west.buffer(0.002), NEW: east, "130123102231": east})
    answer = client.post("/api/v1/hierarchy/changes", headers=headers, files={
        "file": ("changes.csv", CHANGES.encode(), "text/csv"),
        "boundaries": ("parts.geojson", bad.encode(), "application/geo+json")})
    assert answer.status_code == 422, answer.text
    found = sorted((p.get("row"), p["code"]) for p in answer.json()["problems"])
    # the third feature names no part; the widened west part overlaps the east one
    # (named on the change file's row of the east part) and reaches outside the village
    assert found == [(2, "changes.split_boundary_outside"), (3, "changes.boundary_unused"),
                     (3, "changes.split_boundary_overlap")]
    good = client.post("/api/v1/hierarchy/changes", headers=headers, files={
        "file": ("changes.csv", CHANGES.encode(), "text/csv"),
        "boundaries": ("parts.geojson", geojson({VILLAGE: west, NEW: east}).encode(),
                       "application/geo+json")})
    assert good.status_code == 201, good.text
    assert good.json()["moved"]["facility"] >= 1


def test_json_changes_carry_each_part_s_boundary_as_geojson(
        site: tuple[TestClient, Context, dict[str, str]]) -> None:  # noqa: F811
    client, ctx, auth = site
    west, east = halves(ctx.settings)
    headers = {"Authorization": auth["nation"], "Accept-Language": "en"}

    def change(east_shape: object) -> dict[str, object]:
        return {"changes": [{"kind": "split", "effective_on": ON.isoformat(),
                             "old": [VILLAGE], "new": [
                                 {"code": VILLAGE, "boundary": json.loads(
                                     shapely.to_geojson(west))},
                                 {"code": NEW, "name": "东权城新村村委会",
                                  "boundary": east_shape}]}]}

    bad = client.post("/api/v1/hierarchy/changes", headers=headers,
                      json=change({"type": "Polygon", "coordinates": "nowhere"}))
    assert bad.status_code == 422, bad.text
    assert [p["code"] for p in bad.json()["problems"]] == ["changes.bad_boundary"]
    assert "changes.1.new.1.boundary is not a GeoJSON geometry" in bad.text
    good = client.post("/api/v1/hierarchy/changes", headers=headers,
                       json=change(json.loads(shapely.to_geojson(east))))
    assert good.status_code == 201, good.text
    listed = client.get("/api/v1/hierarchy/changes").json()["items"][0]
    assert listed["shares"][NEW] == pytest.approx(east.area / (west.area + east.area))


def test_the_page_takes_the_boundary_file_and_names_each_problem_by_file_and_row(
        site: tuple[TestClient, Context, dict[str, str]]) -> None:  # noqa: F811
    from shequ.services.accounts.models import SessionKind, User
    from shequ.services.accounts.sessions import start_session
    from tests.services.conftest import SECRET

    client, ctx, _ = site
    west, east = halves(ctx.settings)
    with ctx.sessions() as session:
        admin = session.scalars(select(User).where(User.username == "t_nation")).one()
        cookie = start_session(session, SECRET, admin, kind=SessionKind.PAGE)[1]
        session.commit()
    client.cookies.set("shequ_session", cookie)
    page = client.get("/hierarchy/changes?lang=en")
    assert 'name="boundaries" type="file"' in page.text
    assert "Boundaries of the split parts (optional)" in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    changes = ("changes.csv", CHANGES.encode(), "text/csv")
    refused = client.post("/hierarchy/changes?lang=en", data={"csrf_token": token}, files={
        "file": changes, "boundaries": ("parts.geojson", geojson(
            {VILLAGE: west, NEW: east, "130123102231": east}).encode(),
            "application/geo+json")})
    assert refused.status_code == 422
    rows = re.findall(r'<tr data-testid="change-problem"><td>([^<]*)</td><td>(\d*)</td>',
                      refused.text)
    assert rows == [("parts.geojson", "3")]
    assert "130123102231 is no part of a split in the change file" in refused.text
    applied = client.post("/hierarchy/changes", data={"csrf_token": token}, files={
        "file": changes, "boundaries": ("parts.geojson", geojson(
            {VILLAGE: west, NEW: east}).encode(), "application/geo+json")},
        follow_redirects=True)
    assert applied.status_code == 200, applied.text
    assert applied.text.count("<tr><td>") == 1


def test_the_split_command_takes_the_parts_boundaries(demo_settings: Settings,
                                                      tmp_path: Path) -> None:
    west, east = halves(demo_settings)
    (tmp_path / "parts.geojson").write_text(geojson({VILLAGE: west, NEW: east}),
                                            encoding="utf-8")
    result = runner.invoke(app, [
        "hierarchy", "change", "split", VILLAGE, "--on", ON.isoformat(),
        "--part", f"{VILLAGE}:东权城村委会", "--part", f"{NEW}:东权城新村村委会",
        "--boundaries", str(tmp_path / "parts.geojson"),
        "--data-dir", str(demo_settings.data_dir)])
    assert result.exit_code == 0, result.output
    _, _, _, shares = state(demo_settings)
    assert abs(shares[NEW] - east.area / (west.area + east.area)) < 1e-9
    # without boundaries a part still needs its share
    refused = runner.invoke(app, [
        "hierarchy", "change", "split", NEW, "--on", "2024-06-01",
        "--part", f"{NEW}:东权城新村村委会", "--part", "130123102231:又一村",
        "--data-dir", str(demo_settings.data_dir)])
    assert refused.exit_code != 0
    assert "is not CODE:NAME:SHARE" in refused.output
