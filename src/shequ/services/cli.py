"""`shequ services …`: users, API keys, residents' data housekeeping, escalation, directory sync.

The password of a new user is read from a prompt (or ``SHEQU_NEW_PASSWORD`` for scripts),
never from the command line, so it does not land in shell history.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from shequ.cli_support import DataDir, console, fail, open_context
from shequ.errors import ShequError
from shequ.services.accounts import ApiKey, Role, User, create_api_key, create_user
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
