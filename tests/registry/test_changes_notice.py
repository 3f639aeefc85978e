"""The account whose jurisdiction a division change re-points is told, in its language, in
the change's own transaction: a refused batch tells no one."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shequ.context import Context
from shequ.services.accounts.models import User
from shequ.services.notify.models import Notification
from shequ.services.notify.service import message_of, save_preferences
from tests.registry.change_files import BAD_CHANGES, DEMO_CHANGES
from tests.registry.test_changes_api import site, upload  # noqa: F401 (the API fixture)


def test_the_worker_of_a_merged_village_is_told_in_their_language(
        site: tuple[TestClient, Context, dict[str, str]]) -> None:  # noqa: F811
    client, ctx, auth = site
    headers = {"Authorization": auth["hebei"]}
    # a refused batch writes no notification
    assert client.post("/api/v1/hierarchy/changes", files=upload(BAD_CHANGES, "bad.csv"),
                       headers=headers).status_code == 422
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 0
        worker = session.scalars(select(User).where(User.username == "t_worker")).one()
        save_preferences(session, worker, language="en", email_on=False, email=None,
                         sms_on=False, phone=None, wechat_on=False, wechat_openid=None,
                         quiet_start=None, quiet_end=None)
        session.commit()
    answer = client.post("/api/v1/hierarchy/changes", files=upload(DEMO_CHANGES),
                         headers=headers)
    assert answer.status_code == 201, answer.text
    with ctx.sessions() as session:
        told = session.scalars(select(Notification)).all()
        assert [(n.user_id, n.kind) for n in told] == [(worker.id, "jurisdiction_repointed")]
        # 于家庄村委会 (130123102205) merged into 130123102204 on 2024-01-01
        english = message_of(told[0], "en")
        assert english.title == "Your jurisdiction has changed"
        assert english.body == (
            "A division change effective 2024-01-01 moved your jurisdiction from "
            "于家庄村委会 (130123102205) to 南王于家庄村委会 (130123102204); your work, lists and "
            "figures followed it.")
        assert english.link == "/work"
        assert message_of(told[0], "zh-CN").body.startswith(
            "因区划变更（2024-01-01 起），您的管辖区划由于家庄村委会（130123102205）改为"
            "南王于家庄村委会（130123102204）")
    # the bell of the worker shows it, in the language they chose
    bell = client.get("/api/v1/notifications", headers={"Authorization": auth["worker"]})
    assert bell.status_code == 200, bell.text
    assert "Your jurisdiction has changed" in bell.text
