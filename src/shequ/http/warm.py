"""A serving process answers the common public reads once before its first visitor.

The first answer of each kind costs far more than later ones: SQLAlchemy compiles its
statements, the short boards' cache and the directory's index are filled, Pydantic
builds its serialisers.  A freshly started worker used to pay all of that inside its
first second of traffic (p99 of that second: 450–600 ms in the load benchmark).  Here
the process asks itself — through the whole ASGI stack, as an anonymous reader — for
the reads a visitor asks first: the region, a walk down the divisions to a community,
a township's facilities, what is near one of them, the directory's search there, the
Open311 lists and the county's short boards.

Nothing depends on it: a read that fails is skipped (the registry may be empty), and
the whole walk is bounded in time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.types import ASGIApp

log = logging.getLogger(__name__)

BUDGET_S = 20.0
DIVISIONS = "/api/v1/divisions"


@dataclass
class WarmUp:
    """What the warm-up asked and how each read was answered (path → status)."""

    answered: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


async def warm_up(app: ASGIApp, budget_s: float = BUDGET_S) -> WarmUp:
    """Ask ``app`` for the common public reads once (see the module docstring)."""
    report = WarmUp()
    started = time.monotonic()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://warm-up.local",
                                 headers={"Accept-Language": "zh-CN"}) as client:

        async def get(path: str, **query: Any) -> Any:
            if time.monotonic() - started > budget_s:
                return None
            target = f"{path}?{urlencode(query)}" if query else path
            try:
                answer = await client.get(target)
            except Exception:  # a read that cannot be answered is no reason not to serve
                log.debug("warm-up read %s failed", target, exc_info=True)
                return None
            report.answered[target] = answer.status_code
            is_json = answer.headers.get("content-type", "").startswith("application/json")
            return answer.json() if answer.status_code == 200 and is_json else None

        await get("/api/v1/region")
        await get("/open311/v2/services.json")
        await get("/open311/v2/requests.json")
        chain = await _walk_down(get)
        if len(chain) >= 3:  # province, city, county
            await get("/api/v1/indicators/short-boards", ou=chain[2], limit=20)
        if len(chain) >= 4:  # … and a township
            await get(f"{DIVISIONS}/{chain[-1]}")
            facilities = await get("/api/v1/facilities", division=chain[3][:9])
            point = next(((f["longitude"], f["latitude"]) for f in facilities or []
                          if f.get("longitude") is not None and f.get("latitude") is not None),
                         None)
            if point is not None:
                await get("/api/v1/facilities/near", lon=point[0], lat=point[1], radius=1500)
                await get("/hsds/services", latitude=point[1], longitude=point[0],
                          radius=1500)
    report.seconds = time.monotonic() - started
    log.info("warmed up in %.2f s: %d reads", report.seconds, len(report.answered))
    return report


async def _walk_down(get: Any) -> list[str]:
    """Codes from a province down to a community, each the first child of the one above
    (asking each one's children on the way)."""
    provinces = await get(DIVISIONS)
    chain: list[str] = []
    level = provinces
    while level:
        code = str(level[0]["code"])
        chain.append(code)
        level = await get(f"{DIVISIONS}/{code}/children")
    return chain
