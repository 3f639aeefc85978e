"""GeoReport v2 shapes: service list, service definitions, requests, errors, as JSON-ready
records and as XML (the standard's mandatory format).  Pure: no database, no HTTP."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree as ET

from shequ.registry.columns import CHINA_TZ
from shequ.services.requests.definitions import ServiceDefinition
from shequ.services.requests.models import ServiceRequest
from shequ.services.requests.workflow import open311_status

Record = dict[str, Any]
STATUS_NOTES_ZH = {
    "submitted": "已提交，等待受理", "accepted": "已受理", "assigned": "已派单",
    "in_progress": "处理中", "resolved": "已办结，待确认", "closed": "已关闭",
}
STATUS_NOTES_EN = {
    "submitted": "submitted, awaiting acceptance", "accepted": "accepted",
    "assigned": "assigned to a worker", "in_progress": "in progress",
    "resolved": "resolved, awaiting confirmation", "closed": "closed",
}


def w3c(value: dt.datetime | None) -> str | None:
    """ISO 8601 with the China Standard Time offset, e.g. ``2026-11-28T09:30:00+08:00``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(CHINA_TZ).isoformat(timespec="seconds")


def service_record(definition: ServiceDefinition, lang: str) -> Record:
    """One entry of ``GET services``."""
    return {"service_code": definition.code, "service_name": definition.name(lang),
            "description": definition.description(lang),
            "metadata": bool(definition.attributes), "type": "realtime",
            "keywords": ",".join(definition.keywords), "group": definition.group(lang)}


def definition_record(definition: ServiceDefinition, lang: str) -> Record:
    """``GET services/{code}``: the service's questions."""
    return {"service_code": definition.code, "attributes": [
        {"variable": True, "code": a.code, "datatype": a.datatype, "required": a.required,
         "datatype_description": "", "order": a.order, "description": a.description(lang),
         "values": [{"key": v.key, "name": v.name(lang)} for v in a.values]}
        for a in sorted(definition.attributes, key=lambda a: (a.order, a.code))]}


def request_record(request: ServiceRequest, definition: ServiceDefinition, lang: str, *,
                   agency: str | None = None) -> Record:
    """One entry of ``GET requests`` (public fields only: no contact data)."""
    notes = (STATUS_NOTES_ZH if lang.startswith("zh") else STATUS_NOTES_EN)[request.status]
    if request.status_notes:
        notes = f"{notes}: {request.status_notes}"
    return {
        "service_request_id": str(request.id), "status": open311_status(request.status),
        "status_notes": notes, "service_name": definition.name(lang),
        "service_code": request.service_code,
        "description": request.description if definition.public else None,
        "agency_responsible": agency or request.responsible_code, "service_notice": None,
        "requested_datetime": w3c(request.requested_at),
        "updated_datetime": w3c(request.updated_at),
        "expected_datetime": w3c(request.deadline_at),
        "address": request.address, "address_id": None, "zipcode": None,
        "lat": request.latitude, "long": request.longitude,
        "media_url": request.media_url,
    }


def attributes_of(request: ServiceRequest) -> dict[str, str]:
    """The stored answers to the service's questions."""
    value = json.loads(request.attributes or "{}")
    return {str(k): str(v) for k, v in value.items()}


def _add(parent: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, Mapping):
        child = ET.SubElement(parent, name)
        for key, inner in value.items():
            _add(child, key, inner)
        return
    if isinstance(value, list):
        holder = ET.SubElement(parent, name)
        item_name = {"attributes": "attribute", "values": "value"}.get(name, name.rstrip("s"))
        for inner in value:
            _add(holder, item_name, inner)
        return
    child = ET.SubElement(parent, name)
    if value is None:
        return
    child.text = ("true" if value else "false") if isinstance(value, bool) else str(value)


def to_xml(root: str, item: str | None, body: Sequence[Record] | Record) -> bytes:
    """An XML document: ``<root><item>…</item>…</root>`` for lists, ``<root>…</root>`` for
    one record."""
    element = ET.Element(root)
    if item is None:
        assert isinstance(body, Mapping)
        for key, value in body.items():
            _add(element, key, value)
    else:
        for record in body:
            _add(element, item, record)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + bytes(
        ET.tostring(element, encoding="unicode").encode())


def error_records(code: int, messages: Sequence[str]) -> list[Record]:
    """GeoReport errors: ``[{"code": 400, "description": "…"}]``."""
    return [{"code": code, "description": m} for m in messages]
