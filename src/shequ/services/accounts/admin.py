"""Account management: change or reset a password, deactivate, reactivate, change a role.

Each change is audited and ends the user's sessions and bearer tokens where the change
should take effect at once (a new password, a deactivation, a new role).  The CLI
(``shequ accounts …``) and the administrators' API (``/api/v1/accounts/…``) both call
these functions.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from shequ.errors import AccessDenied, ConflictError, Problem, ValidationError
from shequ.services.accounts.audit import audit
from shequ.services.accounts.models import Role, User
from shequ.services.accounts.passwords import (
    check_password_strength,
    hash_password,
    verify_password,
)
from shequ.services.accounts.policy import Principal, check_jurisdiction_for_role
from shequ.services.accounts.sessions import end_user_sessions


def _new_password(user: User, password: str) -> None:
    check_password_strength(password, (user.username, user.display_name))
    user.password_hash = hash_password(password)


def change_password(session: Session, user: User, *, current: str, new: str) -> int:
    """The user's own change: the current password must match; every session of the
    user ends (sign in again with the new one).  The number of sessions ended."""
    if not verify_password(user.password_hash, current):
        raise AccessDenied("the current password is wrong; nothing was changed",
                           code="accounts.current_password_wrong")
    if new == current:
        raise ValidationError([Problem("new_password", "is the current password",
                                       hint="choose a different one",
                                       code="accounts.password_unchanged")])
    _new_password(user, new)
    audit(session, user=user, action="change_password", entity="user", entity_id=user.id)
    return end_user_sessions(session, user.id)


def _not_self(user: User, actor: Principal | None, what: str) -> None:
    # An administrator who locks themselves out may leave nobody able to undo it.
    if actor is not None and actor.id == user.id:
        raise ConflictError(f"you cannot {what} your own account; ask another administrator",
                            code="accounts.not_on_oneself")


def reset_password(session: Session, user: User, *, new: str,
                   actor: Principal | None) -> int:
    """An administrator sets a new password; every session of the user ends."""
    _new_password(user, new)
    audit(session, user=actor, action="reset_password", entity="user", entity_id=user.id,
          detail={"username": user.username})
    return end_user_sessions(session, user.id)


def deactivate_user(session: Session, user: User, *, actor: Principal | None) -> int:
    """Stop a user from signing in; every session of the user ends at once."""
    _not_self(user, actor, "deactivate")
    user.active = False
    audit(session, user=actor, action="deactivate", entity="user", entity_id=user.id,
          detail={"username": user.username})
    return end_user_sessions(session, user.id)


def reactivate_user(session: Session, user: User, *, actor: Principal | None) -> None:
    """Let a deactivated user sign in again (with the password they had)."""
    user.active = True
    audit(session, user=actor, action="reactivate", entity="user", entity_id=user.id,
          detail={"username": user.username})


def change_role(session: Session, user: User, *, role: Role | str,
                jurisdiction_code: str | None, actor: Principal | None) -> int:
    """Give a user another role and jurisdiction (of the role's level); every session of
    the user ends, so that no page or token keeps the old rights."""
    try:
        new_role = Role(role)
    except ValueError:
        raise ValidationError([Problem("role", f"{role!r} is not a role",
                                       hint=", ".join(r.value for r in Role))]) from None
    _not_self(user, actor, "change the role of")
    code = check_jurisdiction_for_role(new_role, jurisdiction_code)
    before = {"role": user.role, "jurisdiction": user.jurisdiction_code}
    user.role, user.jurisdiction_code = new_role.value, code
    audit(session, user=actor, action="change_role", entity="user", entity_id=user.id,
          detail={"username": user.username, "before": before,
                  "after": {"role": new_role.value, "jurisdiction": code}})
    return end_user_sessions(session, user.id)
