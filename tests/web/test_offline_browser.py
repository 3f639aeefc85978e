"""The installable app without signal, in Debian's Chromium driven by Playwright.

``demo_worker`` signs in while connected, the device goes offline
(``context.set_offline``), and from the pages the service worker kept they accept a
request and then resolve the same one (the kept queue shows it accepted, waiting to be
sent, with an accepted request's steps), resolve another and correct two facilities on
``/upkeep``; nothing reaches the server until the connection returns, then each write
arrives once and in order (sending the outbox again twice changes nothing), and the
correction that met a newer server version is
shown with both versions and left as the server has it when the worker chooses so.
Chromium's own install check (CDP ``Page.getInstallabilityErrors``) finds no error in
the manifest and service worker, and signing out wipes the device's caches and database.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shequ.context import Context
from shequ.registry import queries
from shequ.registry.models import Facility
from shequ.services import offline
from shequ.services.accounts.demo import ensure_demo_accounts
from shequ.services.accounts.users import DEMO_PASSWORD, user_by_username
from shequ.services.bookings.clock import local_now
from shequ.services.care.rules import load_priority_rules
from shequ.services.demo_activity import populate_demo_activity
from shequ.services.requests import load_request_catalog
from shequ.services.requests import service as rs
from shequ.services.requests.models import ServiceRequest, ServiceRequestEvent
from shequ.settings import Settings
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, running_server


@pytest.fixture
def live(tmp_path: Path, demo_template: Path) -> Iterator[tuple[str, Context]]:
    """A private copy of the demo county served live, with its context to check the
    database behind the browser's back."""
    folder = tmp_path / "demo"
    shutil.copytree(demo_template, folder)
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    with ctx.sessions() as session:
        county = queries.meta(session)["region_code"]
        ensure_demo_accounts(session, county_code=county, environment="test")
        session.commit()
        populate_demo_activity(
            session, county_code=county, seed=int(queries.meta(session)["seed"]),
            now=local_now(), catalog=ctx.catalog,
            request_catalog=load_request_catalog(ctx.settings.catalog_dir),
            care_rules=load_priority_rules(ctx.settings.catalog_dir))
        session.commit()
    with running_server(ctx) as url:
        yield url, ctx
    ctx.close()


@pytest.fixture
def device(chromium: Any, tmp_path: Path) -> Iterator[Any]:
    """A browser profile on disk, as an installed app has (Chromium does not install
    from an incognito profile), with service workers allowed; launched by the test
    session's Playwright."""
    context = chromium.browser_type.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
        locale="zh-CN", service_workers="allow", viewport={"width": 1280, "height": 900})
    yield context
    context.close()


def _worker(ctx: Context) -> tuple[int, list[int], list[int], list[int]]:
    """demo_worker's id, a submitted and an accepted request of their queue (one is
    accepted here if none is), and two facilities of their first community on /upkeep."""
    catalog = load_request_catalog(ctx.settings.catalog_dir)
    with ctx.sessions() as session:
        user = user_by_username(session, "demo_worker")
        rows = session.scalars(rs.queue_query(user)).all()
        submitted = [r.id for r in rows if r.status == "submitted"]
        accepted = [r.id for r in rows if r.status == "accepted"]
        if not accepted:
            row = session.get(ServiceRequest, submitted.pop())
            assert row is not None
            rs.act(session, catalog, row, user=user, action="accept")
            session.commit()
            accepted = [row.id]
        return user.id, submitted, accepted, []


def _events(ctx: Context, request_id: int) -> list[str]:
    with ctx.sessions() as session:
        return list(session.scalars(select(ServiceRequestEvent.action).where(
            ServiceRequestEvent.request_id == request_id).order_by(ServiceRequestEvent.id)))


def _facility(ctx: Context, facility_id: int) -> Facility:
    with ctx.sessions() as session:
        found = session.get(Facility, facility_id)
        assert found is not None
        session.expunge(found)
        return found


def _sign_in(page: Any, origin: str) -> None:
    page.goto(f"{origin}/login?lang=zh-CN")
    page.fill("#username", "demo_worker")
    page.fill("#password", DEMO_PASSWORD)
    with page.expect_navigation():
        page.click("[data-testid=login-form] button[type=submit]")
    assert "/login" not in page.url


def _outbox(page: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = page.evaluate("ShequOffline.entries()")
    return entries


# Move the device's record of the last confirmed sign-in back by some hours.
SIGNED_IN_HOURS_AGO = """(hours) => new Promise((resolve, reject) => {
  const open = indexedDB.open("shequ-offline", 1);
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    const transaction = db.transaction("meta", "readwrite");
    const store = transaction.objectStore("meta");
    const get = store.get("session");
    get.onsuccess = () => store.put({...get.result, signedInAt: Date.now() - hours * 3600e3});
    transaction.oncomplete = () => { db.close(); resolve(true); };
    transaction.onerror = () => reject(transaction.error);
  };
})"""


def _until_sent(page: Any, seconds: float = 30) -> None:
    """Wait until no entry of the outbox waits any more."""
    deadline = time.monotonic() + seconds
    while any(e["status"] == "waiting" for e in _outbox(page)):
        assert time.monotonic() < deadline, _outbox(page)
        page.wait_for_timeout(200)


@pytest.mark.browser
def test_a_worker_without_signal_loses_nothing_and_overwrites_nothing(
        live: tuple[str, Context], device: Any) -> None:
    origin, ctx = live
    user_id, submitted, accepted, _ = _worker(ctx)
    to_accept, to_resolve = submitted[0], accepted[0]
    page = device.new_page()
    _sign_in(page, origin)

    # Installable: Chromium's own criteria (manifest, icons, service worker) on the
    # workbench, once the service worker controls it.
    page.goto(f"{origin}/work")
    page.wait_for_selector("body[data-offline-ready=true]", timeout=30000)
    cdp = device.new_cdp_session(page)
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [] and manifest["url"].endswith("/manifest.webmanifest")

    # Connected, the worker opens their queue and the upkeep page (kept by the service
    # worker as they are drawn, with the versions of what they show).
    page.goto(f"{origin}/services/queue")  # keeps each request it lists, too
    page.wait_for_selector("body[data-offline-ready=true]", timeout=30000)
    page.goto(f"{origin}/upkeep")
    rows = page.locator("form[id^=edit-]")
    assert rows.count() >= 2
    first, second = (int(rows.nth(i).get_attribute("id").removeprefix("edit-"))
                     for i in range(2))
    before_first, before_second = _facility(ctx, first), _facility(ctx, second)

    # Without signal: the kept pages open, and each write waits on the device.
    device.set_offline(True)
    page.goto(f"{origin}/services/queue")
    page.select_option(f"[data-testid=action-{to_accept}]", "accept")
    page.click(f"[data-testid=do-{to_accept}]")
    page.wait_for_selector("[data-testid=offline-queued]")
    # The kept queue shows the request as the waiting step leaves it: accepted, waiting
    # to be sent, with an accepted request's steps (resolve among them, accept not).
    status = page.locator(f"[data-testid=queue-status-{to_accept}][data-pending=true]")
    status.wait_for()
    assert status.get_attribute("data-status") == "accepted"
    assert status.inner_text() == "已受理 · 待发送"
    offered = page.locator(f"[data-testid=action-{to_accept}] option")
    assert offered.evaluate_all("os => os.map(o => o.value)") == [
        "assign", "start", "update", "resolve", "close"]
    assert page.locator(f"[data-testid=pending-{to_accept}]").inner_text().startswith(
        "本设备上等待联网发送的操作： 受理 · ")
    page.select_option(f"[data-testid=action-{to_accept}]", "resolve")
    page.fill(f"[data-testid=note-{to_accept}]", "离线受理后当场办结")
    page.click(f"[data-testid=do-{to_accept}]")
    page.wait_for_selector("[data-testid=offline-queued]")
    page.locator(f"[data-testid=queue-status-{to_accept}][data-status=resolved]").wait_for()
    # The request's own kept page says the same: resolved after both steps, waiting.
    page.goto(f"{origin}/services/requests/{to_accept}")
    badge = page.locator("[data-testid=status][data-pending=true]")
    badge.wait_for()
    assert (badge.get_attribute("data-status"), badge.inner_text()) == (
        "resolved", "已办结 · 待发送")
    assert page.locator(f"[data-testid=pending-{to_accept}]").inner_text().startswith(
        "本设备上等待联网发送的操作： 受理 → 办结 · ")
    page.goto(f"{origin}/services/requests/{to_resolve}")
    page.select_option(f"[data-testid=action-{to_resolve}]", "resolve")
    page.fill(f"[data-testid=note-{to_resolve}]", "离线处理完毕")
    page.click(f"[data-testid=do-{to_resolve}]")
    page.wait_for_selector("[data-testid=offline-queued]")
    # A second step on the same request, from the same saved page: sent after the first,
    # against the version the first one made, not refused as a conflict with it.
    page.select_option(f"[data-testid=action-{to_resolve}]", "update")
    page.fill(f"[data-testid=note-{to_resolve}]", "回访居民，满意")
    page.click(f"[data-testid=do-{to_resolve}]")
    page.wait_for_selector("[data-testid=offline-queued]")
    page.goto(f"{origin}/upkeep")
    page.fill(f"#f{first}-phone", "0311-88886666")
    page.click(f"[data-testid=save-{first}]")
    page.wait_for_selector("[data-testid=offline-queued]")
    page.fill(f"#f{second}-name", "离线改的名字")
    page.click(f"[data-testid=save-{second}]")
    page.wait_for_selector("[data-testid=offline-queued]")
    assert [e["status"] for e in _outbox(page)] == ["waiting"] * 6
    page.goto(f"{origin}/plan")  # a page not kept for the worker
    assert page.locator("[data-testid=offline-page]").count() == 1
    # Past the offline sign-in bound (72 h after the last sign-in the server confirmed)
    # the kept pages are not shown any more.
    page.evaluate(SIGNED_IN_HOURS_AGO, 73)
    page.goto(f"{origin}/services/queue")
    assert page.locator("[data-testid=offline-page]").count() == 1
    page.evaluate(SIGNED_IN_HOURS_AGO, 71)
    page.goto(f"{origin}/services/queue")
    assert page.locator(f"[data-testid=do-{to_accept}]").count() == 1

    # Nothing reached the server; meanwhile someone else renames the second facility.
    assert _events(ctx, to_accept) == ["submit"]
    resolved_before = _events(ctx, to_resolve)
    assert _facility(ctx, first).phone == before_first.phone
    with ctx.sessions() as session:
        found = session.get(Facility, second)
        assert found is not None
        found.name = "服务器上的新名字"
        session.commit()

    # Back online: the outbox is sent, each write once; the kept queue still open says
    # the steps it showed as waiting are sent.
    device.set_offline(False)
    page.evaluate("ShequOffline.flush()")
    sent_mark = page.locator(f"[data-testid=queue-status-{to_accept}][data-pending=sent]")
    sent_mark.wait_for(timeout=30000)
    assert sent_mark.inner_text() == "已办结 · 已发送"
    assert page.locator(f"[data-testid=do-{to_accept}]").is_disabled()
    page.goto(f"{origin}/offline/outbox")
    _until_sent(page)
    statuses = [(e["url"], e["status"]) for e in _outbox(page)]
    assert statuses == [(f"/services/requests/{to_accept}/act", "sent"),
                        (f"/services/requests/{to_accept}/act", "sent"),
                        (f"/services/requests/{to_resolve}/act", "sent"),
                        (f"/services/requests/{to_resolve}/act", "sent"),
                        (f"/upkeep/facilities/{first}", "sent"),
                        (f"/upkeep/facilities/{second}", "conflict")]
    assert _events(ctx, to_accept) == ["submit", "accept", "resolve"]
    assert _events(ctx, to_resolve) == [*resolved_before, "resolve", "update"]
    assert _facility(ctx, first).phone == "0311-88886666"

    # Sending the whole outbox again, twice, changes nothing: each key's first answer.
    for _ in range(2):
        page.evaluate("""async () => {
            for (const e of await ShequOffline.entries()) {
                if (e.status === 'sent') { e.status = 'waiting'; await ShequOffline.send(e); }
            }
        }""")
    assert [e["status"] for e in _outbox(page)].count("sent") == 5
    assert _events(ctx, to_accept) == ["submit", "accept", "resolve"]
    assert _events(ctx, to_resolve) == [*resolved_before, "resolve", "update"]
    with ctx.sessions() as session:
        keys = session.scalar(select(func.count()).select_from(offline.IdempotencyKey).where(
            offline.IdempotencyKey.user_id == user_id))
    assert keys == 6  # five writes and the refused one, each applied or refused once

    # Online, the queue is the server's again: the request resolved, nothing waiting.
    page.goto(f"{origin}/services/queue")
    shown = page.locator(f"[data-testid=queue-status-{to_accept}]")
    assert (shown.get_attribute("data-status"), shown.inner_text()) == ("resolved", "已办结")
    assert shown.get_attribute("data-pending") is None
    page.goto(f"{origin}/offline/outbox")

    # The conflict shows both versions; the worker keeps the server's.
    page.reload()
    item = page.locator("[data-testid=outbox-item][data-status=conflict]")
    versions = item.locator("[data-testid=conflict-versions]")
    row = versions.locator("tr", has_text="name")
    row.wait_for()  # the outbox is drawn from IndexedDB after the page loads
    assert row.locator("td").all_inner_texts() == ["name", "离线改的名字", "服务器上的新名字"]
    item.locator("[data-testid=keep-server]").click()
    page.wait_for_selector("[data-testid=outbox-item][data-status=dropped]")
    assert _facility(ctx, second).name == "服务器上的新名字"
    assert _facility(ctx, second).phone == before_second.phone

    # Signing out wipes what the device kept.
    page.goto(f"{origin}/work")
    with page.expect_navigation():
        page.click("[data-testid=sign-out]")
    page.wait_for_function("caches.keys().then(k => k.length === 0)", timeout=10000)
    names = page.evaluate("indexedDB.databases().then(ds => ds.map(d => d.name))")
    assert "shequ-offline" not in names
