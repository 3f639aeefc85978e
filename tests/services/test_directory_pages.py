"""The directory's pages without a browser, on SQLite and PostgreSQL: paging with counts,
keyword and kind filters, nearest first from a point, and a service's page with its hours
in words in both languages — exact values on the seeded region (five facilities in
service, one planned)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shequ.app import create_app
from shequ.context import Context
from shequ.registry.db import make_engine, session_factory
from shequ.services.bookings.service import create_resource
from shequ.services.directory.opening import WeeklyHours, weekly_hours

from .conftest import FACILITIES, Seeded, seed, services_settings
from .visible import latin_words, raw_keys


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Seeded]]:
    """The app over the seeded region on ``db_url``, a room of 西交民巷's service station
    bookable."""
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        seeded = seed(session)
        create_resource(session, facility_id=seeded.facilities["西交民巷社区综合服务站"],
                        name="多功能活动室")
        session.commit()
    engine.dispose()
    ctx = Context.open(services_settings(db_url, tmp_path / "data"), migrate=False)
    with TestClient(create_app(ctx)) as http:
        yield http, seeded
    ctx.close()


def _names(html: str) -> list[str]:
    return re.findall(r'data-testid="result-name"><b>([^<]+)</b>', html)


def _count(html: str) -> str:
    found = re.search(r'data-testid="result-count">([^<]+)</p>', html)
    assert found is not None
    return found.group(1)


IN_SERVICE = [row[0] for row in FACILITIES if row[6] == "in_service"]  # seeded order = ids


def test_paging_counts_and_moves_through_the_list(served: tuple[TestClient, Seeded]) -> None:
    client, _ = served
    first = client.get("/services?per_page=2")
    assert first.status_code == 200
    assert _count(first.text) == "第 1–2 条，共 5 条"
    assert _names(first.text) == IN_SERVICE[:2] == ["多福巷社区综合服务站",
                                                    "多福巷老年人日间照料中心"]
    assert "第 1 页，共 3 页" in first.text and 'data-testid="previous"' not in first.text
    # The next link keeps the page size and leads to the third and fourth services.
    link = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert link is not None and link.group(1).replace("&amp;", "&") == "/services?page=2&per_page=2"
    second = client.get("/services?page=2&per_page=2")
    assert _names(second.text) == ["银闸社区卫生服务站", "隆福寺图书分馆"]
    last = client.get("/services?page=3&per_page=2&lang=en")
    assert _count(last.text) == "5–5 of 5"
    assert _names(last.text) == ["西交民巷社区综合服务站"]
    assert 'data-testid="next"' not in last.text and "Page 3 of 3" in last.text
    # The planned nursery is not listed: residents cannot use it yet.
    assert "银闸托育园" not in first.text + second.text + last.text


def test_keyword_and_kind_filters(served: tuple[TestClient, Seeded]) -> None:
    client, _ = served
    keyword = client.get("/services", params={"q": "多福巷"})
    assert _names(keyword.text) == ["多福巷社区综合服务站", "多福巷老年人日间照料中心"]
    assert _count(keyword.text) == "第 1–2 条，共 2 条"
    kind = client.get("/services", params={"type": "comprehensive_service_facility"})
    assert _names(kind.text) == ["多福巷社区综合服务站", "西交民巷社区综合服务站"]
    both = client.get("/services", params={"type": "comprehensive_service_facility",
                                           "q": "西交民巷"})
    assert _names(both.text) == ["西交民巷社区综合服务站"]
    # The kinds offered are those listed, by their catalog names (the planned nursery's
    # kind is not offered); the chosen one stays chosen.
    options = re.findall(r'<option value="([a-z_]+)"( selected)?>([^<]+)</option>', kind.text)
    assert [(code, name) for code, _, name in options] == [
        ("community_health_station", "社区卫生服务站"),
        ("comprehensive_service_facility", "社区综合服务设施"),
        ("elderly_day_care", "老年人日间照料中心"),
        ("library_branch", "图书馆分馆（农家书屋）"),
    ]
    assert [code for code, chosen, _ in options if chosen] == ["comprehensive_service_facility"]
    nothing = client.get("/services", params={"q": "游泳馆"})
    assert _names(nothing.text) == [] and _count(nothing.text) == "附近没有符合条件的服务"


def _haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    radius = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * radius * math.asin(math.sqrt(a))


def test_nearest_first_from_a_point(served: tuple[TestClient, Seeded]) -> None:
    client, _ = served
    lon, lat = 116.4121, 39.9301  # the library's own point
    page = client.get("/services", params={"lat": lat, "lon": lon})
    expected = sorted((_haversine(lon, lat, f[3], f[4]), f[0]) for f in FACILITIES
                      if f[6] == "in_service")
    assert _names(page.text) == [name for _, name in expected]
    assert _names(page.text)[0] == "隆福寺图书分馆"
    distances = re.findall(r'data-testid="distance">· ([^<]+)</span>', page.text)
    # Below a kilometre in tens of metres, beyond it in tenths of a kilometre.
    shown = []
    for metres, _ in expected:
        shown.append(f"{int(round(metres / 10) * 10)} 米" if metres < 1000
                     else f"{metres / 1000:.1f} 公里")
    assert distances == shown
    assert distances[0] == "0 米"
    assert "结果按与所选位置的距离由近到远排列" in page.text
    # Keyword and point together: the two 多福巷 services, nearest the point first.
    near = client.get("/services", params={"lat": 39.9160, "lon": 116.4060, "q": "多福巷"})
    assert _names(near.text) == ["多福巷老年人日间照料中心", "多福巷社区综合服务站"]


def _hours(html: str) -> list[str]:
    block = re.search(r'<ul data-testid="hours">(.*?)</ul>', html, re.S)
    assert block is not None
    return re.findall(r"<li>([^<]+)</li>", block.group(1))


@pytest.mark.parametrize(("name", "zh", "en"), [
    ("多福巷社区综合服务站", ["周一至周五 08:30–17:30"], ["Mon–Fri 08:30–17:30"]),
    ("银闸社区卫生服务站", ["周一至周六 08:00–12:00，13:30–17:00"],
     ["Mon–Sat 08:00–12:00, 13:30–17:00"]),
    ("隆福寺图书分馆", ["周二至周日 09:00–21:00"], ["Tue–Sun 09:00–21:00"]),
    ("西交民巷社区综合服务站", ["每天全天开放"], ["Every day: open all day"]),
])
def test_a_service_page_says_its_hours_in_words(served: tuple[TestClient, Seeded], name: str,
                                                zh: list[str], en: list[str]) -> None:
    client, seeded = served
    fid = seeded.facilities[name]
    chinese = client.get(f"/services/{fid}")
    assert chinese.status_code == 200
    assert f'data-testid="service-name">{name}</h1>' in chinese.text
    assert _hours(chinese.text) == zh
    english = client.get(f"/services/{fid}?lang=en")
    assert _hours(english.text) == en
    # The report link chooses the facility; the map has the facility's point.
    assert f'href="/services/requests/new?facility={fid}"' in english.text
    data = re.search(r'id="directory-map-data">([^<]+)</script>', english.text)
    assert data is not None and f'"id": {fid}' in data.group(1)


def test_a_service_page_links_its_bookable_rooms_and_says_what_it_offers(
        served: tuple[TestClient, Seeded]) -> None:
    client, seeded = served
    station = client.get(f"/services/{seeded.facilities['西交民巷社区综合服务站']}")
    rooms = re.search(r'<ul data-testid="bookable">(.*?)</ul>', station.text, re.S)
    assert rooms is not None
    assert [name for _, name in re.findall(r'<a href="(/bookings/resources/\d+)">([^<]+)</a>',
                                           rooms.group(1))] == ["多功能活动室"]
    library = client.get(f"/services/{seeded.facilities['隆福寺图书分馆']}")
    assert 'data-testid="offers">图书阅读与文化活动</p>' in library.text
    station = client.get(f"/services/{seeded.facilities['多福巷社区综合服务站']}?lang=en")
    assert "Nothing here can be booked online." in station.text
    assert 'data-testid="phone"><a href="tel:010-65120000">010-65120000</a>' in station.text
    planned = client.get(f"/services/{seeded.facilities['银闸托育园']}?lang=zh-CN")
    assert 'data-testid="status">规划中，尚未开放</span>' in planned.text
    assert 'data-testid="hours">未登记开放时间</p>' in planned.text
    missing = client.get("/services/999999")
    assert missing.status_code == 404
    assert "没有编号为 999999 的服务。" in missing.text


def test_weekly_hours_of_other_shapes() -> None:
    # The week of Thursday 2026-12-03 runs Monday 30 November to Sunday 6 December.
    week = dt.date(2026, 12, 3)
    assert weekly_hours("Mo,We,Fr 09:00-12:00", week_of=week) == [
        WeeklyHours((0, 2, 4), (("09:00", "12:00"),))]
    # Across midnight: a piece on each day.
    assert weekly_hours("Sa 22:00-02:00", week_of=week) == [
        WeeklyHours((5,), (("22:00", "24:00"),)), WeeklyHours((6,), (("00:00", "02:00"),))]
    assert weekly_hours("off", week_of=week) == []
    assert weekly_hours("not hours", week_of=week) is None
    assert weekly_hours(None, week_of=week) is None


def test_chinese_directory_pages_show_no_latin_words_or_keys(
        served: tuple[TestClient, Seeded]) -> None:
    client, seeded = served
    pages = [client.get("/services?per_page=2").text,
             client.get("/services?lat=39.93&lon=116.41&open_now=true").text,
             *[client.get(f"/services/{fid}").text for fid in seeded.facilities.values()]]
    for html in pages:
        assert latin_words(html) == []
        assert raw_keys(html) == []
