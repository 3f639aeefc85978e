"""Shequ as an app installed on a worker's phone, usable where the signal is weak.

- ``/manifest.webmanifest``: the installable app's name, icons (maskable, 192 and 512 px
  drawn by ``frontend/app_icons.py``), colours and first page.
- ``/sw.js``: the service worker, at the root so its scope is the whole site.  Built from
  Workbox's modules served by Shequ (``static/vendor/workbox``, from npm): the app shell
  precached by content hash, and for a signed-in worker the pages of their own
  jurisdiction (queue, each request, workbench, ``/upkeep``, the volunteer hours to
  confirm, the reporting round's forms) kept network-first with the saved copy as
  fallback for :attr:`Settings.offline_signin_hours` after the last sign-in the server
  confirmed.  The file is ``static/sw.js`` after one line of settings (the precache list,
  the bound and the saved pages).
- ``/offline``: the page shown for an address not saved on the device.
- ``/offline/outbox``: the writes queued on the device (``static/offline.js`` keeps them
  in IndexedDB with an idempotency key each): waiting, sent, failed with the reason, and
  each conflict with both versions and the worker's choice.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

from shequ import __version__
from shequ.http.deps import ContextDep
from shequ.web.page import STATIC_DIR, Crumb, PageDep, SignedInPage, render

router = APIRouter(include_in_schema=False)

THEME = "#b42318"  # the brand red of favicon.svg
ICON_SIZES = (192, 512)
# The app shell: every page's own files, saved when the worker installs the app.
SHELL_FILES = ("shequ.css", "shequ.js", "offline.js", "favicon.svg", "icon-192.png",
               "icon-512.png")
# The pages the service worker keeps for a signed-in worker (regular expressions on the
# path; the worker's own jurisdiction is what the server draws on them).
SAVED_PAGES = (r"^/work$", r"^/services/queue$", r"^/services/requests/\d+$",
               r"^/upkeep$", r"^/offline/outbox$", r"^/volunteers/manage$",
               r"^/reporting$", r"^/reporting/rounds/\d+$",
               r"^/reporting/rounds/\d+/forms/\d{12}$")
SW_SCRIPT = STATIC_DIR / "sw.js"
# The worker's own policy (a script's response policy applies to the worker it starts):
# Workbox's modules and every fetch from Shequ itself, nothing else.
WORKER_POLICY = ("default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; "
                 "style-src 'self'; font-src 'self'")


@lru_cache(maxsize=64)
def _revision(name: str, size: int, mtime: float) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:16]


def precache_list() -> list[dict[str, str]]:
    """The shell files with a revision each (their content's hash), and the offline page
    (revised with Shequ's version)."""
    entries = []
    for name in SHELL_FILES:
        stat = (STATIC_DIR / name).stat()
        entries.append({"url": f"/static/{name}",
                        "revision": _revision(name, stat.st_size, stat.st_mtime)})
    entries.append({"url": "/offline", "revision": __version__})
    return entries


@router.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest (Chromium's install criteria: name, icons, start URL,
    standalone display, a service worker with a fetch handler)."""
    icons = [{"src": f"/static/icon-{size}.png", "sizes": f"{size}x{size}",
              "type": "image/png", "purpose": purpose}
             for size in ICON_SIZES for purpose in ("any", "maskable")]
    body = {
        "id": "/", "name": "社区 Shequ", "short_name": "社区",
        "description": "城乡社区服务系统 · Urban and rural community services",
        "lang": "zh-CN", "start_url": "/work", "scope": "/", "display": "standalone",
        "background_color": "#ffffff", "theme_color": THEME, "icons": icons,
    }
    return JSONResponse(body, media_type="application/manifest+json",
                        headers={"Cache-Control": "no-cache"})


@router.get("/sw.js")
def service_worker(ctx: ContextDep) -> Response:
    """The service worker: its settings, then ``static/sw.js``.  Never cached by HTTP, so
    that a new Shequ reaches the devices at their next visit."""
    settings = {"precache": precache_list(), "signinHours": ctx.settings.offline_signin_hours,
                "savedPages": list(SAVED_PAGES), "version": __version__}
    text = (f"self.SHEQU_OFFLINE = {json.dumps(settings, ensure_ascii=False)};\n"
            + SW_SCRIPT.read_text(encoding="utf-8"))
    return Response(text, media_type="text/javascript",
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/",
                             "Content-Security-Policy": WORKER_POLICY})


@router.get("/offline", response_class=HTMLResponse)
def offline_page(page: PageDep) -> HTMLResponse:
    """What a device without signal shows for a page it has not saved."""
    return render(page, "offline.html", {
        "breadcrumbs": [Crumb(page.t("common.home"), "/"), Crumb(page.t("offline.title"))]})


@router.get("/offline/outbox", response_class=HTMLResponse)
def outbox_page(page: SignedInPage) -> HTMLResponse:
    """The writes waiting on this device (drawn by ``static/offline.js`` from IndexedDB)."""
    return render(page, "offline_outbox.html", {
        "breadcrumbs": [Crumb(page.t("common.workbench"), "/work"),
                        Crumb(page.t("offline.outbox"))]})
