"""The notification pages: ``/notifications`` (the list behind the bell, mark as read, mark
all) and ``/account/notifications`` (channels, language and quiet hours).  The use cases
are :mod:`shequ.services.notify.service`'s, shared with :mod:`shequ.api.notify`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from shequ.errors import ValidationError
from shequ.http.caller import CurrentUser
from shequ.http.deps import IdPath, SessionDep
from shequ.services.notify import service as notices
from shequ.services.notify.models import NotificationPreference
from shequ.web.forms import FormState, back, failed, typed
from shequ.web.page import Crumb, Page, SignedInPage, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(session: SessionDep, page: SignedInPage) -> Response:
    """The reader's notifications, newest first, unread ones marked."""
    user = page.require()
    unread_only = page.request.query_params.get("unread") == "1"
    before_text = page.request.query_params.get("before", "")
    before = int(before_text) if before_text.isdigit() else None
    rows = notices.notifications_of(session, user, unread_only=unread_only,
                                    limit=PAGE_SIZE, before_id=before)
    items = [(row, notices.message_of(row, page.lang)) for row in rows]
    return render(page, "notify_list.html", {
        "items": items, "unread_only": unread_only,
        "unread": notices.unread_count(session, user.id),
        "older": rows[-1].id if len(rows) == PAGE_SIZE else None,
        "breadcrumbs": [Crumb(page.t("common.home"), "/"), Crumb(page.t("notify.title"))]})


@router.post("/notifications/{notification_id}/read")
def notifications_page_read(notification_id: IdPath, session: SessionDep,
                            user: CurrentUser) -> Response:
    """Mark one notification read and come back to the list."""
    notices.mark_read(session, user, notification_id)
    return back("/notifications", message="notify.marked")


@router.post("/notifications/read-all")
def notifications_page_read_all(session: SessionDep, user: CurrentUser) -> Response:
    """Mark every notification read and come back to the list."""
    notices.mark_all_read(session, user)
    return back("/notifications", message="notify.all_marked")


def _preferences_page(page: Page, pref: NotificationPreference, form: FormState | None = None,
                      *, status_code: int = 200) -> HTMLResponse:
    return render(page, "notify_preferences.html", {
        "pref": pref, "form": form,
        "quiet_start": notices.time_of_day(pref.quiet_start),
        "quiet_end": notices.time_of_day(pref.quiet_end),
        "breadcrumbs": [Crumb(page.t("common.home"), "/"),
                        Crumb(page.t("notify.title"), "/notifications"),
                        Crumb(page.t("notify.prefs_title"))]}, status_code=status_code)


@router.get("/account/notifications", response_class=HTMLResponse)
def preferences_page(session: SessionDep, page: SignedInPage) -> Response:
    """The reader's channels, language and quiet hours."""
    user = page.require()
    pref = notices.preference_of(session, user.id)
    if notices.stored_preference(session, user.id) is None:
        pref.language = page.lang  # never set: offer the language the reader reads in
    return _preferences_page(page, pref)


@router.post("/account/notifications", response_class=HTMLResponse)
async def preferences_page_save(request: Request, session: SessionDep,
                                page: SignedInPage) -> Response:
    """Save the preferences; a refused entry is shown again beside its field."""
    user = page.require()
    form = typed(await request.form())
    try:
        notices.save_preferences(
            session, user, language=form.value("language", page.lang),
            email_on=form.value("email_on") == "1", email=form.value("email"),
            sms_on=form.value("sms_on") == "1", phone=form.value("phone"),
            wechat_on=form.value("wechat_on") == "1",
            wechat_openid=form.value("wechat_openid"),
            quiet_start=form.value("quiet_start"), quiet_end=form.value("quiet_end"))
    except ValidationError as exc:
        failed(form, exc, page.lang, session=session,
               fields={name: name for name in ("email", "phone", "wechat_openid",
                                               "quiet_start", "quiet_end")})
        return _preferences_page(page, notices.preference_of(session, user.id), form,
                                 status_code=422)
    return back("/account/notifications", message="notify.saved")
