"""Accounts and access: users and roles, residents' personal data, API keys, audit log,
and the jurisdiction policy every read and write goes through.

Public surface (other service packages build on it):

- :class:`Role`, :class:`User`, :class:`Resident`, :class:`ApiKey`, :class:`AuditLog`;
- :func:`hash_password`, :func:`verify_password`, :func:`create_user`,
  :func:`authenticate`, :func:`create_api_key`, :func:`resolve_api_key`;
- :func:`create_resident`, :func:`view_resident` (masked unless allowed, audited);
- :func:`audit`;
- the policy: :func:`jurisdiction_prefix`, :func:`require_in_jurisdiction`,
  :func:`in_jurisdiction`, :func:`require_role`, :func:`require_handler`.
"""

from shequ.services.accounts import policy
from shequ.services.accounts.audit import audit
from shequ.services.accounts.crypto import mask_identity_number, mask_phone
from shequ.services.accounts.models import ApiKey, AuditLog, PriorityGroup, Resident, Role, User
from shequ.services.accounts.passwords import hash_password, verify_password
from shequ.services.accounts.policy import (
    HANDLER_ROLES,
    PERSONAL_DATA_ROLES,
    PLANNER_ROLES,
    STAFF_ROLES,
    can_handle,
    in_jurisdiction,
    jurisdiction_prefix,
    require_handler,
    require_in_jurisdiction,
    require_role,
)
from shequ.services.accounts.residents import (
    ResidentView,
    create_resident,
    get_resident,
    view_resident,
)
from shequ.services.accounts.users import (
    authenticate,
    create_api_key,
    create_user,
    resolve_api_key,
    user_by_username,
)

__all__ = [
    "HANDLER_ROLES",
    "PERSONAL_DATA_ROLES",
    "PLANNER_ROLES",
    "STAFF_ROLES",
    "ApiKey",
    "AuditLog",
    "PriorityGroup",
    "Resident",
    "ResidentView",
    "Role",
    "User",
    "audit",
    "authenticate",
    "can_handle",
    "create_api_key",
    "create_resident",
    "create_user",
    "get_resident",
    "hash_password",
    "in_jurisdiction",
    "jurisdiction_prefix",
    "mask_identity_number",
    "mask_phone",
    "policy",
    "require_handler",
    "require_in_jurisdiction",
    "require_role",
    "resolve_api_key",
    "user_by_username",
    "verify_password",
    "view_resident",
]
