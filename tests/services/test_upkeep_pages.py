"""The /upkeep page's forms on the frame: a refused value is drawn again at once (422)
with what was typed and the problem beside its box, in Chinese or English; nothing is
stored and no error text travels in an address.  Residents get the 403 page."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from shequ.context import Context
from shequ.registry.models import Facility, Population

from .conftest import Seeded
from .test_work import _sign_in


def _csrf(page: str) -> str:
    found = (re.search(r'name="csrf_token" value="([^"]+)"', page)
             or re.search(r'value="([^"]+)" name="csrf_token"', page))
    assert found is not None
    return found.group(1)


def _field_error(page: str, box: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(box)}-error"[^>]*>([^<]*)</p>',
                      page)
    assert found is not None, box
    return html.unescape(found.group(1))


def _value(page: str, box: str) -> str:
    found = re.search(rf'<input[^>]* id="{re.escape(box)}"[^>]* value="([^"]*)"', page)
    assert found is not None, box
    return html.unescape(found.group(1))


def _save_row(client: TestClient, fid: int, lang: str, **changes: str) -> Response:
    token = _csrf(client.get("/upkeep", params={"lang": lang}).text)
    fields = {"name": "多福巷社区综合服务站", "status": "in_service", "floor_area_m2": "",
              "activity_area_m2": "", "capacity": "", "opening_hours": "", "phone": ""}
    answer: Response = client.post(f"/upkeep/facilities/{fid}", data={
        "csrf_token": token, "code": "110101001001", **fields, **changes},
        follow_redirects=False)
    return answer


def test_a_negative_floor_area_is_shown_beside_its_box_in_chinese_and_english(
        client: TestClient, ctx: Context, seeded: Seeded) -> None:
    _sign_in(client, "worker_dfx")
    fid = seeded.facilities["多福巷社区综合服务站"]
    box = f"f{fid}-floor_area_m2"
    answer = _save_row(client, fid, "zh-CN", floor_area_m2="-5")
    assert answer.status_code == 422
    assert "location" not in answer.headers  # drawn again, not sent to an address
    assert _field_error(answer.text, box) == "建筑面积不能为负数，收到“-5”"
    assert _value(answer.text, box) == "-5"  # what was typed is kept
    assert f'aria-describedby="{box}-error"' in answer.text
    assert 'aria-invalid="true"' in answer.text
    # The summary links to the box; no English reason reaches the Chinese page.
    assert f'<a href="#{box}">建筑面积不能为负数，收到“-5”</a>' in answer.text
    assert "negative" not in answer.text and "column" not in answer.text

    client.get("/upkeep", params={"lang": "en"})  # the language is remembered
    answer = _save_row(client, fid, "en", floor_area_m2="-5", phone="010-1")
    assert answer.status_code == 422
    assert _field_error(answer.text, box) == "Floor area must not be negative, not “-5”"
    assert _value(answer.text, box) == "-5"
    assert _value(answer.text, f"f{fid}-phone") == "010-1"
    with ctx.sessions() as session:
        stored = session.get(Facility, fid)
        assert stored is not None and stored.floor_area_m2 is None
        assert stored.phone == "010-65120000"  # the refused row changed nothing


def test_an_activity_area_over_the_floor_area_names_both_figures(
        client: TestClient, seeded: Seeded) -> None:
    _sign_in(client, "worker_dfx")
    fid = seeded.facilities["多福巷社区综合服务站"]
    answer = _save_row(client, fid, "zh-CN", floor_area_m2="420", activity_area_m2="500")
    assert answer.status_code == 422
    assert _field_error(answer.text, f"f{fid}-activity_area_m2") == (
        "活动用房面积 500 m² 大于建筑面积 420 m²（活动用房是建筑面积中供居民活动的部分）")
    assert _value(answer.text, f"f{fid}-floor_area_m2") == "420"
    saved = _save_row(client, fid, "zh-CN", floor_area_m2="420", activity_area_m2="300")
    assert saved.status_code == 303
    assert saved.headers["location"] == "/upkeep?code=110101001001&msg=upkeep.facility_saved"


def test_a_new_facility_with_words_for_numbers_keeps_what_was_typed(
        client: TestClient, ctx: Context) -> None:
    _sign_in(client, "worker_dfx")
    token = _csrf(client.get("/upkeep").text)
    answer = client.post("/upkeep/facilities", data={
        "csrf_token": token, "code": "110101001001", "type_code": "community_canteen",
        "name": "多福巷长者食堂", "status": "in_service", "floor_area_m2": "abc",
        "capacity": "-3", "opening_hours": "", "longitude": "", "latitude": ""},
        follow_redirects=False)
    assert answer.status_code == 422
    assert _field_error(answer.text, "floor_area_m2") == "建筑面积应为数字，收到“abc”"
    assert _field_error(answer.text, "capacity") == "容量不能为负数，收到“-3”"
    assert _value(answer.text, "name") == "多福巷长者食堂"
    assert re.search(r'<option value="community_canteen" selected>', answer.text)
    assert "could not convert" not in answer.text
    with ctx.sessions() as session:
        assert session.scalars(select(Facility).where(
            Facility.name == "多福巷长者食堂")).first() is None


def test_population_figures_that_do_not_add_up_are_refused_beside_their_boxes(
        client: TestClient, ctx: Context) -> None:
    _sign_in(client, "worker_dfx")
    token = _csrf(client.get("/upkeep", params={"lang": "en"}).text)
    answer = client.post("/upkeep/population", data={
        "csrf_token": token, "code": "110101001001", "period": "2025",
        "residents": "100", "households": "120", "age_60_plus": "30", "age_80_plus": "40"},
        follow_redirects=False)
    assert answer.status_code == 422
    assert _field_error(answer.text, "households") == (
        "Households (120) exceed residents (100); a household has at least one resident")
    assert _field_error(answer.text, "age_80_plus") == (
        "Residents aged 80+ (40) exceed those aged 60+ (30)")
    assert _value(answer.text, "households") == "120"
    year = client.post("/upkeep/population", data={
        "csrf_token": token, "code": "110101001001", "period": "1800",
        "residents": "100", "households": "20"}, follow_redirects=False)
    assert year.status_code == 422
    assert re.match(r"Year must lie between 1949 and \d{4}$", _field_error(year.text, "period"))
    with ctx.sessions() as session:
        assert session.scalars(select(Population).where(
            Population.division_code == "110101001001")).first() is None


def test_a_bad_box_of_the_staffing_grid_is_marked_where_it_is(client: TestClient) -> None:
    _sign_in(client, "worker_dfx")
    page = client.get("/upkeep").text
    lines = re.findall(r'name="line" value="([^"]+)"', page)
    counts = ["" for _ in lines]
    counts[lines.index("community_worker/none")] = "9"
    counts[lines.index("volunteer/social_worker")] = "-2"
    answer = client.post("/upkeep/workforce", data={
        "csrf_token": _csrf(page), "code": "110101001001", "staff_period": "2025",
        "line": lines, "headcount": counts}, follow_redirects=False)
    assert answer.status_code == 422
    assert _field_error(answer.text, "hc-volunteer-social_worker") == "人数不能为负数，收到“-2”"
    assert _value(answer.text, "hc-volunteer-social_worker") == "-2"
    assert _value(answer.text, "hc-community_worker-none") == "9"
    assert ('<a href="#hc-volunteer-social_worker">'
            "志愿者（社会工作师）：人数不能为负数，收到“-2”</a>") in answer.text


def test_a_bad_import_file_lists_rows_and_fields_in_the_readers_language(
        client: TestClient) -> None:
    _sign_in(client, "worker_dfx")
    csv = (b"division_code,period,residents,households\n"
           b"110101001001,2024,5150,2080\n110101001001,2023,-5,abc\n")
    for lang, expected in (
            ("zh-CN", ["第 3 行，户数：户数应为数字，收到“abc”",
                       "第 3 行，常住人口：常住人口不能为负数，收到“-5”"]),
            ("en", ["row 3, Households: Households must be a number, not “abc”",
                    "row 3, Residents: Residents must not be negative, not “-5”"])):
        token = _csrf(client.get("/upkeep", params={"lang": lang}).text)
        answer = client.post("/upkeep/import", data={
            "csrf_token": token, "code": "110101001001", "table": "population",
            "crs": "wgs84"}, files={"file": ("人口.csv", csv, "text/csv")},
            follow_redirects=False)
        assert answer.status_code == 422
        summary = re.search(r'data-testid="error-summary">(.*?)</div>', answer.text, re.S)
        assert summary is not None
        items = [html.unescape(i) for i in re.findall(r"<li>([^<]*)</li>", summary.group(1))]
        assert items == expected
        assert re.search(r'<option value="population" selected>', answer.text)


def test_a_picture_named_csv_is_refused_as_not_a_table_in_the_readers_language(
        client: TestClient, ctx: Context) -> None:
    _sign_in(client, "worker_dfx")
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
           b"\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x00IEND\xaeB`\x82")
    with ctx.sessions() as session:
        before = session.scalars(select(Population)).all()
    for lang, expected in (
            ("zh-CN", "“人口.csv”不是 CSV 表格，而是图片（PNG、JPEG 或 GIF）；"
                      "请用电子表格软件打开该表，另存为“CSV UTF-8”或 XLSX"),
            ("en", "“人口.csv” is not a CSV table: it is an image (PNG, JPEG or GIF); "
                   "open the table in a spreadsheet and save it as “CSV UTF-8” or XLSX")):
        token = _csrf(client.get("/upkeep", params={"lang": lang}).text)
        answer = client.post("/upkeep/import", data={
            "csrf_token": token, "code": "110101001001", "table": "population",
            "crs": "wgs84"}, files={"file": ("人口.csv", png, "text/csv")},
            follow_redirects=False)
        assert answer.status_code == 422
        summary = re.search(r'data-testid="error-summary">(.*?)</div>', answer.text, re.S)
        assert summary is not None
        items = [html.unescape(i) for i in re.findall(r"<li>([^<]*)</li>", summary.group(1))]
        assert items == [expected]
        assert "塒" not in answer.text
    with ctx.sessions() as session:
        assert len(session.scalars(select(Population)).all()) == len(before)


def test_residents_get_the_refusal_page_not_json(client: TestClient) -> None:
    _sign_in(client, "resident1")
    for path in ("/upkeep", "/work"):
        for lang, words in (("zh-CN", "<h1>没有权限</h1>"), ("en", 'lang="en"')):
            answer = client.get(path, params={"lang": lang})
            assert answer.status_code == 403, path
            assert answer.headers["content-type"].startswith("text/html")
            assert answer.text.lstrip().startswith("<!doctype html>")
            assert words in answer.text
            assert 'data-status="403" data-code="page_roles"' in answer.text
    token = _csrf(client.get("/upkeep").text)  # the sign-out form's token
    unknown = client.post("/upkeep/facilities/987654", data={"csrf_token": token},
                          follow_redirects=False)
    assert unknown.status_code == 403  # a resident is refused before the id is looked up
    refused = client.post("/upkeep/population", data={
        "csrf_token": token, "code": "110101001001", "period": "2025",
        "residents": "1", "households": "1"}, follow_redirects=False)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")


def test_an_unknown_facility_is_the_not_found_page(client: TestClient) -> None:
    _sign_in(client, "worker_dfx")
    token = _csrf(client.get("/upkeep").text)
    answer = client.post("/upkeep/facilities/987654", data={
        "csrf_token": token, "code": "110101001001", "name": "x", "status": "in_service"},
        follow_redirects=False)
    assert answer.status_code == 404
    assert 'data-testid="error-page" data-status="404"' in answer.text
