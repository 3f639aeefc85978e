"""The audit log: every write and every read of personal data leaves one row."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy.orm import Session

from shequ.services.accounts.models import AuditLog
from shequ.services.accounts.policy import Principal


def audit_values(*, user: Principal | None, action: str, entity: str, entity_id: object,
                 detail: dict[str, Any] | str | None = None,
                 at: dt.datetime | None = None) -> dict[str, Any]:
    """The column values of one audit row (``detail`` as JSON text)."""
    text = detail if isinstance(detail, str) or detail is None else json.dumps(
        detail, ensure_ascii=False, sort_keys=True, default=str)
    return {"at": at or dt.datetime.now(dt.UTC),
            "user_id": user.id if user is not None else None,
            "username": getattr(user, "username", None),
            "action": action,
            "entity": entity,
            "entity_id": None if entity_id is None else str(entity_id),
            "detail": text}


def audit(session: Session, *, user: Principal | None, action: str, entity: str,
          entity_id: object, detail: dict[str, Any] | str | None = None) -> AuditLog:
    """Add an audit row in ``session`` (committed with the work it records).

    ``user`` is None for anonymous public clients; ``detail`` is stored as JSON text.
    """
    row = AuditLog(**audit_values(user=user, action=action, entity=entity,
                                  entity_id=entity_id, detail=detail))
    session.add(row)
    return row
