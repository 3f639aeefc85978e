"""`shequ services …`: users, API keys, residents' data housekeeping, escalation, directory sync;
`shequ accounts …`: deactivate, reactivate, reset a password, change a role, end sign-ins.

The password of a new user is read from a prompt (or ``SHEQU_NEW_PASSWORD`` for scripts),
never from the command line, so it does not land in shell history.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from shequ.cli_support import DataDir, console, fail, open_context
from shequ.errors import ShequError
from shequ.services.accounts import ApiKey, Role, User, audit, create_api_key, create_user
from shequ.services.accounts import admin as accounts_admin
from shequ.services.accounts.sessions import end_user_sessions
from shequ.services.accounts.users import user_by_username
from shequ.services.directory import sync_directory
from shequ.services.requests import load_request_catalog
from shequ.services.requests.service import escalate_overdue

app = typer.Typer(help="Community services: users, API keys, escalation, directory.",
                  no_args_is_help=True)


@app.command("create-user")
def create_user_command(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[Role, typer.Option(help="what the user is")],
    jurisdiction: Annotated[str | None, typer.Option(
        help="division code of the role's level (community 12, street 9, county 6 …)")] = None,
    display_name: Annotated[str | None, typer.Option(help="name shown on pages")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a user; the password is prompted for (or read from SHEQU_NEW_PASSWORD)."""
    password = os.environ.get("SHEQU_NEW_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session:
            user = create_user(session, username=username, password=password, role=role,
                               display_name=display_name, jurisdiction_code=jurisdiction)
            session.commit()
            console.print(f"Created user {user.username} (id {user.id}, {user.role}, "
                          f"jurisdiction {user.jurisdiction_code or '—'})")
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()


@app.command("users")
def list_users(data_dir: DataDir = None) -> None:
    """List users with their roles and jurisdictions."""
    ctx = open_context(data_dir)
    table = Table("id", "username", "role", "jurisdiction", "active")
    with ctx.sessions() as session:
        for user in session.scalars(select(User).order_by(User.id)):
            table.add_row(str(user.id), user.username, user.role,
                          user.jurisdiction_code or "—", "yes" if user.active else "no")
    ctx.close()
    console.print(table)


@app.command("create-api-key")
def create_api_key_command(
    name: Annotated[str, typer.Argument(help="the client application it is for")],
    user: Annotated[str | None, typer.Option(help="act on behalf of this username")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an Open311 API key; the key is printed once and only its hash is kept."""
    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session:
            owner = user_by_username(session, user) if user else None
            row, key = create_api_key(session, name=name, user=owner)
            session.commit()
            console.print(f"API key {row.id} for {row.name}: {key}")
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()


@app.command("revoke-api-key")
def revoke_api_key(key_id: Annotated[int, typer.Argument(help="id shown by api-keys")],
                   data_dir: DataDir = None) -> None:
    """Deactivate an API key."""
    ctx = open_context(data_dir)
    with ctx.sessions() as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            ctx.close()
            raise fail(ShequError(f"no API key with id {key_id}"))
        row.active = False
        session.commit()
    ctx.close()
    console.print(f"API key {key_id} revoked")


@app.command("api-keys")
def list_api_keys(data_dir: DataDir = None) -> None:
    """List API keys (prefix only)."""
    ctx = open_context(data_dir)
    table = Table("id", "name", "prefix", "user id", "active")
    with ctx.sessions() as session:
        for row in session.scalars(select(ApiKey).order_by(ApiKey.id)):
            table.add_row(str(row.id), row.name, row.prefix + "…", str(row.user_id or "—"),
                          "yes" if row.active else "no")
    ctx.close()
    console.print(table)


@app.command("escalate")
def escalate(data_dir: DataDir = None) -> None:
    """Escalate overdue requests one level up (run it from cron, e.g. every 15 minutes)."""
    ctx = open_context(data_dir)
    with ctx.sessions() as session:
        moved = escalate_overdue(session, load_request_catalog(ctx.settings.catalog_dir))
        session.commit()
        for request in moved:
            console.print(f"request {request.id} → {request.responsible_code} "
                          f"(level {request.escalation_level})")
    ctx.close()
    console.print(f"{len(moved)} request(s) escalated")


@app.command("sync-directory")
def sync(data_dir: DataDir = None) -> None:
    """Bring the HSDS directory's id map in step with the registry's facilities now."""
    ctx = open_context(data_dir)
    with ctx.sessions() as session:
        result = sync_directory(session)
        session.commit()
    ctx.close()
    console.print(f"directory: {result.added} added, {result.changed} changed, "
                  f"{result.removed} removed")


accounts_app = typer.Typer(help="Accounts: deactivate, reactivate, reset a password, change "
                           "a role, end sign-ins. Each change is audited.",
                           no_args_is_help=True)


def _change_account(data_dir: Path | None, username: str,
                    change: Callable[[Session, User], str]) -> None:
    """Run ``change`` on the user in one transaction and print what it says."""
    ctx = open_context(data_dir)
    try:
        with ctx.sessions() as session:
            message = change(session, user_by_username(session, username))
            session.commit()
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    console.print(message)


def _ended(count: int) -> str:
    return f"{count} sign-in(s) and token(s) ended"


@accounts_app.command("deactivate")
def deactivate(username: Annotated[str, typer.Argument(help="login name")],
               data_dir: DataDir = None) -> None:
    """Stop a user signing in; every sign-in and token of theirs ends at once."""
    _change_account(data_dir, username, lambda session, user: (
        f"{user.username} deactivated; "
        f"{_ended(accounts_admin.deactivate_user(session, user, actor=None))}"))


@accounts_app.command("reactivate")
def reactivate(username: Annotated[str, typer.Argument(help="login name")],
               data_dir: DataDir = None) -> None:
    """Let a deactivated user sign in again."""
    def change(session: Session, user: User) -> str:
        accounts_admin.reactivate_user(session, user, actor=None)
        return f"{user.username} reactivated"

    _change_account(data_dir, username, change)


@accounts_app.command("reset-password")
def reset_password(username: Annotated[str, typer.Argument(help="login name")],
                   data_dir: DataDir = None) -> None:
    """Set a new password (prompted, or SHEQU_NEW_PASSWORD); every sign-in of the user
    ends.  Common and guessable passwords are refused with the reason."""
    password = os.environ.get("SHEQU_NEW_PASSWORD") or typer.prompt(
        "New password", hide_input=True, confirmation_prompt=True)
    _change_account(data_dir, username, lambda session, user: (
        f"password of {user.username} reset; "
        f"{_ended(accounts_admin.reset_password(session, user, new=password, actor=None))}"))


@accounts_app.command("set-role")
def set_role(username: Annotated[str, typer.Argument(help="login name")],
             role: Annotated[Role, typer.Option(help="the new role")],
             jurisdiction: Annotated[str | None, typer.Option(
                 help="division code of the role's level (community 12, street 9, "
                 "county 6 …)")] = None,
             data_dir: DataDir = None) -> None:
    """Give a user another role and jurisdiction; every sign-in of the user ends, so no
    page or token keeps the old rights."""
    def change(session: Session, user: User) -> str:
        ended = accounts_admin.change_role(session, user, role=role,
                                           jurisdiction_code=jurisdiction, actor=None)
        return (f"{user.username} is now {user.role} "
                f"(jurisdiction {user.jurisdiction_code or '—'}); {_ended(ended)}")

    _change_account(data_dir, username, change)


@accounts_app.command("end-sessions")
def end_sessions(username: Annotated[str, typer.Argument(help="login name")],
                 data_dir: DataDir = None) -> None:
    """End every sign-in and bearer token of a user now (e.g. a lost phone)."""
    def change(session: Session, user: User) -> str:
        ended = end_user_sessions(session, user.id)
        audit(session, user=None, action="end_sessions", entity="user", entity_id=user.id,
              detail={"sessions_ended": ended})
        return f"{user.username}: {_ended(ended)}"

    _change_account(data_dir, username, change)
