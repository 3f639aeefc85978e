"""Deterministic HSDS ids: uuid5 of a Shequ name, so the same registry row always gets the
same UUID on every server and after every rebuild."""

from __future__ import annotations

import uuid

# uuid5(NAMESPACE_URL, "https://shequ.org/hsds") — fixed forever; changing it renames all.
SHEQU_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://shequ.org/hsds")


def hsds_id(kind: str, key: object) -> str:
    """The UUID of the ``kind`` record derived from registry key ``key``."""
    return str(uuid.uuid5(SHEQU_NAMESPACE, f"{kind}:{key}"))


def organization_key(operator_name: str | None, division_code: str) -> str:
    """Facilities name their operator; those without one belong to their community."""
    name = (operator_name or "").strip()
    return name if name else f"division:{division_code}"


TAXONOMY_ID = hsds_id("taxonomy", "shequ-facility-types")
