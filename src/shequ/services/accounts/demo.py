"""Sign-in accounts of the synthetic demo county, one per kind of user, so that the pages
of residents, community workers, street officers, planners and administrators can be
tried at once.

They share one published password, so they exist only in development and test
deployments: a production deployment refuses to create them, and refuses their sign-in
however they got into its database (:func:`~shequ.services.accounts.users.authenticate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.errors import ConfigurationError, NotFoundError
from shequ.registry import queries
from shequ.registry.models import Division
from shequ.services.accounts.models import Role, User
from shequ.services.accounts.passwords import hash_password
from shequ.services.accounts.residents import create_resident
from shequ.services.accounts.users import DEMO_PASSWORD, DEMO_USERNAMES, create_user

__all__ = ["DEMO_PASSWORD", "DEMO_USERNAMES", "DemoAccount", "ensure_demo_accounts"]


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """One demo sign-in: who it is and where it may act."""

    username: str
    role: Role
    jurisdiction_code: str | None
    display_name: str


def _first_urban_community(session: Session, county_code: str) -> Division:
    units = queries.communities_under(session, county_code[:6])
    if not units:
        raise NotFoundError(f"no community or village under {county_code}; build the demo "
                            "county first")
    urban = [u for u in units if (u.urban_rural or "").startswith("1")]
    return (urban or units)[0]


def ensure_demo_accounts(session: Session, *, county_code: str,
                         environment: str) -> list[DemoAccount]:
    """The demo accounts of ``county_code``, created where missing (idempotent)."""
    if environment == "production":
        raise ConfigurationError("demo accounts share a published password and are not "
                                 "created in production; create real users with "
                                 "`shequ services create-user`")
    community = _first_urban_community(session, county_code)
    street = queries.division(session, community.parent_code or county_code)
    county = queries.division(session, county_code)
    accounts = [
        DemoAccount("demo_resident", Role.RESIDENT, None, "演示居民"),
        DemoAccount("demo_worker", Role.COMMUNITY_WORKER, community.code, "演示社区工作者"),
        DemoAccount("demo_officer", Role.STREET_OFFICER, street.code, "演示街道工作人员"),
        DemoAccount("demo_planner", Role.COUNTY_PLANNER, county.code,
                    f"演示规划人员（{county.name}）"),
        DemoAccount("demo_admin", Role.ADMIN, None, "演示管理员"),
    ]
    taken = set(session.scalars(select(User.username).where(
        User.username.in_([a.username for a in accounts]))))
    missing = [a for a in accounts if a.username not in taken]
    if missing:
        shared_hash = hash_password(DEMO_PASSWORD)  # one slow hash for all of them
        for account in missing:
            resident_id = None
            if account.role is Role.RESIDENT:
                resident_id = create_resident(
                    session, name="演示居民", division_code=community.code,
                    address=f"{community.name}（合成地址）", priority_groups=["elderly"]).id
            create_user(session, username=account.username, password_hash=shared_hash,
                        role=account.role, display_name=account.display_name,
                        jurisdiction_code=account.jurisdiction_code, resident_id=resident_id)
    return accounts
