"""Who will handle a request placed so, and by when, said in the reader's language: what
the report form shows before sending and the API's ``summary``."""

from __future__ import annotations

from shequ import i18n
from shequ.services.requests import service as rs
from shequ.services.requests.definitions import RequestCatalog

LEVEL_KEYS = {1: "services.level_1", 2: "services.level_2", 3: "services.level_3",
              4: "services.level_4", 5: "services.level_5"}


def describe_handling(handling: rs.Handling, catalog: RequestCatalog, lang: str) -> list[str]:
    """The handling in two sentences of the reader's language: which office and why, and
    the time limit with where an overdue request goes."""
    t = i18n.translate
    kind = catalog.service(handling.service_code).name(lang)
    why = t(lang, f"services.handling_why_{handling.reason}", place=handling.place_name,
            facility=handling.facility_name or "")
    who = t(lang, "services.handling_who", kind=kind, office=handling.office_name,
            level=t(lang, LEVEL_KEYS.get(handling.office_level, "services.level_5")))
    hours = i18n.number(handling.deadline_hours, lang)
    when = i18n.datetime_text(handling.deadline_at, lang, form="short")
    if handling.escalates_to_name:
        due = t(lang, "services.handling_due_up", hours=hours, deadline=when,
                up=handling.escalates_to_name)
    else:
        due = t(lang, "services.handling_due", hours=hours, deadline=when)
    return [why + who, due]
