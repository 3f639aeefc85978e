"""The change file: the civil-affairs layout in Chinese or English, rows grouped into
merges and splits, every bad row named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook

from shequ.ingest.changes import parse_date, read_change_file
from shequ.registry.changes import NewUnit

CHINESE = """原代码,原名称,变更类型,新代码,新名称,日期,份额
130123102204,南王庄村委会,合并,130123102204,南王于家庄村委会,2024-01-01,
130123102205,于家庄村委会,合并,130123102204,南王于家庄村委会,2024/1/1,
130123102206,东权城村委会,拆分,130123102206,东权城村委会,2024年4月1日,55%
130123102206,东权城村委会,拆分,130123102230,东权城新村村委会,20240401,0.45
130123102207,西权城村委会,更名,130123102207,西权城社区村委会,2024-10-01,
"""


def test_a_chinese_file_gives_one_merge_one_split_and_one_rename(tmp_path: Path) -> None:
    path = tmp_path / "变更.csv"
    path.write_text(CHINESE, encoding="utf-8-sig")
    read = read_change_file(path)
    assert read.problems == []
    assert [(e.kind, e.on, e.old, e.rows) for e in read.events] == [
        ("merge", dt.date(2024, 1, 1), ("130123102204", "130123102205"), (2, 3)),
        ("split", dt.date(2024, 4, 1), ("130123102206",), (4, 5)),
        ("rename", dt.date(2024, 10, 1), ("130123102207",), (6,)),
    ]
    split = read.events[1]
    assert [(p.code, p.name, p.share) for p in split.new] == [
        ("130123102206", "东权城村委会", 0.55), ("130123102230", "东权城新村村委会", 0.45)]
    assert read.events[0].new == (NewUnit("130123102204", "南王于家庄村委会"),)
    assert read.events[0].old_names == ("南王庄村委会", "于家庄村委会")


def test_an_english_xlsx_file_reads_the_same(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Old code", "Old name", "Change type", "New code", "New name",
                  "Effective date", "New parent"])
    spreadsheet_day = dt.datetime(2024, 7, 1)  # noqa: DTZ001 (a spreadsheet date has no zone)
    sheet.append(["130123204000", "曲阳桥乡", "reparent", None, None, spreadsheet_day,
                  "130172000000"])
    sheet.append([130123102207, "西权城村委会", "Rename", 130123102207, "西权城社区村委会",
                  "2024-10-01", None])
    path = tmp_path / "changes.xlsx"
    book.save(path)
    read = read_change_file(path)
    assert read.problems == []
    assert [(e.kind, e.on, e.old) for e in read.events] == [
        ("reparent", dt.date(2024, 7, 1), ("130123204000",)),
        ("rename", dt.date(2024, 10, 1), ("130123102207",))]
    assert read.events[0].new[0].parent == "130172000000"


def test_every_bad_row_is_named_with_its_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("原代码,原名称,变更类型,新代码,新名称,日期,份额\n"
                    "1301231022,南王庄村委会,合并,130123102204,南王村,2024-01-01,\n"
                    "130123102206,东权城村委会,分家,130123102206,东权城,2024-04-01,\n"
                    "130123102206,东权城村委会,拆分,130123102231,新村,2024-13-01,0.4\n"
                    "130123102207,西权城村委会,拆分,130123102232,西村,2024-04-01,\n",
                    encoding="utf-8")
    read = read_change_file(path)
    found = sorted((p.row, p.column, p.code) for p in read.problems)
    assert found == [(2, "old_code", "changes.bad_code"),
                     (3, "kind", "changes.unknown_kind"),
                     (4, "date", "changes.bad_date"),
                     (5, "share", "changes.split_share_missing")]
    assert read.events == []


def test_a_file_without_the_layout_is_refused_at_its_header(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("code,name\n130123102204,南王庄村委会\n", encoding="utf-8")
    read = read_change_file(path)
    assert [(p.row, p.code) for p in read.problems] == [(1, "changes.header")]
    assert "old_code, kind, new_code, date" in read.problems[0].reason


def test_dates_in_the_forms_departments_write() -> None:
    assert parse_date("2024-03-01") == parse_date("2024/3/1") == parse_date("2024年3月1日") \
        == parse_date("20240301") == parse_date("2024-03-01 00:00:00") == dt.date(2024, 3, 1)
    assert parse_date("2024-02-30") is None
    assert parse_date("March 2024") is None
