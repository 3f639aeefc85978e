"""The planner's indicator page (/indicators): a division's indicators against their
targets from the newest stored run, the chosen indicator's trend over the years with its
target and projection, its child divisions ranked against the target and on a map (a
click drills down), and the short boards below it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from shequ import i18n
from shequ.errors import NotFoundError, Problem, ValidationError
from shequ.http.deps import ContextDep, SessionDep
from shequ.indicators.definitions import NATION_CODE, Indicator, load_indicator_catalog
from shequ.indicators.models import IndicatorRun
from shequ.indicators.store import latest_run, run_hierarchies
from shequ.indicators.views import ChildLine, Dashboard, IndicatorLine, dashboard
from shequ.registry import queries
from shequ.registry.codes import code_prefix
from shequ.services.reporting.service import reporting_config, resting_on_unapproved
from shequ.web.divisions import division_of, hierarchy_crumbs
from shequ.web.maps import residents_under
from shequ.web.page import Crumb, Page, PageDep, render

router = APIRouter(include_in_schema=False)

# Statuses as chips with white words (each at least 4.5:1 against white) and as the map's
# circles, in the same colours.
STATUS_COLOURS = {"met": "#17723b", "on_track": "#4d7c0f", "at_risk": "#b45309",
                  "behind": "#b42318", "no_target": "#5f6b76", "no_data": "#6b7280"}
STATUSES = tuple(STATUS_COLOURS)
# The catalog's units (written as the national plan writes them) and their messages;
# a unit a deployment adds that is not here is shown as written.
UNIT_KEYS = {
    "%": "indicators.unit_percent",
    "m²/100户": "indicators.unit_m2_per_100_households",
    "人/万人": "indicators.unit_per_10000_residents",
    "个/千人": "indicators.unit_places_per_1000_residents",
    "个/千名婴幼儿": "indicators.unit_places_per_1000_infants",
    "张/千名老人": "indicators.unit_beds_per_1000_elderly",
}
DIRECTION_SIGNS = {">=": "≥", "<=": "≤", "=": "="}


def unit_text(page: Page, unit: str) -> str:
    """An indicator's unit in the page's language."""
    key = UNIT_KEYS.get(unit)
    return page.t(key) if key else unit


def digits_for(values: list[float | None]) -> int:
    """Decimals shown for a set of values: one from 100 up, else two."""
    shown = [abs(v) for v in values if v is not None]
    return 1 if shown and max(shown) >= 100 else 2


def value_text(page: Page, value: float | None) -> str:
    """A value as the table shows it: one decimal from 100 up, else two."""
    if value is None:
        return "—"
    return i18n.number(value, page.lang, digits=digits_for([value]))


def trend_data(page: Page, board: Dashboard, chosen: Indicator,
               line: IndicatorLine | None) -> dict[str, Any]:
    """The chosen indicator's values by year (charts.html's ``trend``), with the
    target as a line and the linear projection from the last year to the target year
    as a second series."""
    years = [year for year, _ in board.trend]
    values = [value for _, value in board.trend]
    series: list[dict[str, Any]] = [{"name": page.t("indicators.series_values"),
                                     "values": list(values)}]
    projected = None if line is None else line.projected
    observed = [i for i, v in enumerate(values) if v is not None]
    if projected is not None and observed and chosen.target_year not in years:
        years.append(chosen.target_year)
        series[0]["values"].append(None)
        projection: list[float | None] = [None] * len(years)
        projection[observed[-1]] = values[observed[-1]]
        projection[-1] = projected
        series.append({"name": page.t("indicators.series_projected",
                                      year=chosen.target_year), "values": projection})
    data: dict[str, Any] = {
        "axis": page.t("indicators.year"), "categories": [str(y) for y in years],
        "series": series, "unit": unit_text(page, chosen.unit),
        "digits": digits_for([*values, projected]),
    }
    if line is not None and line.target is not None:
        data["target"] = {"name": page.t("indicators.target_of_year",
                                         year=chosen.target_year), "value": line.target}
    return data


def ranking_data(page: Page, children: tuple[ChildLine, ...], chosen: Indicator
                 ) -> dict[str, Any]:
    """The child divisions ranked by the chosen indicator (charts.html's ``ranking``),
    with the target as a marker when every child with a target has the same one."""
    targets = {c.target for c in children if c.target is not None}
    data: dict[str, Any] = {
        "axis": page.t("indicators.division"), "value_name": chosen.name(page.lang),
        "items": [{"name": c.place.name, "value": c.value} for c in children],
        "direction": chosen.direction, "unit": unit_text(page, chosen.unit),
        "digits": digits_for([c.value for c in children]),
    }
    if len(targets) == 1:
        data["target"] = {"name": page.t("indicators.target"), "value": targets.pop()}
    return data


def asked_figures(page: Page) -> tuple[int | None, dt.date | None]:
    """The year and the hierarchy date the page's URL asks for (``year``, ``hierarchy``;
    empty: the newest), each refused with its problem when it is not one."""
    params = page.request.query_params
    year_text = (params.get("year") or "").strip()
    date_text = (params.get("hierarchy") or "").strip()
    problems = []
    year = int(year_text) if year_text.isdigit() else None
    if year_text and year is None:
        problems.append(Problem("query", f"{year_text!r} is not a year", column="year",
                                hint="e.g. 2021", code="indicators.bad_year",
                                params={"value": year_text}))
    hierarchy = None
    if date_text:
        try:
            hierarchy = dt.date.fromisoformat(date_text)
        except ValueError:
            problems.append(Problem("query", f"{date_text!r} is not a date",
                                    column="hierarchy", hint="YYYY-MM-DD",
                                    code="indicators.bad_hierarchy", params={"value": date_text}))
    if problems:
        raise ValidationError(problems)
    return year, hierarchy


def figures_on(session: Session, run: IndicatorRun, *, year: int | None,
               hierarchy: dt.date | None) -> dict[str, Any]:
    """The control asking for year Y's figures on the hierarchy of date H (the stored
    runs' hierarchy dates and the chosen run's years), and the query that keeps the
    choice in every link of the page."""
    return {"figures_years": sorted((int(p) for p in run.periods.split(",")), reverse=True),
            "figures_hierarchies": run_hierarchies(session),
            "figures_hierarchy": hierarchy, "figures_year": year,
            "keep": {"hierarchy": hierarchy.isoformat() if hierarchy else None,
                     "year": year}}


@router.get("/indicators", response_class=HTMLResponse)
def indicators_page(page: PageDep, ctx: ContextDep, session: SessionDep, *,
                    division: str | None = None, indicator: str | None = None
                    ) -> HTMLResponse:
    """Indicators vs targets for a division, drill-down to its children, charts, map,
    short boards — of ``year`` (default the newest) on the hierarchy of the date
    ``hierarchy`` (default the newest run's)."""
    catalog = load_indicator_catalog(ctx.settings.catalog_dir)
    if indicator is not None and indicator not in catalog.indicators:
        raise NotFoundError(f"no indicator {indicator!r} in the catalog",
                            code="indicators.unknown_indicator", params={"indicator": indicator})
    year, hierarchy = asked_figures(page)
    try:
        run = latest_run(session, hierarchy=hierarchy)
    except NotFoundError:  # nothing computed yet: say so on the page, not as an error
        if hierarchy is not None:
            raise
        return render(page, "indicators.html", {"board": None, "breadcrumbs": [
            Crumb(page.t("common.nation"))]})
    on = figures_on(session, run, year=year, hierarchy=hierarchy)
    region = queries.meta(session).get("region_code")
    unit = division_of(session, division if division is not None else region,
                       error_code="indicators.unknown_division", as_of=run.as_of)
    board = dashboard(session, catalog, NATION_CODE if unit is None else unit.code,
                      indicator=indicator, lang=page.lang, run_id=run.id, period=year)
    chosen = catalog.indicator(board.indicator)
    line = next((item for item in board.lines if item.code == chosen.code), None)
    names = {board.place.code: board.place.name, **{a.code: a.name for a in board.ancestors},
             NATION_CODE: page.t("common.nation")}
    trail = [(a.code, a.name) for a in board.ancestors]
    if unit is not None:
        trail.append((board.place.code, board.place.name))
    residents = residents_under(session, [(c.place.code, c.place.level) for c in board.children],
                                period=board.period, as_of=hierarchy)
    points = [{"code": c.place.code, "name": c.place.name, "lon": c.place.longitude,
               "lat": c.place.latitude, "value": c.value,
               "residents": residents.get(c.place.code, 0), "state": c.status or "no_data",
               "status": page.t(f"indicators.status_{c.status or 'no_data'}"),
               "colour": STATUS_COLOURS.get(c.status or "no_data", STATUS_COLOURS["no_data"])}
              for c in board.children if c.place.longitude is not None]
    values = [c.value for c in board.children if c.value is not None]
    # communities whose registry figures of the year rest on forms no sign-off holds:
    # every value of a division holding one is marked
    prefix = code_prefix(board.place.code, board.place.level) if board.place.level else ""
    resting = resting_on_unapproved(session, reporting_config(ctx.settings.catalog_dir),
                                    period=board.period, prefix=prefix)
    unapproved_children = {c.place.code for c in board.children if any(
        code.startswith(code_prefix(c.place.code, c.place.level)) for code in resting)}
    return render(page, "indicators.html", {
        "unapproved": resting, "unapproved_children": unapproved_children,
        "board": board, "chosen": chosen, "chosen_line": line,
        "place_name": names[board.place.code],
        **on,
        "breadcrumbs": hierarchy_crumbs(page, trail, "/indicators", indicator=chosen.code,
                                        **on["keep"]),
        "set_by": lambda code: "—" if code is None else names.get(code, code),
        "unit_text": lambda unit: unit_text(page, unit),
        "value_text": lambda value: value_text(page, value),
        "signs": DIRECTION_SIGNS, "colours": STATUS_COLOURS, "statuses": STATUSES,
        "points": points,
        "value_range": (min(values), max(values)) if values else (0.0, 0.0),
        "synthetic": board.place.synthetic or any(c.place.synthetic for c in board.children),
        "boards": board.short_boards.head(20).to_dicts() if board.short_boards.height else [],
        "trend": trend_data(page, board, chosen, line),
        "ranking": ranking_data(page, board.children, chosen) if board.children else None,
    })


__all__ = ["STATUS_COLOURS", "UNIT_KEYS", "asked_figures", "figures_on", "ranking_data", "router",
           "trend_data"]
