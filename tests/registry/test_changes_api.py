"""Division changes over HTTP: a change file or JSON, nationwide and provincial roles only,
audited, each re-pointed account noted, and a bad file answered with every problem."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.context import Context
from shequ.services.accounts.models import AuditLog, User
from shequ.services.accounts.users import create_user
from shequ.settings import Settings
from tests.registry.change_files import BAD_CHANGES, DEMO_CHANGES
from tests.services.conftest import SECRET, bearer_token, password_hash

ROLES = {"nation": ("national_planner", None), "hebei": ("province_planner", "130000000000"),
         "county": ("county_planner", "130123000000"),
         "worker": ("community_worker", "130123102205")}


@pytest.fixture
def site(demo_settings: Settings) -> Iterator[tuple[TestClient, Context, dict[str, str]]]:
    from shequ.app import create_app

    ctx = Context.open(demo_settings.with_(secret_key=SECRET))
    tokens = {}
    with ctx.sessions() as session:
        for name, (role, jurisdiction) in ROLES.items():
            user = create_user(session, username=f"t_{name}", password_hash=password_hash(),
                               role=role, jurisdiction_code=jurisdiction)
            tokens[name] = bearer_token(session, user)
        session.commit()
    with TestClient(create_app(ctx)) as client:
        yield client, ctx, {k: f"Bearer {v}" for k, v in tokens.items()}
    ctx.close()


def upload(text: str, name: str = "changes.csv") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, text.encode("utf-8"), "text/csv")}


def test_a_county_planner_may_not_change_divisions(
        site: tuple[TestClient, Context, dict[str, str]]) -> None:
    client, _, auth = site
    answer = client.post("/api/v1/hierarchy/changes", files=upload(DEMO_CHANGES),
                         headers={"Authorization": auth["county"]})
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "changes.role_needed"
    assert client.post("/api/v1/hierarchy/changes", files=upload(DEMO_CHANGES)
                       ).status_code == 401


def test_a_province_applies_the_demo_file_and_the_worker_is_told(
        site: tuple[TestClient, Context, dict[str, str]]) -> None:
    client, ctx, auth = site
    answer = client.post("/api/v1/hierarchy/changes", files=upload(DEMO_CHANGES),
                         headers={"Authorization": auth["hebei"]})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (len(body["events"]), body["notices"]) == (5, 1)
    assert body["moved"]["facility"] > 0 and body["moved"]["population"] > 0
    with ctx.sessions() as session:
        worker = session.scalars(select(User).where(User.username == "t_worker")).one()
        assert worker.jurisdiction_code == "130123102204"
        notes = session.scalars(select(AuditLog).where(
            AuditLog.action == "jurisdiction_repointed")).all()
        assert [(n.entity_id, json.loads(n.detail or "{}")["new"]) for n in notes] == [
            (str(worker.id), "130123102204")]
        assert session.scalars(select(AuditLog.username).where(
            AuditLog.action == "division_changes_applied")).all() == ["t_hebei"]
    listed = client.get("/api/v1/hierarchy/changes").json()
    assert listed["total"] == 5
    assert {item["kind"] for item in listed["items"]} == {
        "create", "merge", "split", "reparent", "rename"}
    zone = client.get("/api/v1/hierarchy/changes", params={"division": "130172"}).json()
    assert [(i["kind"], i["new_codes"]) for i in zone["items"]] == [
        ("reparent", ["130172204000"]), ("create", ["130172000000"])]


def test_json_changes_and_a_bad_file_with_every_problem(
        site: tuple[TestClient, Context, dict[str, str]]) -> None:
    client, _, auth = site
    headers = {"Authorization": auth["nation"]}
    answer = client.post("/api/v1/hierarchy/changes", headers=headers, json={"changes": [
        {"kind": "rename", "effective_on": "2024-10-01", "old": ["130123102207"],
         "new": [{"name": "西权城社区村委会"}]}]})
    assert answer.status_code == 201, answer.text
    bad = client.post("/api/v1/hierarchy/changes", files=upload(BAD_CHANGES, "bad.csv"),
                      headers={**headers, "Accept-Language": "en"})
    assert bad.status_code == 422
    found = sorted((p["row"], p["code"]) for p in bad.json()["problems"])
    assert found == [(2, "changes.unknown_code"), (3, "changes.split_sum"),
                     (5, "changes.before_existence"), (6, "changes.cycle")]
    assert client.get("/api/v1/hierarchy/changes").json()["total"] == 1  # the rename only


def test_a_province_may_not_change_another_province(
        site: tuple[TestClient, Context, dict[str, str]], tmp_path: Path) -> None:
    client, _, auth = site
    answer = client.post("/api/v1/hierarchy/changes", headers={"Authorization": auth["hebei"]},
                         json={"changes": [{"kind": "rename", "effective_on": "2024-10-01",
                                            "old": ["110101001001"],
                                            "new": [{"name": "别处社区"}]}]})
    assert answer.status_code == 403
    assert answer.json()["code"] == "changes.outside_jurisdiction"
    del tmp_path


def test_the_page_names_each_problem_by_row_and_applies_a_good_file(
        site: tuple[TestClient, Context, dict[str, str]]) -> None:
    client, ctx, auth = site
    from shequ.services.accounts.models import SessionKind
    from shequ.services.accounts.sessions import start_session

    with ctx.sessions() as session:
        admin = session.scalars(select(User).where(User.username == "t_nation")).one()
        cookie = start_session(session, SECRET, admin, kind=SessionKind.PAGE)[1]
        session.commit()
    client.cookies.set("shequ_session", cookie)
    page = client.get("/hierarchy/changes?lang=zh-CN")
    assert page.status_code == 200, page.text
    assert "区划变更" in page.text and "还没有记录任何区划变更" in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = client.post("/hierarchy/changes?lang=zh-CN", data={"csrf_token": token},
                          files=upload(BAD_CHANGES, "bad.csv"))
    assert refused.status_code == 422
    assert refused.text.count('data-testid="change-problem"') == 4
    assert "没有代码为 130123102299 的区划" in refused.text
    assert "拆分 130123102206 的份额合计为 0.9，不是 1" in refused.text
    # each problem's column as the header names it in the reader's language
    assert [re.findall(r"<td>(.*?)</td>", row)[1:3] for row in re.findall(
        r'<tr data-testid="change-problem">.*?</tr>', refused.text, re.S)] == [
        ["5", "日期"], ["2", "原代码"], ["3", "份额"], ["6", "新上级代码"]]
    headless = client.post("/hierarchy/changes?lang=zh-CN", data={"csrf_token": token},
                           files=upload("代码,名称\n130123102206,东权城村委会\n", "odd.csv"))
    assert headless.status_code == 422
    assert "表头缺少“原代码、变更类型、新代码、日期”列" in headless.text
    unknown = client.post("/hierarchy/changes?lang=en", data={"csrf_token": token},
                          files=upload(DEMO_CHANGES.replace("更名", "teleport", 1), "odd.csv"))
    assert unknown.status_code == 422
    lone_merge = client.post(
        "/hierarchy/changes?lang=zh-CN", data={"csrf_token": token}, files=upload(
            "原代码,原名称,变更类型,新代码,新名称,日期\n"
            "130123102204,南王庄村委会,合并,130123102204,南王于家庄村委会,2024-01-01\n"))
    assert lone_merge.status_code == 422
    assert "这一变更的原区划或新区划数目不对（原 1 个，新 1 个）：合并须有两个及以上原区划" \
        in lone_merge.text
    assert ("<td>change type</td><td>unknown change type “teleport”: write rename, recode, "
            "reparent, merge, split, abolish or create</td>") in unknown.text
    applied = client.post("/hierarchy/changes", data={"csrf_token": token},
                          files=upload(DEMO_CHANGES), follow_redirects=True)
    assert applied.status_code == 200
    assert applied.text.count("<tr><td>") == 5
    del auth
