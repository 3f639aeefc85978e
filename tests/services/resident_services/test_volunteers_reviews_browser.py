"""The volunteering and review pages in Debian Chromium, in both languages: with records
on them and with a failed form drawn again, each page passes axe-core, shows only words
of its language (the database's names aside), and a failed form keeps what was typed with
the problem beside its field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from shequ.registry.models import Division, Facility
from shequ.services.accounts import User
from shequ.services.bookings.clock import local_now
from shequ.services.reviews import service as reviews
from shequ.services.volunteers import service as volunteers
from shequ.services.volunteers.models import OrganiserKind
from tests.web.axe import assert_no_serious_axe_violations
from tests.web.crawl import TEXT_SKIP, VISIBLE_TEXTS_JS, DataWords, language_problems

pytestmark = pytest.mark.browser
PASSWORD = "password-123"
COMMUNITY = "110101001001"


def login(page: Any, base: str, username: str, target: str) -> None:
    page.goto(f"{base}/login?next={target}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("[data-testid=login-form] button[type=submit]")
    page.wait_for_url(f"**{target}*")


def data_words(ctx: Any, *typed: str) -> DataWords:
    """The names the database holds (and what the test typed): data, not interface."""
    with ctx.sessions() as s:
        names = [*s.scalars(select(Division.name)), *s.scalars(select(Facility.name)),
                 *s.scalars(select(User.display_name)), *s.scalars(select(User.username))]
    return DataWords([*names, *typed])


def check(page: Any, lang: str, data: DataWords) -> None:
    assert page.get_attribute("html", "lang") == lang
    assert_no_serious_axe_violations(page)
    texts = page.evaluate(VISIBLE_TEXTS_JS, TEXT_SKIP)  # as the crawl reads a page
    assert language_problems(texts, lang, data) == []


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_pages_with_records_and_failed_forms(live_server: Any, browser: Any,
                                              lang: str) -> None:
    base, ctx = live_server.url, live_server.ctx
    # The server lives for the module: each language's run has records of its own.
    title, organiser, comment = f"楼道清洁{lang}", "幸福社工事务所", f"门口太暗{lang}"
    rated, rating = ("多福巷社区综合服务站", "多福巷老年人日间照料中心") if lang == "zh-CN" \
        else ("多福巷老年人日间照料中心", "银闸社区卫生服务站")
    start = local_now() + dt.timedelta(days=2)
    with ctx.sessions.begin() as s:
        worker = s.scalar(select(User.id).where(User.username == "worker_dfx"))
        resident = s.scalar(select(User.id).where(User.username == "resident2"))
        centre = s.scalar(select(Facility.id).where(Facility.name == rated))
        assert worker and resident and centre
        volunteers.publish(s, division_code=COMMUNITY,
                           organiser_kind=OrganiserKind.SOCIAL_ORGANISATION,
                           organiser_name=organiser, organiser_user_id=worker, title=title,
                           starts_at=start, ends_at=start + dt.timedelta(hours=3), places=8)
        reviews.submit(s, user_id=resident, subject_kind="facility", subject_id=str(centre),
                       score=2, comment=comment, period=start.year + 1)
    # What the module's runs type (the first run's review shows on the second's pages).
    data = data_words(ctx, title, organiser, comment, "义诊", "工作人员很耐心",
                      *(f"楼道清洁{other}" for other in ("zh-CN", "en")))

    tab = browser.new_context(locale=lang).new_page()
    tab.set_default_timeout(15_000)
    login(tab, base, "worker_dfx", f"/volunteers/manage?lang={lang}")
    assert title in tab.inner_text("[data-testid=published-activities]")
    check(tab, lang, data)
    # The browser's own checks off, a place count of 0 goes to the server.
    tab.evaluate("document.querySelector('[data-testid=publish-form]').noValidate = true")
    tab.fill("#organiser_name", organiser)
    tab.fill("#title", "义诊")
    tab.fill("#starts_at", start.strftime("%Y-%m-%dT%H:%M"))
    tab.fill("#ends_at", (start + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    tab.fill("#places", "0")
    tab.click("[data-testid=publish]")
    tab.wait_for_selector("[data-testid=error-summary]")
    assert tab.inner_text("[data-field=places]") == (
        "名额超出允许的范围" if lang == "zh-CN" else "Places is outside the allowed range")
    assert tab.get_attribute("#places", "aria-invalid") == "true"
    assert tab.input_value("#title") == "义诊"
    assert tab.input_value("#organiser_name") == organiser
    check(tab, lang, data)

    tab.goto(f"{base}/reviews/manage?lang={lang}")
    assert comment in tab.inner_text("[data-testid=to-moderate]")
    check(tab, lang, data)
    tab.context.close()

    tab = browser.new_context(locale=lang).new_page()
    tab.set_default_timeout(15_000)
    login(tab, base, "resident1", f"/volunteers?lang={lang}")
    check(tab, lang, data)
    if tab.locator("[data-testid=register]").count():  # the first run registers
        tab.click("[data-testid=register]")
        tab.wait_for_url("**/volunteers?msg=*")
    assert title in tab.inner_text("[data-testid=activities]")
    check(tab, lang, data)

    tab.goto(f"{base}/reviews?lang={lang}")
    check(tab, lang, data)
    tab.select_option("[data-testid=subject]", label=rating)
    tab.fill("[data-testid=comment]", "工作人员很耐心")
    tab.evaluate("document.querySelector('[data-testid=review-form]').noValidate = true")
    tab.click("[data-testid=submit-review]")  # no score chosen
    tab.wait_for_selector("[data-testid=error-summary]")
    assert tab.inner_text("[data-field=score]") == (
        "评分不能为空" if lang == "zh-CN" else "Score is required")
    assert tab.input_value("[data-testid=comment]") == "工作人员很耐心"
    check(tab, lang, data)
    tab.check("[data-testid=score-4]")
    tab.click("[data-testid=submit-review]")
    tab.wait_for_url("**/reviews?msg=*")
    assert "工作人员很耐心" in tab.inner_text("[data-testid=my-reviews]")
    check(tab, lang, data)
    tab.context.close()
