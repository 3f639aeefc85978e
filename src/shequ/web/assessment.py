"""The assessment page: ``/indicators/assessment`` ranks the divisions of one level by
their target-responsibility score, each with how many residents' reviews were given in
the scheme's review window and how many it needs before they count.

It reads :func:`shequ.services.assessment.assessment_scores`, as the JSON API does.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.http.deps import ContextDep, SessionDep
from shequ.indicators.store import latest_run
from shequ.services.assessment import assessment_scores
from shequ.web.forms import failed, typed
from shequ.web.indicators import asked_figures, figures_on
from shequ.web.page import Crumb, PageDep, render

router = APIRouter(include_in_schema=False)
LEVELS = (1, 2, 3, 4, 5)


@router.get("/indicators/assessment", response_class=HTMLResponse)
def assessment_page(page: PageDep, ctx: ContextDep, session: SessionDep) -> HTMLResponse:
    """Scores of one level (the streets and towns by default), best first — of ``year``
    (default the newest) on the hierarchy of the date ``hierarchy`` (default the newest
    run's)."""
    query = {k: v.strip() for k, v in page.request.query_params.items() if k in ("level",)}
    state = typed(query)
    context = {
        "state": state, "found": None,
        "level_options": [(str(n), page.t(f"reporting_rules.level_{n}")) for n in LEVELS],
        "breadcrumbs": [Crumb(page.t("indicators.nav"), "/indicators"),
                        Crumb(page.t("reporting_rules.assessment_title"))]}
    text = query.get("level", "4")
    if not (text.isdigit() and int(text) in LEVELS):
        error = ValidationError([Problem("form", f"{text!r} is not a level", column="level",
                                         code="not_a_choice", params={"value": text})])
        return render(page, "assessment.html", {
            **context, "state": failed(state, error, page.lang)}, status_code=422)
    try:
        year, hierarchy = asked_figures(page)
    except ValidationError as error:
        return render(page, "assessment.html", {
            **context, "state": failed(state, error, page.lang)}, status_code=422)
    try:
        run = latest_run(session, hierarchy=hierarchy)
        found = assessment_scores(session, level=int(text),
                                  catalog_dir=ctx.settings.catalog_dir, hierarchy=hierarchy,
                                  period=year)
    except NotFoundError:  # nothing computed yet: say so on the page
        if hierarchy is not None:
            raise
        return render(page, "assessment.html", {**context, "level": int(text)})
    start, end = found.review_window
    return render(page, "assessment.html", {
        **context, **figures_on(session, run, year=year, hierarchy=hierarchy),
        "found": found, "level": int(text), "window_from": start,
        "window_to": end.fromordinal(end.toordinal() - 1)})


__all__ = ["router"]
