"""Who may read or change what: the ONE place jurisdiction and role checks live.

A staff user's jurisdiction is a division; everything whose 12-digit code starts with that
division's prefix (``code_prefix(code, level)``) is inside it.  Role fixes the level:

=================  =====  ==========================================
role               level  jurisdiction
=================  =====  ==========================================
community_worker   5      one community or village (12 digits)
street_officer     4      one street / township (9 digits)
county_planner     3      one county (6 digits)
city_planner       2      one prefecture (4 digits)
province_planner   1      one province (2 digits)
national_planner   —      everything (prefix "")
admin              —      everything (prefix ""), but no whole personal numbers
resident           —      none: a resident acts only on their own records
=================  =====  ==========================================

Routers and services call :func:`require_in_jurisdiction` (or filter queries with
:func:`jurisdiction_prefix`) and never compare codes themselves.
"""

from __future__ import annotations

from typing import Protocol

from shequ.errors import AccessDenied
from shequ.registry.codes import code_prefix, level_of
from shequ.services.accounts.models import Role

ROLE_LEVEL: dict[Role, int | None] = {
    Role.COMMUNITY_WORKER: 5,
    Role.STREET_OFFICER: 4,
    Role.COUNTY_PLANNER: 3,
    Role.CITY_PLANNER: 2,
    Role.PROVINCE_PLANNER: 1,
    Role.NATIONAL_PLANNER: None,
    Role.ADMIN: None,
    Role.RESIDENT: None,
}
STAFF_ROLES = frozenset(Role) - {Role.RESIDENT}
# Roles that work cases (service requests, bookings …) inside their jurisdiction.
HANDLER_ROLES = frozenset({Role.COMMUNITY_WORKER, Role.STREET_OFFICER, Role.ADMIN})
# Roles that plan: compute indicator runs and life circles, solve siting, keep scenarios.
PLANNER_ROLES = frozenset({Role.COUNTY_PLANNER, Role.CITY_PLANNER, Role.PROVINCE_PLANNER,
                           Role.NATIONAL_PLANNER, Role.ADMIN})
# Roles that may see whole identity and phone numbers of residents in their jurisdiction.
PERSONAL_DATA_ROLES = frozenset({Role.COMMUNITY_WORKER, Role.STREET_OFFICER})
NATIONWIDE_ROLES = frozenset({Role.NATIONAL_PLANNER, Role.ADMIN})


class Principal(Protocol):
    """What the policy needs of a user (the User model satisfies it)."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def jurisdiction_code(self) -> str | None: ...
    @property
    def resident_id(self) -> int | None: ...


def role_of(user: Principal) -> Role:
    """The user's role as an enum."""
    return Role(user.role)


def jurisdiction_prefix(user: Principal) -> str | None:
    """The division-code prefix ``user`` may act in: "" for nationwide roles, None for
    residents (no jurisdiction: own records only)."""
    role = role_of(user)
    if role in NATIONWIDE_ROLES:
        return ""
    if role is Role.RESIDENT:
        return None
    if not user.jurisdiction_code:
        # A staff account without a jurisdiction may act nowhere (fail closed).
        raise AccessDenied(f"user {user.id} ({role.value}) has no jurisdiction; an "
                           "administrator must set one", code="accounts.no_jurisdiction")
    level = ROLE_LEVEL[role]
    assert level is not None  # every staff role but the nationwide ones has a level
    return code_prefix(user.jurisdiction_code, level)


def in_jurisdiction(user: Principal, division_code: str) -> bool:
    """True when ``division_code`` lies inside ``user``'s jurisdiction."""
    prefix = jurisdiction_prefix(user)
    return prefix is not None and division_code.startswith(prefix)


def require_in_jurisdiction(user: Principal, division_code: str) -> None:
    """Raise AccessDenied unless ``division_code`` lies inside ``user``'s jurisdiction."""
    if not in_jurisdiction(user, division_code):
        raise AccessDenied(
            f"division {division_code} is outside the jurisdiction of user {user.id} "
            f"({user.role}, {user.jurisdiction_code or 'no jurisdiction'})",
            code="accounts.outside_jurisdiction", params={"division": division_code})


def require_role(user: Principal, *roles: Role) -> None:
    """Raise AccessDenied unless ``user`` has one of ``roles``."""
    if role_of(user) not in roles:
        raise AccessDenied(f"this needs one of the roles {', '.join(r.value for r in roles)}; "
                           f"user {user.id} is {user.role}", code="accounts.role_needed")


def can_handle(user: Principal, division_code: str) -> bool:
    """True when ``user`` may work cases of ``division_code`` (accept, assign, close …)."""
    return role_of(user) in HANDLER_ROLES and in_jurisdiction(user, division_code)


def require_handler(user: Principal, division_code: str) -> None:
    """Raise AccessDenied unless ``user`` may work cases of ``division_code``."""
    require_role(user, *HANDLER_ROLES)
    require_in_jurisdiction(user, division_code)


def may_see_whole_personal_numbers(user: Principal, *, resident_id: int,
                                   division_code: str) -> bool:
    """True for the resident themself and for case-working roles in the jurisdiction."""
    if user.resident_id is not None and user.resident_id == resident_id:
        return True
    return role_of(user) in PERSONAL_DATA_ROLES and in_jurisdiction(user, division_code)


def check_jurisdiction_for_role(role: Role, jurisdiction_code: str | None) -> str | None:
    """The jurisdiction code a ``role`` user may hold, or raise naming the mismatch."""
    from shequ.errors import Problem, ValidationError
    from shequ.registry.codes import normalise_code

    level = ROLE_LEVEL[role]
    if level is None:
        if jurisdiction_code:
            raise ValidationError([Problem("jurisdiction", f"role {role.value} has no "
                                           "jurisdiction", hint="leave it empty")])
        return None
    if not jurisdiction_code:
        raise ValidationError([Problem("jurisdiction", f"role {role.value} needs a "
                                       f"level-{level} division code")])
    code = normalise_code(jurisdiction_code, where="jurisdiction")
    if level_of(code) != level:
        raise ValidationError([Problem(
            "jurisdiction", f"{code} is a level-{level_of(code)} division but role "
            f"{role.value} works at level {level}",
            hint="give the code of the community, street, county, city or province it serves")])
    return code
