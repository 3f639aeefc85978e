"""Keeping the registry current over HTTP: staff add and correct facilities and record a
year's population inside their jurisdiction, by the import's rules, audited, on both
back-ends; a refused change keeps what was stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.context import Context
from shequ.registry import queries
from shequ.registry.db import make_engine, session_factory
from shequ.registry.models import Facility, Population
from shequ.services.accounts import AuditLog

from .conftest import Seeded, seed, services_settings

Served = tuple[TestClient, Context, Seeded, Callable[[str], dict[str, str]]]


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[Served]:
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
    engine.dispose()
    from shequ.app import create_app

    def auth(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {seeded.tokens[username]}"}

    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with TestClient(create_app(ctx)) as client:
        yield client, ctx, seeded, auth
    ctx.close()


def test_a_worker_corrects_a_facility_of_the_community(served: Served) -> None:
    client, ctx, seeded, auth = served
    fid = seeded.facilities["多福巷社区综合服务站"]
    response = client.patch(f"/api/v1/facilities/{fid}", headers=auth("worker_dfx"),
                            json={"floor_area_m2": 420.5, "activity_area_m2": 300,
                                  "opening_hours": "Mo-Sa 08:00-18:00", "phone": None})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["floor_area_m2"], body["activity_area_m2"]) == (420.5, 300.0)
    assert body["opening_hours"] == "Mo-Sa 08:00-18:00"
    assert body["phone"] is None  # an explicit null clears the field
    assert body["name"] == "多福巷社区综合服务站"  # left out: kept
    with ctx.sessions() as session:
        stored = session.get(Facility, fid)
        assert stored is not None and stored.floor_area_m2 == 420.5
        entry = session.scalars(select(AuditLog).where(
            AuditLog.entity == "facility", AuditLog.entity_id == str(fid))).one()
        assert entry.username == "worker_dfx" and entry.action == "update"
        assert '"phone": ["010-65120000", ""]' in (entry.detail or "")


def test_a_bad_change_is_refused_whole_with_every_reason(served: Served) -> None:
    client, ctx, seeded, auth = served
    fid = seeded.facilities["多福巷社区综合服务站"]
    response = client.patch(f"/api/v1/facilities/{fid}", headers=auth("worker_dfx"),
                            json={"floor_area_m2": 100, "activity_area_m2": 150,
                                  "opening_hours": "weekdays nine to five",
                                  "longitude": 121.5, "latitude": 31.2,
                                  "name": "改名不应生效"})
    assert response.status_code == 422, response.text
    problems = {p["column"]: p["reason"] for p in response.json()["problems"]}
    assert set(problems) == {"activity_area_m2", "opening_hours", "longitude"}
    assert "exceeds the floor area 100" in problems["activity_area_m2"]
    assert "opening_hours syntax" in problems["opening_hours"]
    assert "outside province 11" in problems["longitude"]
    with ctx.sessions() as session:
        stored = session.get(Facility, fid)
        assert stored is not None
        assert (stored.name, stored.floor_area_m2) == ("多福巷社区综合服务站", None)
        assert session.scalars(select(AuditLog).where(AuditLog.entity == "facility")).all() == []


def test_jurisdiction_decides_who_may_edit(served: Served) -> None:
    client, _, seeded, auth = served
    fid = seeded.facilities["多福巷社区综合服务站"]  # in 110101001001
    change = {"capacity": 40}
    expected = {"worker_dfx": 200, "officer_dhm": 200, "planner_dc": 200, "admin": 200,
                "worker_yz": 403, "worker_xjmx": 403, "resident1": 403}
    for user, status in expected.items():
        got = client.patch(f"/api/v1/facilities/{fid}", headers=auth(user), json=change)
        assert got.status_code == status, (user, got.text)
    assert client.patch(f"/api/v1/facilities/{fid}", json=change).status_code == 401
    # Moving a facility needs the new division in the jurisdiction as well.
    moved = client.patch(f"/api/v1/facilities/{fid}", headers=auth("officer_dhm"),
                         json={"division_code": "110102001001"})
    assert moved.status_code == 403
    assert "110102001001 is outside" in moved.json()["detail"]


def test_a_worker_adds_a_facility_and_the_directory_lists_it(served: Served) -> None:
    client, _, _, auth = served
    response = client.post("/api/v1/facilities", headers=auth("worker_dfx"), json={
        "type_code": "community_canteen", "division_code": "110101001001",
        "name": "多福巷长者食堂", "longitude": 116.4057, "latitude": 39.9149,
        "floor_area_m2": 120, "activity_area_m2": 90, "capacity": 60,
        "opening_hours": "Mo-Su 10:30-13:00,16:30-18:30"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "in_service" and created["capacity"] == 60
    listed = client.get("/api/v1/facilities", params={"division": "110101001001"}).json()
    assert "多福巷长者食堂" in [f["name"] for f in listed]
    found = client.get("/hsds/services", params={"search": "长者食堂"}).json()
    assert [s["name"] for s in found["contents"]] == ["多福巷长者食堂"]
    outside = client.post("/api/v1/facilities", headers=auth("worker_dfx"), json={
        "type_code": "community_canteen", "division_code": "110102001001", "name": "越界"})
    assert outside.status_code == 403
    unknown = client.post("/api/v1/facilities", headers=auth("worker_dfx"), json={
        "type_code": "space_station", "division_code": "110101001001", "name": "太空站"})
    assert unknown.status_code == 422
    assert unknown.json()["problems"][0]["column"] == "type_code"


def test_population_is_recorded_once_and_corrected(served: Served) -> None:
    client, ctx, _, auth = served
    url = "/api/v1/divisions/110101001001/population/2025"
    first = client.put(url, headers=auth("worker_dfx"), json={
        "residents": 5200, "households": 2100, "age_60_plus": 1300, "age_80_plus": 210})
    assert first.status_code == 200, first.text
    assert first.json()["age_0_2"] == 0  # not given for a new year: zero
    corrected = client.put(url, headers=auth("worker_dfx"),
                           json={"residents": 5180, "households": 2095})
    assert corrected.status_code == 200
    assert (corrected.json()["residents"], corrected.json()["age_60_plus"]) == (5180, 1300)
    years = client.get("/api/v1/divisions/110101001001/population").json()
    assert [(y["period"], y["residents"]) for y in years] == [(2025, 5180)]
    bad = client.put(url, headers=auth("worker_dfx"), json={
        "residents": 1000, "households": 400})  # fewer than the 1,300 aged 60+ kept
    assert bad.status_code == 422
    assert bad.json()["problems"][0]["column"] == "age_60_plus"
    street = client.put("/api/v1/divisions/110101001000/population/2025",
                        headers=auth("officer_dhm"), json={"residents": 1, "households": 1})
    assert street.status_code == 422
    assert "recorded per community or village" in street.json()["problems"][0]["reason"]
    assert client.put("/api/v1/divisions/110102001001/population/2025",
                      headers=auth("worker_dfx"),
                      json={"residents": 1, "households": 1}).status_code == 403
    with ctx.sessions() as session:
        record = session.scalars(select(Population)).one()
        assert (record.residents, record.source, record.synthetic) == (
            5180, "edit: worker_dfx", False)
        assert len(session.scalars(select(AuditLog).where(
            AuditLog.entity == "population")).all()) == 2


def test_a_year_of_staffing_is_replaced_whole(served: Served) -> None:
    client, ctx, _, auth = served
    url = "/api/v1/divisions/110101001001/workforce/2025"
    first = client.put(url, headers=auth("worker_dfx"), json=[
        {"role": "community_worker", "headcount": 9},
        {"role": "community_worker", "certification": "social_worker", "headcount": 3},
        {"role": "volunteer", "headcount": 0}])
    assert first.status_code == 200, first.text
    assert [(w["role"], w["certification"], w["headcount"]) for w in first.json()] == [
        ("community_worker", "none", 9), ("community_worker", "social_worker", 3)]
    second = client.put(url, headers=auth("worker_dfx"), json=[
        {"role": "community_worker", "headcount": 10}])
    assert second.status_code == 200
    listed = client.get("/api/v1/divisions/110101001001/workforce").json()
    assert [(w["period"], w["certification"], w["headcount"]) for w in listed] == [
        (2025, "none", 10)]
    twice = client.put(url, headers=auth("worker_dfx"), json=[
        {"role": "volunteer", "headcount": 5}, {"role": "volunteer", "headcount": 6}])
    assert twice.status_code == 422
    assert twice.json()["problems"][0] == {
        "source": "body", "row": 2, "column": "role",
        "reason": "role volunteer with certification none is given twice",
        "hint": "give each role and certification once", "code": "upkeep.line_twice",
        "detail": "The same role and certificate are given twice"}
    assert client.put(url, headers=auth("worker_xjmx"), json=[]).status_code == 403
    with ctx.sessions() as session:
        entries = session.scalars(select(AuditLog).where(
            AuditLog.entity == "workforce").order_by(AuditLog.id)).all()
        assert [e.entity_id for e in entries] == ["110101001001/2025"] * 2
        assert '"before": {"community_worker/none": 9' in (entries[1].detail or "")


FACILITY_CSV = ("external_id,type_code,division_code,name,longitude,latitude,floor_area_m2\n"
                "dfx-canteen,community_canteen,110101001001,多福巷助餐点,116.4061,39.9151,90\n"
                "yz-fitness,outdoor_fitness_area,110101001002,银闸健身场地,116.4105,39.9225,\n")


def _upload(client: TestClient, headers: dict[str, str], table: str, name: str,
            text: str) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/api/v1/imports/{table}", headers=headers,
        files={"file": (name, text.encode("utf-8"), "text/csv")})
    return response


def test_an_officer_uploads_a_file_of_the_street(served: Served) -> None:
    client, ctx, _, auth = served
    response = _upload(client, auth("officer_dhm"), "facilities", "东华门 设施.csv",
                       FACILITY_CSV)
    assert response.status_code == 201, response.text
    assert response.json() == {"table": "facilities", "rows": 2, "inserted": 2,
                               "updated": 0, "versioned": 0}
    again = _upload(client, auth("officer_dhm"), "facilities", "东华门 设施.csv",
                    FACILITY_CSV.replace(",90\n", ",95\n"))
    assert (again.json()["inserted"], again.json()["updated"]) == (0, 2)
    with ctx.sessions() as session:
        canteen = session.scalars(select(Facility).where(
            Facility.external_id == "dfx-canteen")).one()
        assert (canteen.floor_area_m2, canteen.source) == (
            95.0, "upload: 东华门_设施.csv by officer_dhm")
        entries = session.scalars(select(AuditLog).where(AuditLog.action == "import")).all()
        assert [e.entity_id for e in entries] == ["东华门_设施.csv"] * 2


def test_an_upload_reaching_outside_the_jurisdiction_writes_nothing(served: Served) -> None:
    client, ctx, _, auth = served
    refused = _upload(client, auth("worker_dfx"), "facilities", "f.csv", FACILITY_CSV)
    assert refused.status_code == 403
    assert "110101001002 (row 3)" in refused.json()["detail"]
    bad = _upload(client, auth("officer_dhm"), "facilities", "f.csv",
                  FACILITY_CSV.replace(",90\n", ",-5\n"))
    assert bad.status_code == 422
    (problem,) = bad.json()["problems"]
    assert (problem["source"], problem["row"], problem["column"]) == (
        "f.csv", 2, "floor_area_m2")
    empty = _upload(client, auth("officer_dhm"), "facilities", "empty.csv", "")
    assert empty.json()["problems"][0]["reason"] == "the file is empty"
    text = _upload(client, auth("officer_dhm"), "facilities", "notes.txt", FACILITY_CSV)
    assert text.status_code == 422 and "unknown file type '.txt'" in text.text
    hierarchy = _upload(client, auth("planner_bj"), "divisions", "d.csv",
                        "code,name,kind\n110101001003,新社区,residents_committee\n")
    assert hierarchy.status_code == 403  # the hierarchy is for nationwide roles
    with ctx.sessions() as session:
        assert session.scalars(select(Facility).where(
            Facility.external_id.is_not(None))).all() == []


def test_fields_the_registry_needs_cannot_be_emptied(served: Served) -> None:
    client, _, seeded, auth = served
    fid = seeded.facilities["多福巷社区综合服务站"]
    response = client.patch(f"/api/v1/facilities/{fid}", headers=auth("worker_dfx"),
                            json={"status": None, "space_for_services": None, "name": None,
                                  "external_id": None})
    assert response.status_code == 422, response.text
    assert sorted(p["column"] for p in response.json()["problems"]) == [
        "name", "space_for_services", "status"]
    assert all(p["reason"] == "cannot be emptied" for p in response.json()["problems"])


def test_completeness_puts_the_community_with_most_gaps_first(served: Served) -> None:
    client, _, seeded, auth = served
    url = "/api/v1/divisions/110101000000/completeness"
    before = client.get(url).json()
    # No population or workforce anywhere (two gaps each); 多福巷's two facilities and
    # the others' one each lack a floor area; the planned nursery does not count.
    assert [(c["code"], c["facilities"], c["gaps"]) for c in before] == [
        ("110101001001", 2, 4), ("110101001002", 1, 3), ("110101002001", 1, 3)]
    headers = auth("worker_dfx")
    for name in ("多福巷社区综合服务站", "多福巷老年人日间照料中心"):
        assert client.patch(f"/api/v1/facilities/{seeded.facilities[name]}", headers=headers,
                            json={"floor_area_m2": 300}).status_code == 200
    year = queries.today().year  # the latest figures count as current
    assert client.put(f"/api/v1/divisions/110101001001/population/{year}", headers=headers,
                      json={"residents": 5200, "households": 2100}).status_code == 200
    after = {c["code"]: c for c in client.get(url).json()}
    assert after["110101001001"]["gaps"] == 1  # the workforce is still missing
    assert (after["110101001001"]["population_year"],
            after["110101001001"]["workforce_year"]) == (year, None)
    assert client.get(url).json()[0]["code"] == "110101001002"
    # A fitness area has no floor area to record: adding one (with its hours) adds no gap.
    assert client.post("/api/v1/facilities", headers=headers, json={
        "type_code": "outdoor_fitness_area", "division_code": "110101001001",
        "name": "多福巷健身点", "longitude": 116.4058, "latitude": 39.9150,
        "opening_hours": "24/7"}).status_code == 201
    again = {c["code"]: c for c in client.get(url).json()}["110101001001"]
    assert (again["facilities"], again["without_floor_area"], again["gaps"]) == (3, 0, 1)


def test_download_correct_and_upload_again(served: Served) -> None:
    client, ctx, seeded, auth = served
    csv_file = client.get("/api/v1/exports/facilities",
                          params={"division": "110101001001", "format": "csv"})
    assert csv_file.status_code == 200
    assert csv_file.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="facilities-110101001001.csv"' in csv_file.headers["content-disposition"]
    lines = csv_file.text.splitlines()
    assert len(lines) == 3  # the header and 多福巷's two facilities
    fid = seeded.facilities["多福巷社区综合服务站"]
    header = lines[0].split(",")
    row = next(line.split(",") for line in lines[1:] if line.startswith(f"shequ-{fid},"))
    row[header.index("floor_area_m2")] = "450"
    edited = "\n".join([lines[0], ",".join(row)]) + "\n"
    uploaded = _upload(client, auth("worker_dfx"), "facilities", "facilities.csv", edited)
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["inserted"], uploaded.json()["updated"]) == (0, 1)
    with ctx.sessions() as session:
        stored = session.get(Facility, fid)
        assert stored is not None and stored.floor_area_m2 == 450.0
        assert len(session.scalars(select(Facility).where(
            Facility.division_code == "110101001001")).all()) == 2
    xlsx = client.get("/api/v1/exports/population",
                      params={"division": "110101000000", "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"  # a zip: an XLSX book


def test_a_file_of_more_than_5000_rows_is_imported_as_a_job(served: Served) -> None:
    """5,001 facility rows: the upload answers 202 with a job at once; the job reads,
    checks and writes them (its report is its result) and the kept file is removed.  The
    page shows the same report once the job has ended; two rows stay synchronous."""
    import json
    import re

    from shequ.services.jobs.models import Job
    from shequ.services.jobs.service import wait
    from shequ.services.upkeep import IMPORT_FOLDER, IMPORT_JOB_ROWS

    from .conftest import PASSWORD

    client, ctx, _, auth = served
    assert IMPORT_JOB_ROWS == 5_000
    rows = "".join(f"bulk-{i},community_canteen,110101001001,助餐点 {i},116.4061,39.9151,"
                   f"{50 + i % 40}\n" for i in range(5_001))
    answer = _upload(client, auth("officer_dhm"), "facilities", "大批 设施.csv",
                     FACILITY_CSV.split("\n", 1)[0] + "\n" + rows)
    assert answer.status_code == 202, answer.text
    started = answer.json()
    assert started["kind"] == "registry.import" and started["division_code"] == "110101001000"
    assert started["status"] in ("queued", "running", "done")
    done = wait(ctx, started["id"], timeout=600)
    assert done.status == "done", done.problem
    assert json.loads(done.result or "{}") == {
        "table": "facilities", "rows": 5_001, "inserted": 5_001, "updated": 0,
        "versioned": 0, "filename": "大批 设施.csv"}
    assert list((ctx.settings.data_dir / IMPORT_FOLDER).iterdir()) == []
    with ctx.sessions() as session:
        bulk = session.scalars(select(Facility.floor_area_m2).where(
            Facility.external_id.startswith("bulk-"))).all()
        assert len(bulk) == 5_001
        assert sum(a or 0.0 for a in bulk) == sum(50 + i % 40 for i in range(5_001))
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "import")).one()
        assert (entry.username, entry.entity_id) == ("officer_dhm", "大批_设施.csv")
        assert session.get_one(Job, started["id"]).username == "officer_dhm"
    # the page that follows the job shows its report once it has ended
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    client.post("/login", data={"username": "officer_dhm", "password": PASSWORD,
                                "csrf_token": token.group(1)}, follow_redirects=False)
    page = client.get(f"/upkeep?job={started['id']}&lang=en")
    assert 'data-status="done"' in page.text
    report = re.search(r'data-testid="import-report">([^<]+)<', page.text)
    assert report is not None and "5,001" in report.group(1)
    assert f'href="/upkeep?job={started["id"]}"' in client.get("/jobs").text
    # 5,000 rows exactly are imported at once, in the request
    at_most = "".join(f"edge-{i},community_canteen,110101001001,助餐点 {i},116.4061,39.9151,"
                      "60\n" for i in range(5_000))
    edge = _upload(client, auth("officer_dhm"), "facilities", "edge.csv",
                   FACILITY_CSV.split("\n", 1)[0] + "\n" + at_most)
    assert edge.status_code == 201, edge.text
    assert edge.json() == {"table": "facilities", "rows": 5_000, "inserted": 5_000,
                           "updated": 0, "versioned": 0}


# What the upkeep page says of the large file's refused rows, read and checked by hand
# against the rows written wrong in the test below.
SHOWN_REFUSED_ROWS = {
    "en": ["row 12, Floor area: Floor area must not be negative, not “-5”",
           "row 2502, Facility type: There is no facility type “space_station”",
           "row 5002, Latitude: Latitude must be a number, not “north”",
           "row 5002, Latitude: Give longitude and latitude together"],
    "zh-CN": ["第 12 行，建筑面积：建筑面积不能为负数，收到“-5”",
              "第 2502 行，设施类型：没有“space_station”这种设施类型",
              "第 5002 行，纬度：纬度应为数字，收到“north”",
              "第 5002 行，纬度：经度和纬度要一起填写"],
}


def test_a_large_file_refused_for_its_rows_names_each_row_as_a_small_one(
        served: Served) -> None:
    """5,001 facility rows of which three are wrong: the job fails, writes nothing and
    keeps no file; its problem lists the three rows with their columns, and the page
    (zh-CN and en) and the API (by Accept-Language) say them as they say the same three
    rows of a file imported at once."""
    import re

    from shequ.services.jobs.service import wait
    from shequ.services.upkeep import IMPORT_FOLDER

    from .conftest import PASSWORD

    client, ctx, _, auth = served
    header = FACILITY_CSV.split("\n", 1)[0] + "\n"
    rows = [f"bulk-{i},community_canteen,110101001001,助餐点 {i},116.4061,39.9151,60\n"
            for i in range(5_001)]
    # data rows are counted from 2 (row 1 is the header)
    rows[10] = rows[10].replace(",60\n", ",-5\n")  # row 12: a negative floor area
    rows[2_500] = rows[2_500].replace("community_canteen", "space_station")  # row 2502
    rows[5_000] = rows[5_000].replace("39.9151", "north")  # row 5002: not a latitude
    answer = _upload(client, auth("officer_dhm"), "facilities", "大批 设施.csv",
                     header + "".join(rows))
    assert answer.status_code == 202, answer.text
    failed = wait(ctx, answer.json()["id"], timeout=600)
    assert failed.status == "failed"
    assert list((ctx.settings.data_dir / IMPORT_FOLDER).iterdir()) == []
    with ctx.sessions() as session:
        assert session.scalars(select(Facility).where(
            Facility.external_id.startswith("bulk-"))).all() == []
    # the same three rows in a file of four, imported at once: the reference report
    small = _upload(client, auth("officer_dhm"), "facilities", "大批 设施.csv",
                    header + rows[0] + rows[10] + rows[2_500] + rows[5_000])
    assert small.status_code == 422
    expected = [(p["row"], p["column"]) for p in small.json()["problems"]]
    # a latitude that is no number also leaves the point without its latitude: two
    assert expected == [(3, "floor_area_m2"), (4, "type_code"), (5, "latitude"),
                        (5, "latitude")]

    for lang in ("en", "zh-CN"):
        api = client.get(f"/api/v1/jobs/{failed.id}",
                         headers={**auth("officer_dhm"), "Accept-Language": lang})
        assert api.status_code == 200
        problems = api.json()["problem"]["problems"]
        assert [(p["source"], p["row"], p["column"]) for p in problems] == [
            ("大批_设施.csv", 12, "floor_area_m2"), ("大批_设施.csv", 2502, "type_code"),
            ("大批_设施.csv", 5002, "latitude"), ("大批_设施.csv", 5002, "latitude")]
        reference = _upload(client, {**auth("officer_dhm"), "Accept-Language": lang},
                            "facilities", "大批 设施.csv",
                            header + rows[0] + rows[10] + rows[2_500] + rows[5_000])
        assert [p["detail"] for p in problems] == [
            p["detail"] for p in reference.json()["problems"]]
        assert [p["code"] for p in problems] == [
            p["code"] for p in reference.json()["problems"]]
    english = client.get(f"/api/v1/jobs/{failed.id}", headers=auth("officer_dhm")).json()
    assert english["problem"]["problems"][0]["reason"] == "'-5' is negative"
    assert english["problem"]["problems"][1]["reason"].startswith(
        "unknown facility type 'space_station'")

    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    client.post("/login", data={"username": "officer_dhm", "password": PASSWORD,
                                "csrf_token": token.group(1)}, follow_redirects=False)

    def summary(url: str) -> list[str]:
        page = client.get(url)
        box = re.search(r'data-testid="error-summary">(.*?)</div>', page.text, re.S)
        assert box is not None, page.text
        return [re.sub(r"<[^>]+>", "", li).strip()
                for li in re.findall(r"<li>(.*?)</li>", box.group(1), re.S)]

    for lang in ("en", "zh-CN"):
        shown = summary(f"/upkeep?job={failed.id}&lang={lang}")
        assert len(shown) == 4
        page = client.get(f"/upkeep?job={failed.id}&lang={lang}").text
        assert 'data-status="failed"' in page and 'data-testid="import-failed"' in page
        signed = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert signed is not None
        # the same sentences as the page drawn after the same rows imported at once,
        # their row numbers those of the large file
        posted = client.post(
            f"/upkeep/import?lang={lang}",
            data={"csrf_token": signed.group(1), "table": "facilities", "crs": "wgs84",
                  "code": "110101001001"},
            files={"file": ("大批 设施.csv", (header + rows[0] + rows[10] + rows[2_500]
                                              + rows[5_000]).encode(), "text/csv")})
        assert posted.status_code == 422
        box = re.search(r'data-testid="error-summary">(.*?)</div>', posted.text, re.S)
        assert box is not None
        at_once = [re.sub(r"<[^>]+>", "", li).strip()
                   for li in re.findall(r"<li>(.*?)</li>", box.group(1), re.S)]
        assert [s.replace("12", "3", 1).replace("2502", "4", 1).replace("5002", "5", 1)
                for s in shown] == at_once
        assert shown == SHOWN_REFUSED_ROWS[lang]


# The first bytes of a real PNG (signature, IHDR of a 1×1 picture) and more binary after.
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
       b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00"
       b"\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def test_a_picture_named_csv_is_refused_as_not_a_table_and_nothing_is_written(
        served: Served) -> None:
    client, ctx, _, auth = served
    for lang, detail in (
            ("zh-CN", "“设施.csv”不是 CSV 表格，而是图片（PNG、JPEG 或 GIF）；"
                      "请用电子表格软件打开该表，另存为“CSV UTF-8”或 XLSX"),
            ("en", "“设施.csv” is not a CSV table: it is an image (PNG, JPEG or GIF); "
                   "open the table in a spreadsheet and save it as “CSV UTF-8” or XLSX")):
        refused = client.post("/api/v1/imports/facilities",
                              headers={**auth("officer_dhm"), "Accept-Language": lang},
                              files={"file": ("设施.csv", PNG, "text/csv")})
        assert refused.status_code == 422, refused.text
        (problem,) = refused.json()["problems"]
        assert (problem["source"], problem["row"], problem["column"], problem["code"]) == (
            "设施.csv", None, None, "upkeep.not_a_csv_table.image")
        assert problem["detail"] == detail
        assert "塒" not in refused.text and "unknown" not in refused.text.lower()
    with ctx.sessions() as session:
        assert session.scalars(select(Facility).where(
            Facility.external_id.is_not(None))).all() == []
