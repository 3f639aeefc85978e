"""Imports and exports that cannot hurt: formulas stay text, crafted files are refused
quickly with the file named, and values the database cannot keep are problems."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import ValidationError
from shequ.ingest.formats import (
    XlsxLimits,
    binary_kind,
    neutralise,
    read_rows,
    restore,
    write_rows,
)
from shequ.ingest.tables import export_file, import_file
from shequ.registry.models import Facility
from shequ.registry.rules import COLUMNS, Table

from .test_import_export import CATALOG, FACILITY_HEADER, GOOD_FACILITIES, loaded, write

__all__ = ["loaded"]  # the fixture, shared with the import/export tests

FORMULA_LIKE = ["=1+1", "+86 311 8888", "-负责人", "@SUM(A1)", "\tindented", "\rreturn",
                "'=already quoted", "''+twice", "'plain quote", "plain", "甲社区 = 乙"]


@pytest.mark.parametrize("value", FORMULA_LIKE)
def test_neutralising_is_undone_exactly_by_restoring(value: str) -> None:
    written = neutralise(value)
    assert restore(written) == value
    # only what a spreadsheet would run gets the quote
    assert (written != value) == (value.lstrip("'")[:1] in ("=", "+", "-", "@", "\t", "\r"))


@given(st.text(alphabet=st.sampled_from("'=+-@\t\rab甲 "), max_size=8))
def test_any_text_comes_back_from_a_csv_cell_unchanged(value: str) -> None:
    written = neutralise(value)
    assert restore(written) == value
    assert not written.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_numbers_are_never_neutralised() -> None:
    assert neutralise(-3.5) == -3.5 and neutralise(-12) == -12


def test_a_csv_export_quotes_formulas_and_reads_them_back(tmp_path: Path) -> None:
    names = [c.name for c in COLUMNS[Table.DIVISIONS]]
    row = dict.fromkeys(names)
    row |= {"code": "130123001001", "name": "=HYPERLINK(\"http://x\")", "kind": "-x",
            "longitude": -3.5, "latitude": 38.5, "source": "@cmd"}
    path = tmp_path / "d.csv"
    assert write_rows(path, "divisions", names, [row]) == 1
    text = path.read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and ",'-x," in text and ",'@cmd" in text
    assert ",-3.5,38.5," in text  # the negative number column stays numeric
    header, rows = read_rows(path, Table.DIVISIONS)
    assert header == names
    (read,) = rows
    assert (read.values["name"], read.values["kind"], read.values["source"],
            read.values["longitude"]) == ("=HYPERLINK(\"http://x\")", "-x", "@cmd", "-3.5")


def test_an_xlsx_export_writes_formulas_as_text_cells(tmp_path: Path) -> None:
    names = ["external_id", "name", "floor_area_m2"]
    path = tmp_path / "f.xlsx"
    write_rows(path, "facilities", names,
               [{"external_id": "f1", "name": "=1+1", "floor_area_m2": -2.0}])
    with zipfile.ZipFile(path) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml  # no formula element anywhere
    cell = load_workbook(path)["facilities"]["B2"]
    assert (cell.value, cell.data_type) == ("=1+1", "s")
    assert load_workbook(path)["facilities"]["C2"].value == -2.0
    _, rows = read_rows(path, Table.FACILITIES)
    assert rows[0].values["name"] == "=1+1"  # no quote to take off in XLSX


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "geojson"])
def test_formula_like_names_survive_export_and_import(loaded: sessionmaker[Session],
                                                      tmp_path: Path, suffix: str) -> None:
    with loaded() as session, session.begin():
        for external_id, name in zip(("f1", "f2", "f3"), ("=1+1", "-长者食堂", "'@x"),
                                     strict=True):
            session.scalars(select(Facility).where(Facility.external_id == external_id)
                            ).one().name = name
    path = tmp_path / f"facilities.{suffix}"
    with loaded() as session:
        assert export_file(session, Table.FACILITIES, path) == 3
    with loaded() as session, session.begin():
        for facility in session.scalars(select(Facility)):
            facility.name = "changed"
    with loaded() as session, session.begin():
        report = import_file(session, CATALOG, path, Table.FACILITIES)
    assert (report.inserted, report.updated) == (0, 3)
    with loaded() as session:
        names = session.scalars(select(Facility.name).order_by(Facility.external_id)).all()
    assert names == ["=1+1", "-长者食堂", "'@x"]


def crafted_xlsx(path: Path, *, dimension: str, rows: str) -> Path:
    """A minimal workbook whose only sheet declares ``dimension`` and holds ``rows``."""
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="rels" ContentType="applica'
            'tion/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" Content'
            'Type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+'
            'xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.open'
            'xmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http:'
            '//schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"'
            ' Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxml'
            'formats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org'
            '/officeDocument/2006/relationships"><sheets><sheet name="facilities" sheetId="1"'
            ' r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.open'
            'xmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http:'
            '//schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>'),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxml'
            f'formats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/>'
            f'<sheetData>{rows}</sheetData></worksheet>'),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def inline_row(number: int, *cells: tuple[str, str]) -> str:
    return f'<row r="{number}">' + "".join(
        f'<c r="{ref}{number}" t="inlineStr"><is><t>{text}</t></is></c>' for ref, text in cells
    ) + "</row>"


def test_an_xlsx_declaring_a_huge_sheet_is_refused_in_under_a_second(tmp_path: Path) -> None:
    path = crafted_xlsx(tmp_path / "huge.xlsx", dimension="A1:XFD10000",
                        rows=inline_row(1, ("A", "external_id")))
    assert path.stat().st_size < 2000
    started = time.process_time()
    with pytest.raises(ValidationError) as caught:
        read_rows(path, Table.FACILITIES)
    assert time.process_time() - started < 1.0
    (problem,) = caught.value.problems
    assert problem.source == str(path)
    assert "declares 10000 rows × 16384 columns (up to column XFD)" in problem.reason
    assert problem.hint is not None and "CSV" in problem.hint


def test_an_xlsx_is_read_by_its_real_rows_when_its_declared_size_is_small(
        tmp_path: Path) -> None:
    # A wrong but small dimension: the rows the sheet really has are read, not padded.
    path = crafted_xlsx(tmp_path / "real.xlsx", dimension="A1:B2", rows=(
        inline_row(1, ("A", "external_id"), ("B", "name"))
        + inline_row(2, ("A", "f1"), ("B", "甲")) + inline_row(3, ("A", "f2"), ("C", "x"))))
    header, rows = read_rows(path, Table.FACILITIES)
    assert header == ["external_id", "name"]
    assert [(r.number, r.values) for r in rows] == [
        (2, {"external_id": "f1", "name": "甲"}), (3, {"external_id": "f2", "name": ""})]


@pytest.mark.parametrize(("limits", "reason", "row", "column"), [
    (XlsxLimits(rows=2), "has more than 2 rows", 3, None),
    (XlsxLimits(columns=2), "row 3 reaches column C; at most 2 columns are read", 3, "C"),
    (XlsxLimits(seconds=-1.0), "took more than -1 s to read (stopped at row 1)", 1, None),
    (XlsxLimits(unpacked_bytes=100), "more than the 0 MiB read", None, None),
])
def test_real_rows_columns_size_and_time_are_capped(tmp_path: Path, limits: XlsxLimits,
                                                    reason: str, row: int | None,
                                                    column: str | None) -> None:
    path = crafted_xlsx(tmp_path / "capped.xlsx", dimension="A1", rows=(
        inline_row(1, ("A", "external_id")) + inline_row(2, ("A", "f1"))
        + inline_row(3, ("C", "x"))))
    with pytest.raises(ValidationError) as caught:
        read_rows(path, Table.FACILITIES, limits=limits)
    (problem,) = caught.value.problems
    assert reason in problem.reason
    assert (problem.source, problem.row, problem.column) == (str(path), row, column)


def test_a_geojson_nested_100000_deep_is_a_problem_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.geojson"
    path.write_text('{"type": "FeatureCollection", "features": ' + "[" * 100_000
                    + "]" * 100_000 + "}", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        read_rows(path, Table.FACILITIES)
    (problem,) = caught.value.problems
    assert (problem.source, problem.reason) == (str(path), "is nested too deeply to read")


def test_text_longer_than_its_column_nul_and_lone_surrogates_are_problems(
        loaded: sessionmaker[Session], tmp_path: Path) -> None:
    long_name = GOOD_FACILITIES[0].replace("甲社区党群服务中心", "长" * 70_000)
    with_nul = GOOD_FACILITIES[1].replace("甲社区日间照料中心", "日间\x00照料")
    path = write(tmp_path / "bad.csv", FACILITY_HEADER + f"{long_name}\n{with_nul}\n"
                 + GOOD_FACILITIES[2].replace("f3", "f4") + "\n")
    with loaded() as session, pytest.raises(ValidationError) as caught:
        import_file(session, CATALOG, path, Table.FACILITIES)
    assert [(p.row, p.column, p.reason) for p in caught.value.problems] == [
        (2, "name", "is 70000 characters long; the registry keeps at most 200"),
        (3, "name", "contains a NUL character at position 3")]
    assert all(p.source == str(path) and p.hint for p in caught.value.problems)
    geojson = tmp_path / "surrogate.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None, "properties": {
            "external_id": "f9", "type_code": "village_clinic", "division_code":
            "130123001201", "name": "乙\ud800"}}]}), encoding="utf-8")
    with loaded() as session, pytest.raises(ValidationError) as caught:
        import_file(session, CATALOG, geojson, Table.FACILITIES)
    (problem,) = caught.value.problems
    assert (problem.source, problem.row, problem.column, problem.reason) == (
        str(geojson), 1, "name", "contains a lone surrogate U+D800 at position 2")
    with loaded() as session:
        assert session.scalar(select(func.count()).select_from(Facility)) == 3


@pytest.mark.parametrize(("data", "code"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "upkeep.not_a_csv_table.image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "upkeep.not_a_csv_table.image"),
    (b"%PDF-1.7\n", "upkeep.not_a_csv_table.pdf"),
    (b"PK\x03\x04\x14\x00\x06\x00", "upkeep.not_a_csv_table.zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "upkeep.not_a_csv_table.ole"),
    (b"\x1f\x8b\x08\x00", "upkeep.not_a_csv_table.archive"),
    (b"external_id\x00\x00\x00\x01\x02name", "upkeep.not_a_csv_table.binary"),
    # UTF-16 is text in an encoding the import does not read: told as such
    ("external_id,name\n".encode("utf-16"), "upkeep.unknown_encoding"),
])
def test_a_file_that_is_not_a_text_table_is_refused_naming_the_file(
        tmp_path: Path, data: bytes, code: str) -> None:
    path = tmp_path / "设施.csv"
    path.write_bytes(data)
    with pytest.raises(ValidationError) as caught:
        read_rows(path, Table.FACILITIES)
    (problem,) = caught.value.problems
    assert (problem.source, problem.row, problem.column, problem.code) == (
        str(path), None, None, code)
    assert problem.params == {"file": "设施.csv"}
    assert problem.hint == ("save it as CSV UTF-8 or XLSX" if code.endswith("encoding")
                            else "open the table in a spreadsheet and save it as CSV UTF-8 "
                                 "or XLSX")


def test_text_tables_are_not_taken_for_binary() -> None:
    assert binary_kind(b"") is None
    assert binary_kind("external_id,name\nf1,甲社区党群服务中心\n".encode("gb18030")) is None
    assert binary_kind("\ufeffexternal_id,name\n".encode("utf-8")) is None
    # one stray NUL in a cell of a 120-byte table: the column rules name its row
    assert binary_kind(b"external_id,name\n" + b"f1,a\x00b\n" + b"f2,x\n" * 20) is None
