"""The HTTP API on the hand-built fixture: DHIS2-shaped analytics and dataValueSets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from shequ.app import create_app
from shequ.context import Context
from shequ.indicators.store import compute_for_registry
from shequ.settings import Settings
from tests.indicators import fixture as f


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, database_url=db_url,
                        environment="test")
    ctx = Context.open(settings, migrate=False)
    sessions: sessionmaker[Session] = ctx.sessions
    with sessions() as session, session.begin():
        f.store(session)
    compute_for_registry(ctx, as_of=dt.date(2024, 12, 31))
    with TestClient(create_app(ctx)) as test_client:
        yield test_client
    ctx.close()


def test_analytics_children_of_a_county(client: TestClient) -> None:
    answer = client.get("/api/v1/analytics",
                        params={"dx": "N1;N4", "ou": f"{f.COUNTY};CHILDREN", "pe": "2024"})
    assert answer.status_code == 200
    body = answer.json()
    assert [h["name"] for h in body["headers"]] == ["dx", "ou", "pe", "value"]
    assert body["metaData"]["dimensions"]["ou"] == [f.STREET, f.TOWN]
    assert body["rows"] == [
        ["N1", f.STREET, "2024", "50"], ["N1", f.TOWN, "2024", "100"],
        ["N4", f.STREET, "2024", "44.4444"], ["N4", f.TOWN, "2024", "16.0584"],
    ]
    assert body["metaData"]["items"][f.TOWN]["name"] == "西营镇"
    assert body["run"]["as_of"] == "2024-12-31"


def test_analytics_dimension_syntax_and_levels(client: TestClient) -> None:
    answer = client.get("/api/v1/analytics?dimension=dx:N2&dimension=ou:13;LEVEL-5"
                        "&dimension=pe:2022;2024")
    rows = answer.json()["rows"]
    # villages only have N2 values; 2022 V3's facility was still open.
    assert ["N2", f.V3, "2022", "100"] in rows
    assert ["N2", f.V3, "2024", "0"] in rows
    assert all(r[1].startswith("13") for r in rows)


def test_analytics_rejects_unknown_names(client: TestClient) -> None:
    answer = client.get("/api/v1/analytics", params={"dx": "N99", "ou": "LEVEL-9",
                                                     "pe": "1999"})
    assert answer.status_code == 422
    reasons = " ".join(p["reason"] for p in answer.json()["problems"])
    assert "unknown indicator 'N99'" in reasons
    assert "'LEVEL-9' is not a division code or selector" in reasons
    assert "period '1999' is not in the run" in reasons


def test_data_value_sets(client: TestClient) -> None:
    answer = client.get("/api/v1/dataValueSets", params={"dx": "N7", "ou": f.COUNTY,
                                                          "pe": "2024"})
    assert answer.json() == {"dataValues": [
        {"dataElement": "N7", "period": "2024", "orgUnit": f.COUNTY, "value": "16.666667"}]}


def test_dashboard_and_short_boards(client: TestClient) -> None:
    board = client.get(f"/api/v1/indicators/dashboard/{f.TOWN}",
                       params={"indicator": "N2", "lang": "en"}).json()
    assert board["division"]["name"] == "西营镇"
    assert [c["code"] for c in board["children"]] == [f.C3, f.V1, f.V2, f.V3]
    lines = {line["code"]: line for line in board["indicators"]}
    assert lines["N2"]["value"] == pytest.approx(100 / 3)
    assert lines["N2"]["target"] == 80.0
    assert "HN1" not in lines  # Hunan's own indicator does not apply in Hebei
    boards = client.get("/api/v1/indicators/short-boards",
                        params={"ou": f.COUNTY, "dx": "N2", "format": "csv"})
    assert boards.text.splitlines()[1].startswith(f"N2,{f.V2},西村")


def test_assessment_endpoint_ranks_townships(client: TestClient) -> None:
    scores = client.get("/api/v1/indicators/assessment", params={"level": 4}).json()
    assert [s["rank"] for s in scores] == sorted(s["rank"] for s in scores)
    assert {s["division_code"] for s in scores} == {f.STREET, f.TOWN, "430102001000"}
    parts = {p["part"] for p in scores[0]["components"]}
    assert {"N1", "N2", "reviews", "penalty:undersized_accepted"} <= parts


def test_assessment_counts_residents_reviews(client: TestClient) -> None:
    from sqlalchemy import insert

    from shequ.services.accounts import create_user
    from shequ.services.reviews.models import Review

    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    # 2024 is assessed in 2025: the packaged scheme counts the reviews given then
    now = dt.datetime(2025, 6, 1)  # noqa: DTZ001 (the review table stores naive UTC)
    with ctx.sessions() as session, session.begin():
        # A review names its resident (a key of the user table): sixty of them.
        reviewers = [create_user(session, username=f"reviewer{i}", role="resident",
                                 password_hash="$argon2id$v=19$m=65536,t=3,p=4$unused").id
                     for i in range(60)]
        session.execute(insert(Review), [
            {"user_id": user_id, "subject_kind": "facility", "subject_id": "1",
             "division_code": f.C1, "period": 2024, "score": 4 if i % 2 else 5,
             "comment_status": "none", "created_at": now}
            for i, user_id in enumerate(reviewers)])
    scores = {s["division_code"]: s for s in client.get(
        "/api/v1/indicators/assessment", params={"level": 4}).json()}
    reviews = next(p for p in scores[f.STREET]["components"] if p["part"] == "reviews")
    assert reviews["achievement"] == pytest.approx(4.5 / 5)
    assert reviews["detail"] == "mean 4.50 of 60 reviews"
    assert scores[f.STREET]["reviews"] == {
        "count": 60, "needed": 50, "counted": True, "given_from": "2025-01-01",
        "given_before": "2026-01-01"}
    town = next(p for p in scores[f.TOWN]["components"] if p["part"] == "reviews")
    assert town["achievement"] is None
    assert scores[f.TOWN]["reviews"]["count"] == 0


def test_computing_a_run_needs_a_planner(client: TestClient) -> None:
    answer = client.post("/api/v1/indicators/runs", json={"periods": [2024]})
    assert answer.status_code == 401


def test_short_boards_as_xlsx(client: TestClient, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    answer = client.get("/api/v1/indicators/short-boards",
                        params={"ou": f.COUNTY, "dx": "N2", "format": "xlsx"})
    assert answer.status_code == 200
    (tmp_path / "b.xlsx").write_bytes(answer.content)
    sheet = load_workbook(tmp_path / "b.xlsx")["short boards"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [r[1] for r in rows] == [f.V2, f.V3]
    assert client.get("/api/v1/indicators/short-boards",
                      params={"format": "pdf"}).status_code == 422
