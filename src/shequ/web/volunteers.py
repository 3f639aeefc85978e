"""The volunteering pages: a resident registers, signs up for the activities of their
township and records the time served (``/volunteers``); a case worker confirms the hours
recorded and publishes activities of the communities in their jurisdiction
(``/volunteers/manage``).

Who may do what, the act and its audit row are the use cases of
:mod:`shequ.services.volunteers.service`, shared with the JSON API.  A form that fails is
drawn again with what was typed and each problem beside its field; one that works
redirects with a message key.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from shequ import i18n
from shequ.errors import AccessDenied, NotFoundError, ShequError
from shequ.http.deps import IdPath, SessionDep
from shequ.http.problems import status_for
from shequ.registry.columns import CHINA_TZ
from shequ.registry.queries import communities_under
from shequ.services.accounts import HANDLER_ROLES
from shequ.services.volunteers import service as vs
from shequ.services.volunteers.models import OrganiserKind
from shequ.web.forms import FormState, back, failed, typed
from shequ.web.page import Crumb, Page, SignedInPage, render

router = APIRouter(include_in_schema=False)

# The communities a worker may publish for are offered as a list; a nationwide account
# sees the first ones (by code) and publishes for others through the API.
COMMUNITY_CHOICES = 500


async def posted(request: Request) -> FormState:
    """The posted form as typed (Starlette keeps it for the CSRF check, which reads it
    too)."""
    return typed(await request.form())


Posted = Annotated[FormState, Depends(posted)]


class HoursForm(pydantic.BaseModel):
    """Minutes served, from the record's row."""

    minutes: int = pydantic.Field(ge=1, le=1440)


class RegistrationForm(pydantic.BaseModel):
    """The volunteer registration form."""

    display_name: str = pydantic.Field(min_length=1, max_length=100)
    skills: str = pydantic.Field(default="", max_length=300)


class DecisionForm(pydantic.BaseModel):
    """A worker's decision on recorded hours, the minutes optionally corrected."""

    decision: str = pydantic.Field(pattern="^(confirm|reject)$")
    minutes: int | None = pydantic.Field(default=None, ge=1, le=1440)


def filled(state: FormState, *names: str) -> dict[str, str]:
    """The fields of ``names`` that hold more than blanks (an empty field is left out, so
    that it counts as not given)."""
    return {name: state.values[name].strip() for name in names
            if state.values.get(name, "").strip()}


def problem_status(exc: ShequError | pydantic.ValidationError) -> int:
    """The status of a form drawn again: 422 for its values, else the error's (409 …)."""
    return 422 if isinstance(exc, pydantic.ValidationError) else status_for(exc)


def time_helpers(page: Page) -> dict[str, Any]:
    """Helpers of the templates: the stored times are China wall clock without a zone."""
    def local(value: dt.datetime) -> dt.datetime:
        return value.replace(tzinfo=CHINA_TZ)

    def clock(value: dt.datetime) -> str:
        return i18n.time_text(value.time(), page.lang)

    return {"local": local, "clock": clock}


def _resident_page(page: Page, session: Session, *, form: FormState | None = None,
                   form_for: str | None = None, status_code: int = 200) -> HTMLResponse:
    user = page.require()
    return render(page, "volunteers.html", {
        "view": vs.resident_view(session, user), "form": form, "form_for": form_for,
        "breadcrumbs": [Crumb(page.t("common.home"), "/"),
                        Crumb(page.t("resident_services.volunteers"))],
        **time_helpers(page)}, status_code=status_code)


@router.get("/volunteers", response_class=HTMLResponse)
def volunteers_page(session: SessionDep, page: SignedInPage) -> Response:
    """Residents: register, sign up, record the time served, see the record."""
    return _resident_page(page, session)


@router.post("/volunteers/register-form", response_class=HTMLResponse)
def register_form(session: SessionDep, page: SignedInPage, state: Posted) -> Response:
    """Register from the page."""
    user = page.require()
    try:
        form = RegistrationForm.model_validate(filled(state, "display_name", "skills"))
        vs.register_volunteer(session, user, display_name=form.display_name,
                              skills=form.skills)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied):
            raise
        return _resident_page(page, session, form=failed(state, exc, page.lang,
                                                         session=session),
                              form_for="register", status_code=problem_status(exc))
    return back("/volunteers", message="resident_services.registered")


@router.post("/volunteers/activities/{activity_id}/signup-form",
             response_class=HTMLResponse)
def signup_form(activity_id: IdPath, session: SessionDep, page: SignedInPage) -> Response:
    """Sign up from the page (a full or begun activity is said on the page)."""
    user = page.require()
    try:
        vs.sign_up_for(session, user, activity_id)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        return _resident_page(page, session, form=failed(FormState(), exc, page.lang,
                                                         session=session),
                              form_for=f"signup-{activity_id}",
                              status_code=problem_status(exc))
    return back("/volunteers", message="resident_services.signed_up")


@router.post("/volunteers/signups/{signup_id}/hours-form", response_class=HTMLResponse)
def hours_form(signup_id: IdPath, session: SessionDep, page: SignedInPage,
               state: Posted) -> Response:
    """Record one's own minutes from the page."""
    user = page.require()
    vs.own_signup(session, user, signup_id)
    try:
        form = HoursForm.model_validate(filled(state, "minutes"))
        vs.record_served(session, user, signup_id, form.minutes)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        return _resident_page(page, session, form=failed(
            state, exc, page.lang, fields={"minutes": f"minutes-{signup_id}"},
            session=session), form_for=f"hours-{signup_id}", status_code=problem_status(exc))
    return back("/volunteers", message="resident_services.hours_recorded")


def _organiser_page(page: Page, session: Session, *, form: FormState | None = None,
                    form_for: str | None = None, status_code: int = 200) -> HTMLResponse:
    user = page.require(*HANDLER_ROLES)
    view = vs.organiser_view(session, user)
    communities = communities_under(session, view.prefix, limit=COMMUNITY_CHOICES)
    return render(page, "volunteers_manage.html", {
        "view": view, "form": form, "form_for": form_for,
        "communities": [(c.code, f"{c.name}（{c.code}）" if page.lang == "zh-CN"
                         else f"{c.name} ({c.code})") for c in communities],
        "default_division": user.jurisdiction_code or "",
        "organiser_kinds": [(OrganiserKind.COMMUNITY.value,
                             page.t("resident_services.organiser_community")),
                            (OrganiserKind.SOCIAL_ORGANISATION.value,
                             page.t("resident_services.organiser_social"))],
        "breadcrumbs": [Crumb(page.t("common.home"), "/"),
                        Crumb(page.t("resident_services.volunteers"), "/volunteers"),
                        Crumb(page.t("resident_services.hours_to_confirm"))],
        **time_helpers(page)}, status_code=status_code)


@router.get("/volunteers/manage", response_class=HTMLResponse)
def volunteers_manage_page(session: SessionDep, page: SignedInPage) -> Response:
    """Case workers: confirm hours, publish activities."""
    return _organiser_page(page, session)


@router.post("/volunteers/publish-form", response_class=HTMLResponse)
def publish_form(session: SessionDep, page: SignedInPage, state: Posted) -> Response:
    """Publish from the worker's page."""
    user = page.require(*HANDLER_ROLES)
    try:
        draft = vs.ActivityDraft.model_validate(filled(
            state, "division_code", "organiser_kind", "organiser_name", "title", "starts_at",
            "ends_at", "places", "description"))
        vs.publish_activity(session, user, draft)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied):
            raise
        return _organiser_page(page, session, form=failed(state, exc, page.lang,
                                                          session=session),
                               form_for="publish", status_code=problem_status(exc))
    return back("/volunteers/manage", message="resident_services.published")


@router.post("/volunteers/signups/{signup_id}/confirm-form", response_class=HTMLResponse)
def confirm_form(signup_id: IdPath, session: SessionDep, page: SignedInPage,
                 state: Posted) -> Response:
    """Confirm or reject hours from the worker's page."""
    user = page.require(*HANDLER_ROLES)
    try:
        form = DecisionForm.model_validate(filled(state, "decision", "minutes"))
        vs.decide_hours(session, user, signup_id, approve=form.decision == "confirm",
                        minutes=form.minutes)
    except (ShequError, pydantic.ValidationError) as exc:
        if isinstance(exc, AccessDenied | NotFoundError):
            raise
        return _organiser_page(page, session, form=failed(
            state, exc, page.lang, fields={"minutes": f"minutes-{signup_id}"},
            session=session), form_for=f"confirm-{signup_id}",
            status_code=problem_status(exc))
    return back("/volunteers/manage", message=f"resident_services.hours_{form.decision}ed")
