"""Import validates every row before writing; export round-trips without loss."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.catalog import load_catalog
from shequ.context import Context
from shequ.errors import ValidationError
from shequ.ingest.coordinates import gcj02_to_wgs84, wgs84_to_gcj02
from shequ.ingest.tables import export_file, import_file
from shequ.registry.models import Division, Facility, Population
from shequ.registry.rules import COLUMNS, Table
from shequ.settings import Settings

CATALOG = load_catalog()

DIVISIONS = """code,name,kind,parent_code,urban_rural,valid_from,longitude,latitude
130000000000,河北省,province,,,2020-01-01,114.5,38.0
130100000000,石家庄市,prefecture_city,130000000000,,2020-01-01,,
130123000000,正定县,county,130100000000,,2020-01-01,114.57,38.14
130123001000,诸福屯街道办事处,street,130123000000,,2020-01-01,,
130123001001,甲社区居委会,residents_committee,130123001000,111,2020-01-01,114.58,38.15
130123001201,乙村委会,villagers_committee,130123001000,220,2020-01-01,114.60,38.16
"""

FACILITY_HEADER = ("external_id,type_code,division_code,name,longitude,latitude,"
                   "floor_area_m2,activity_area_m2,opening_hours,status\n")
GOOD_FACILITIES = [
    "f1,comprehensive_service_facility,130123001001,甲社区党群服务中心,114.581,38.151,600,400,"
    "Mo-Fr 08:30-17:30,in_service",
    "f2,elderly_day_care,130123001001,甲社区日间照料中心,114.582,38.152,400,300,"
    "Mo-Sa 08:00-17:30,in_service",
    "f3,village_clinic,130123001201,乙村卫生室,114.601,38.161,80,,24/7,in_service",
]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def loaded(sessions: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    with sessions() as session, session.begin():
        import_file(session, CATALOG, write(tmp_path / "d.csv", DIVISIONS), Table.DIVISIONS)
        import_file(session, CATALOG, write(tmp_path / "f.csv", FACILITY_HEADER
                                            + "\n".join(GOOD_FACILITIES) + "\n"),
                    Table.FACILITIES)
    return sessions


def snapshot(session: Session) -> list[tuple[object, ...]]:
    rows = session.execute(select(Facility.external_id, Facility.name, Facility.floor_area_m2,
                                  Facility.opening_hours).order_by(Facility.external_id))
    return [tuple(r) for r in rows]


def test_a_clean_file_is_imported_with_its_values(loaded: sessionmaker[Session]) -> None:
    with loaded() as session:
        assert session.scalar(select(func.count()).select_from(Division)) == 6
        f2 = session.scalars(select(Facility).where(Facility.external_id == "f2")).one()
        assert (f2.type_code, f2.division_code, f2.floor_area_m2, f2.activity_area_m2) == (
            "elderly_day_care", "130123001001", 400.0, 300.0)
        village = session.scalars(select(Division).where(
            Division.code == "130123001201")).one()
        assert (village.level, village.parent_code, village.urban_rural) == (
            5, "130123001000", "220")


@pytest.mark.parametrize(("bad_row", "column", "reason"), [
    ("f9,elderly_day_care,130123001001,坏行,114.58,38.15,-5,,24/7,in_service",
     "floor_area_m2", "negative"),
    ("f9,elderly_day_care,130123999001,坏行,114.58,38.15,100,,24/7,in_service",
     "division_code", "no division 130123999001"),
    ("f9,elderly_day_care,130123001001,坏行,38.15,114.58,100,,24/7,in_service",
     "longitude", "outside province 13"),
    ("f9,elderly_day_care,130123001001,坏行,114.58,38.15,100,,Mo-Fx 25:00,in_service",
     "opening_hours", "opening_hours syntax"),
    ("f9,swimming_pool,130123001001,坏行,114.58,38.15,100,,24/7,in_service",
     "type_code", "unknown facility type"),
    ("f9,elderly_day_care,130123001001,坏行,114.58,38.15,100,200,24/7,in_service",
     "activity_area_m2", "exceeds the floor area"),
    ("f9,elderly_day_care,130123001001,坏行,114.58,38.15,100,,24/7,opened",
     "status", "not one of"),
])
def test_one_bad_row_among_good_ones_is_named_and_nothing_is_written(
        loaded: sessionmaker[Session], tmp_path: Path, bad_row: str, column: str,
        reason: str) -> None:
    new_good = ("f4,nursery,130123001001,甲社区托育园,114.583,38.153,500,,"
                "Mo-Fr 07:30-18:00,in_service")
    changed_good = GOOD_FACILITIES[0].replace("600,400", "650,420")
    path = write(tmp_path / "bad.csv", FACILITY_HEADER + "\n".join(
        [changed_good, new_good, bad_row, GOOD_FACILITIES[2]]) + "\n")
    with loaded() as session:
        before = snapshot(session)
    with loaded() as session, session.begin(), pytest.raises(ValidationError) as caught:
        import_file(session, CATALOG, path, Table.FACILITIES)
    problems = caught.value.problems
    assert [(p.row, p.column) for p in problems] == [(4, column)]
    assert reason in problems[0].reason
    assert "bad.csv" in str(caught.value) and "row 4" in str(caught.value)
    assert "nothing was written" in str(caught.value)
    with loaded() as session:
        assert snapshot(session) == before


def test_an_unknown_facility_type_names_where_the_types_are_listed(
        loaded: sessionmaker[Session], tmp_path: Path, settings: Settings) -> None:
    from fastapi.testclient import TestClient

    import shequ.catalog
    from shequ.app import create_app

    path = write(tmp_path / "pool.csv", FACILITY_HEADER
                 + "f9,swimming_pool,130123001001,泳池,114.58,38.15,100,,24/7,in_service\n")
    with loaded() as session, pytest.raises(ValidationError) as caught:
        import_file(session, CATALOG, path, Table.FACILITIES)
    hint = caught.value.problems[0].hint or ""
    # both places the hint names exist: the packaged catalog file and the API listing
    assert "facility_types.toml" in hint
    assert (Path(shequ.catalog.__file__).parent / "facility_types.toml").is_file()
    assert "GET /api/v1/facility-types" in hint
    ctx = Context.open(settings)
    try:
        with TestClient(create_app(ctx)) as client:
            listed = client.get("/api/v1/facility-types")
    finally:
        ctx.close()
    assert listed.status_code == 200
    assert {"elderly_day_care", "nursery"} <= {t["code"] for t in listed.json()}
    assert "swimming_pool" not in {t["code"] for t in listed.json()}


def test_every_bad_row_is_reported_not_just_the_first(loaded: sessionmaker[Session],
                                                      tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", FACILITY_HEADER
                 + "x1,nursery,130123001001,,114.58,38.15,abc,,24/7,in_service\n"
                 + "x1,nursery,130123001001,托育,114.58,38.15,10,,24/7,in_service\n")
    with loaded() as session, pytest.raises(ValidationError) as caught:
        import_file(session, CATALOG, path, Table.FACILITIES)
    found = {(p.row, p.column) for p in caught.value.problems}
    assert found == {(2, "name"), (2, "floor_area_m2"), (3, "external_id")}


def test_missing_and_unknown_columns_are_named(loaded: sessionmaker[Session],
                                               tmp_path: Path) -> None:
    path = write(tmp_path / "cols.csv", "external_id,name,colour\nx,y,red\n")
    with loaded() as session, pytest.raises(ValidationError) as caught:
        import_file(session, CATALOG, path, Table.FACILITIES)
    text = str(caught.value)
    assert "missing required column(s) type_code, division_code" in text
    assert "unknown column(s) colour" in text


def test_a_division_with_an_unknown_parent_is_rejected(sessions: sessionmaker[Session],
                                                       tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "code,name,kind\n130123001001,甲社区,residents_committee\n")
    with sessions() as session, pytest.raises(ValidationError) as caught:
        import_file(session, CATALOG, path, Table.DIVISIONS)
    (problem,) = caught.value.problems
    assert (problem.row, problem.column) == (2, "parent_code")
    assert "unknown parent 130123001000" in problem.reason


def test_population_larger_parts_than_whole_are_rejected(loaded: sessionmaker[Session],
                                                         tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "division_code,period,residents,households,age_60_plus,"
                 "age_80_plus\n130123001001,2024,1000,380,200,250\n"
                 "130123001201,2024,500,190,600,10\n")
    with loaded() as session, pytest.raises(ValidationError) as caught:
        import_file(session, CATALOG, path, Table.POPULATION)
    assert {(p.row, p.column) for p in caught.value.problems} == {
        (2, "age_80_plus"), (3, "age_60_plus")}


def test_gcj02_coordinates_are_converted_to_wgs84(loaded: sessionmaker[Session],
                                                  tmp_path: Path) -> None:
    wgs = (114.581, 38.151)
    gcj = wgs84_to_gcj02(*wgs)
    # The offset is a few hundred metres in Hebei; the conversion undoes it.
    assert 0.001 < abs(gcj[0] - wgs[0]) < 0.01
    path = write(tmp_path / "g.csv", FACILITY_HEADER
                 + f"g1,nursery,130123001001,托育,{gcj[0]},{gcj[1]},100,,24/7,in_service\n")
    with loaded() as session, session.begin():
        import_file(session, CATALOG, path, Table.FACILITIES, crs="gcj02")
    with loaded() as session:
        g1 = session.scalars(select(Facility).where(Facility.external_id == "g1")).one()
        assert g1.longitude == pytest.approx(wgs[0], abs=1e-6)
        assert g1.latitude == pytest.approx(wgs[1], abs=1e-6)


def test_gcj02_round_trip_is_exact_to_a_millimetre() -> None:
    for lon, lat in [(116.397, 39.909), (121.47, 31.23), (87.6, 43.8), (2.35, 48.85)]:
        back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
        assert back == pytest.approx((lon, lat), abs=1e-8)


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "geojson"])
def test_export_then_import_into_an_empty_registry_loses_nothing(
        demo_settings: Settings, tmp_path: Path, sqlite_url: str, suffix: str) -> None:
    source = Context.open(demo_settings)
    target = Context.open(Settings(data_dir=tmp_path / "t", database_url=sqlite_url))
    first: dict[Table, Path] = {}
    with source.sessions() as session:
        for table in Table:
            first[table] = tmp_path / f"{table.value}.{suffix}"
            export_file(session, table, first[table])
    with target.sessions() as session, session.begin():
        for table in Table:
            import_file(session, CATALOG, first[table], table, as_of=None)
    with target.sessions() as session:
        for table in Table:
            again = tmp_path / f"again-{table.value}.{suffix}"
            export_file(session, table, again)
            if suffix == "xlsx":
                from openpyxl import load_workbook

                def cells(path: Path) -> list[tuple[object, ...]]:
                    book = load_workbook(path, read_only=True)
                    values = list(book.worksheets[0].iter_rows(values_only=True))
                    book.close()
                    return values

                assert cells(again) == cells(first[table])
            else:
                assert again.read_bytes() == first[table].read_bytes()
    with source.sessions() as a, target.sessions() as b:
        assert a.scalar(select(func.sum(Population.residents))) == \
            b.scalar(select(func.sum(Population.residents)))
    source.close()
    target.close()


def test_export_columns_are_the_import_columns(demo_settings: Settings, tmp_path: Path
                                               ) -> None:
    ctx = Context.open(demo_settings)
    with ctx.sessions() as session:
        export_file(session, Table.FACILITIES, tmp_path / "f.csv")
        export_file(session, Table.DIVISIONS, tmp_path / "d.geojson")
    with (tmp_path / "f.csv").open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == [c.name for c in COLUMNS[Table.FACILITIES]]
    document = json.loads((tmp_path / "d.geojson").read_text(encoding="utf-8"))
    assert document["type"] == "FeatureCollection"
    county = next(f for f in document["features"]
                  if f["properties"]["code"] == "130123000000")
    assert county["properties"]["name"] == "正定县"
    ctx.close()


def test_re_importing_an_export_updates_facilities_that_had_no_external_id(
        loaded: sessionmaker[Session], tmp_path: Path) -> None:
    with loaded() as session, session.begin():
        keyless = Facility(type_code="library_branch", division_code="130123001201",
                           name="乙村农家书屋", floor_area_m2=40.0, source="test")
        session.add(keyless)
        session.flush()
        keyless_id = keyless.id
    out = tmp_path / "facilities.csv"
    with loaded() as session:
        export_file(session, Table.FACILITIES, out)
    text = out.read_text(encoding="utf-8")
    assert f"shequ-{keyless_id}," in text
    write(out, text.replace("乙村农家书屋", "乙村书屋"))
    with loaded() as session, session.begin():
        report = import_file(session, CATALOG, out, Table.FACILITIES)
    assert (report.inserted, report.updated) == (0, 4)
    with loaded() as session:
        assert session.scalar(select(func.count()).select_from(Facility)) == 4
        again = session.get(Facility, keyless_id)
        assert again is not None
        assert (again.name, again.external_id) == ("乙村书屋", f"shequ-{keyless_id}")


def test_more_households_than_residents_are_rejected(loaded: sessionmaker[Session],
                                                     tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "division_code,period,residents,households\n"
                 "130123001001,2024,300,301\n")
    with loaded() as session, pytest.raises(ValidationError) as caught:
        import_file(session, CATALOG, path, Table.POPULATION)
    (problem,) = caught.value.problems
    assert (problem.row, problem.column) == (2, "households")


def test_a_gbk_csv_from_a_spreadsheet_is_read(loaded: sessionmaker[Session],
                                              tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes((FACILITY_HEADER + GOOD_FACILITIES[0].replace("600", "650") + "\n")
                     .encode("gbk"))
    with loaded() as session, session.begin():
        report = import_file(session, CATALOG, path, Table.FACILITIES)
    assert (report.inserted, report.updated) == (0, 1)
    with loaded() as session:
        f1 = session.scalars(select(Facility).where(Facility.external_id == "f1")).one()
        assert (f1.name, f1.floor_area_m2) == ("甲社区党群服务中心", 650.0)


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("broken.xlsx", b"PK\x03\x04 not really a workbook", "not a readable XLSX workbook"),
    ("latin.geojson", '{"type": "FeatureCollection", "features": []} é'.encode("latin-1"),
     "is not UTF-8 text"),
    ("odd.geojson", b'{"type": "FeatureCollection", "features": [1, 2]}',
     "is not a GeoJSON Feature with properties"),
    ("binary.csv", bytes([0x81, 0x30, 0x81]) + b"\xff\xfe\x00", "is not a CSV table: it is "
     "not text"),
    ("odd.csv", bytes([0x81, 0x30, 0x81]) + b"\xff\xfe", "neither UTF-8 nor GB18030"),
])
def test_unreadable_files_are_named_not_crashed_on(sessions: sessionmaker[Session],
                                                   tmp_path: Path, name: str, content: bytes,
                                                   reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with sessions() as session, pytest.raises(ValidationError) as caught:
        import_file(session, CATALOG, path, Table.FACILITIES)
    (problem,) = caught.value.problems
    assert reason in problem.reason and problem.source == str(path)
