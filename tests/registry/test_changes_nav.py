"""The navigation leads to the division changes page for the roles that may make changes
(nationwide and provincial), in both languages, and not for the others."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shequ.context import Context
from shequ.services.accounts.models import SessionKind, User
from shequ.services.accounts.sessions import start_session
from tests.registry.test_changes_api import site  # noqa: F401 (the API fixture)
from tests.services.conftest import SECRET

LINK = '<a href="/hierarchy/changes"'


def sections(client: TestClient, ctx: Context, username: str, lang: str) -> str:
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        cookie = start_session(session, SECRET, user, kind=SessionKind.PAGE)[1]
        session.commit()
    client.cookies.set("shequ_session", cookie)
    page = client.get(f"/indicators?lang={lang}")
    assert page.status_code == 200, page.text
    text: str = page.text
    return text.split('data-testid="sections">')[1].split("</nav>", maxsplit=1)[0]


@pytest.mark.parametrize(("username", "shown"), [
    ("t_nation", True), ("t_hebei", True), ("t_county", False), ("t_worker", False)])
def test_the_changes_page_is_in_the_navigation_of_the_roles_that_may_use_it(
        site: tuple[TestClient, Context, dict[str, str]],  # noqa: F811
        username: str, shown: bool) -> None:
    client, ctx, _ = site
    chinese = sections(client, ctx, username, "zh-CN")
    assert (f"{LINK} >区划变更</a>" in chinese) is shown, chinese
    if shown:
        assert f"{LINK} >Division changes</a>" in sections(client, ctx, username, "en")
        on_page = client.get("/hierarchy/changes?lang=en").text
        assert f'{LINK} aria-current="page">Division changes</a>' in on_page
