"""Registry facilities as Open Referral HSDS 3.0 records (pure mapping, no database).

One facility is one service (what it offers), one physical location (where) and one
service-at-location (the pair); its operator is the organization, or its community's
committee when no operator is named.  The facility type catalog is the taxonomy: service
areas are top terms, facility types their children.  Fields Shequ does not know are
omitted, never sent as null (the schemas type them as strings).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from shequ.catalog import FacilityType
from shequ.registry.models import Facility, FacilityStatus
from shequ.services.directory.ids import TAXONOMY_ID, hsds_id
from shequ.services.directory.models import DirectoryEntry
from shequ.services.directory.opening import weekly_rules

Record = dict[str, Any]

SERVICE_STATUS = {
    FacilityStatus.IN_SERVICE.value: "active",
    FacilityStatus.CLOSED.value: "defunct",
    FacilityStatus.PLANNED.value: "inactive",
    FacilityStatus.UNDER_CONSTRUCTION.value: "inactive",
    FacilityStatus.ACCEPTED.value: "inactive",
}
AREA_NAMES = {
    "elderly": ("养老服务", "Elderly care"), "childcare": ("托育服务", "Childcare"),
    "education": ("教育", "Education"), "health": ("卫生健康", "Health"),
    "culture": ("文化", "Culture"), "sports": ("体育", "Sports"),
    "convenience": ("便民服务", "Convenience services"),
    "administration": ("政务服务", "Government services"),
    "comprehensive": ("综合服务", "Comprehensive services"),
}


def _name(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang.startswith("zh") else pair[1]


def area_term_id(area: str) -> str:
    """The taxonomy term id of a service area (a top term)."""
    return hsds_id("taxonomy_term", f"area:{area}")


def type_term_id(type_code: str) -> str:
    """The taxonomy term id of a facility type."""
    return hsds_id("taxonomy_term", f"type:{type_code}")


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def _drop_none(record: Record) -> Record:
    return {k: v for k, v in record.items() if v is not None}


def taxonomy(lang: str) -> Record:
    """The one taxonomy Shequ publishes: its facility type catalog."""
    return {"id": TAXONOMY_ID,
            "name": "社区服务设施类型" if lang.startswith("zh") else "Shequ facility types",
            "description": ("城乡社区服务设施类型目录（服务领域与设施类型）"
                            if lang.startswith("zh") else
                            "Shequ's catalog of community service facility types: service "
                            "areas and the facility types under them"),
            "version": "1"}


def taxonomy_terms(types: Iterable[FacilityType], lang: str) -> list[Record]:
    """Service areas (top terms) then facility types (children), in catalog order."""
    types = list(types)
    areas = list(dict.fromkeys(t.service_area for t in types))
    terms: list[Record] = []
    for area in areas:
        names = AREA_NAMES.get(area, (area, area))
        terms.append({"id": area_term_id(area), "code": area, "name": _name(names, lang),
                      "description": _name(names, lang), "taxonomy": "shequ-facility-types",
                      "taxonomy_id": TAXONOMY_ID, "language": lang})
    for ftype in types:
        terms.append({"id": type_term_id(ftype.code), "code": ftype.code,
                      "name": ftype.name(lang),
                      "description": f"{ftype.name(lang)} ({ftype.tier})",
                      "parent_id": area_term_id(ftype.service_area),
                      "taxonomy": "shequ-facility-types", "taxonomy_id": TAXONOMY_ID,
                      "language": lang})
    return terms


def schedules(facility: Facility, *, service_id: str | None = None,
              location_id: str | None = None) -> list[Record]:
    """HSDS schedules from the OSM opening hours: weekly rules when simple, else one
    schedule whose description carries the OSM text."""
    text = facility.opening_hours
    if not text:
        return []
    owner = service_id or location_id or ""
    rules = weekly_rules(text)
    if not rules:
        return [_drop_none({"id": hsds_id("schedule", f"{owner}:0"), "service_id": service_id,
                            "location_id": location_id, "description": text,
                            "notes": "OSM opening_hours"})]
    return [_drop_none({"id": hsds_id("schedule", f"{owner}:{i}"), "service_id": service_id,
                        "location_id": location_id, "freq": "WEEKLY", "wkst": "MO",
                        "byday": byday, "opens_at": opens, "closes_at": closes,
                        "timezone": 8, "description": text})
            for i, (byday, opens, closes) in enumerate(rules)]


def service_record(facility: Facility, entry: DirectoryEntry, ftype: FacilityType | None,
                   lang: str, *, full: bool = False, organization: Record | None = None,
                   location: Record | None = None, distance_m: float | None = None,
                   open_now: bool | None = None) -> Record:
    """The HSDS service of ``facility`` (one-to-one fields; nested ones when ``full``).

    ``distance_m`` and ``open_now`` are the Shequ profile's additions to service.
    """
    type_name = ftype.name(lang) if ftype else facility.type_code
    record: Record = _drop_none({
        "id": entry.service_uuid,
        "organization_id": entry.organization_uuid,
        "name": facility.name,
        "alternate_name": type_name,
        "description": type_name + ("（合成数据）" if facility.synthetic and lang.startswith("zh")
                                    else " (synthetic data)" if facility.synthetic else ""),
        "status": SERVICE_STATUS.get(facility.status, "inactive"),
        "last_modified": _iso(facility.updated_at),
        "distance_m": None if distance_m is None else round(distance_m, 1),
        "open_now": open_now,
    })
    if not full:
        return record
    record["phones"] = ([{"id": hsds_id("phone", entry.service_uuid),
                          "service_id": entry.service_uuid, "number": facility.phone}]
                        if facility.phone else [])
    record["schedules"] = schedules(facility, service_id=entry.service_uuid)
    sal = service_at_location_record(facility, entry, full=False)
    if location is not None:
        sal["location"] = location
    record["service_at_locations"] = [sal]
    if organization is not None:
        record["organization"] = organization
    record["attributes"] = [_type_attribute(entry.service_uuid, facility.type_code, ftype,
                                            lang)]
    return record


def _type_attribute(link_id: str, type_code: str, ftype: FacilityType | None,
                    lang: str) -> Record:
    term = _drop_none({"id": type_term_id(type_code), "code": type_code,
                       "name": ftype.name(lang) if ftype else type_code,
                       "description": ftype.name(lang) if ftype else type_code,
                       "parent_id": area_term_id(ftype.service_area) if ftype else None,
                       "taxonomy": "shequ-facility-types", "taxonomy_id": TAXONOMY_ID})
    return {"id": hsds_id("attribute", f"{link_id}:type"), "link_id": link_id,
            "link_type": "facility_type", "link_entity": "service",
            "taxonomy_term_id": term["id"], "value": type_code, "taxonomy_term": term}


def location_record(facility: Facility, entry: DirectoryEntry, *, full: bool = False,
                    address_parts: Mapping[str, str] | None = None) -> Record:
    """The HSDS physical location of ``facility``; address from the division chain when
    ``full`` (the registry holds no postal codes, so ``postal_code`` is empty)."""
    record: Record = _drop_none({
        "id": entry.location_uuid, "location_type": "physical",
        "organization_id": entry.organization_uuid, "name": facility.name,
        "description": facility.address, "latitude": facility.latitude,
        "longitude": facility.longitude, "external_identifier": str(facility.id),
        "external_identifier_type": "shequ-facility-id",
    })
    if full:
        record["schedules"] = schedules(facility, location_id=entry.location_uuid)
        if address_parts is not None:
            record["addresses"] = [{
                "id": hsds_id("address", entry.location_uuid),
                "location_id": entry.location_uuid,
                "address_1": facility.address or facility.name,
                "address_2": address_parts.get("township", ""),
                "city": address_parts.get("county", ""),
                "region": address_parts.get("prefecture", ""),
                "state_province": address_parts.get("province", ""),
                "postal_code": "", "country": "CN", "address_type": "physical"}]
    return record


def service_at_location_record(facility: Facility, entry: DirectoryEntry, *,
                               full: bool = False, location: Record | None = None) -> Record:
    """The HSDS service-at-location pairing the facility's service and location."""
    record: Record = {"id": entry.service_at_location_uuid,
                      "service_id": entry.service_uuid, "location_id": entry.location_uuid}
    if full:
        record["schedules"] = schedules(facility, service_id=entry.service_uuid,
                                        location_id=entry.location_uuid)
        if location is not None:
            record["location"] = location
    return record


def organization_record(organization_uuid: str, key: str, name: str, lang: str, *,
                        services: list[Record] | None = None) -> Record:
    """An HSDS organization: a named operator, or a community's committee."""
    if key.startswith("division:"):
        description = ("社区（村）居民委员会，运营本社区未注明运营方的设施"
                       if lang.startswith("zh") else
                       "The community's committee, running its facilities with no named operator")
    else:
        description = ("社区服务设施运营方" if lang.startswith("zh")
                       else "Operator of community service facilities")
    record: Record = {"id": organization_uuid, "name": name, "description": description}
    if services is not None:
        record["services"] = services
    return record


def page(contents: list[Record], *, total: int, page_number: int, per_page: int) -> Record:
    """An HSDS paginated list (``Page`` of the OpenAPI document)."""
    total_pages = max(1, -(-total // per_page)) if per_page else 1
    return {"total_items": total, "total_pages": total_pages, "page_number": page_number,
            "size": len(contents), "first_page": page_number == 1,
            "last_page": page_number >= total_pages, "empty": not contents,
            "contents": contents}
