"""`shequ db` commands that keep the data safe: backup, restore, downgrade, re-encrypt,
purge; and `shequ keys new` for fresh data and look-up keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from shequ.cli_support import DataDir, console, fail, load_settings
from shequ.errors import ShequError

keys_app = typer.Typer(help="Keys of personal data at rest.", no_args_is_help=True)


def _engine(data_dir: Path | None) -> Engine:
    """The configured database's engine with the configured keyring, not migrated."""
    from shequ.registry.db import make_engine
    from shequ.services.accounts.crypto import attach_keyring

    settings = load_settings(data_dir)
    return attach_keyring(make_engine(settings.effective_database_url), settings.keyring)


def db_backup(file: Annotated[Path, typer.Argument(help="backup file to write")],
              data_dir: DataDir = None) -> None:
    """Back up the whole database (consistent while the server runs)."""
    from shequ.registry.backup import backup

    engine = _engine(data_dir)
    try:
        info = backup(engine, file)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        engine.dispose()
    console.print(f"Backed up the {info.backend} database at schema "
                  f"{', '.join(info.revisions)} to {file}.")


def db_restore(file: Annotated[Path, typer.Argument(help="backup file to restore")],
               data_dir: DataDir = None,
               force: Annotated[bool, typer.Option(
                   help="overwrite a database that holds rows")] = False) -> None:
    """Restore a backup into the configured database, then upgrade it to this schema."""
    from shequ.registry.backup import restore

    engine = _engine(data_dir)
    try:
        info = restore(engine, file, force=force)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        engine.dispose()
    console.print(f"Restored {file} (schema {', '.join(info.revisions)}) and upgraded it "
                  "to the newest schema.")


def db_downgrade(revision: Annotated[str, typer.Argument(help="target, e.g. -1 or 0007")],
                 data_dir: DataDir = None,
                 allow_data_loss: Annotated[bool, typer.Option(
                     help="drop tables and columns even when they hold rows")] = False
                 ) -> None:
    """Undo migrations; refused where it would drop data, unless --allow-data-loss."""
    from alembic import command

    from shequ.registry.db import alembic_config

    engine = _engine(data_dir)
    config = alembic_config(engine)
    config.attributes["allow_data_loss"] = allow_data_loss
    try:
        command.downgrade(config, revision)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        engine.dispose()
    console.print(f"Downgraded to {revision}.")


def db_reencrypt(data_dir: DataDir = None,
                 batch_size: Annotated[int, typer.Option(min=1)] = 500) -> None:
    """Re-encrypt every personal value under the current data key (idempotent)."""
    from shequ.context import Context
    from shequ.services.privacy import reencrypt

    try:
        ctx = Context.open(load_settings(data_dir))
    except ShequError as exc:
        raise fail(exc) from exc
    try:
        report = reencrypt(ctx.engine, batch_size=batch_size)
    except ShequError as exc:
        raise fail(exc) from exc
    finally:
        ctx.close()
    for column, examined in report.examined.items():
        if examined:
            console.print(f"{column}: {examined:,} values, "
                          f"{report.rewritten[column]:,} re-encrypted")
    old = ", ".join(f"{k}: {n:,}" for k, n in sorted(report.from_keys.items())) or "none"
    console.print(f"{report.total_rewritten:,} values now under key {report.key_id!r} "
                  f"(from older keys: {old}); {report.hashes_renewed:,} look-up hashes "
                  "renewed.")


def db_purge(data_dir: DataDir = None,
             dry_run: Annotated[bool, typer.Option(
                 help="count what is past its retention, change nothing")] = False) -> None:
    """Anonymise or delete personal data past its retention period (SHEQU_RETENTION)."""
    from shequ.context import Context
    from shequ.services.privacy import purge, retention_periods

    try:
        settings = load_settings(data_dir)
        periods = retention_periods(settings.retention)
        ctx = Context.open(settings)
    except ShequError as exc:
        raise fail(exc) from exc
    try:
        with ctx.sessions() as session, session.begin():
            report = purge(session, periods, dry_run=dry_run)
    finally:
        ctx.close()
    verb = "would purge" if dry_run else "purged"
    for kind, count in report.counts.items():
        console.print(f"{kind}: {verb} {count:,} (older than {periods[kind]} days, before "
                      f"{report.cutoffs[kind]:%Y-%m-%d})")


@keys_app.command("new")
def keys_new() -> None:
    """Print a fresh SHEQU_DATA_KEYS entry and SHEQU_LOOKUP_KEY (keep them secret)."""
    from shequ.services.accounts.crypto import new_key

    console.print(f"SHEQU_DATA_KEYS=k1:{new_key()}\nSHEQU_LOOKUP_KEY={new_key()}")
    console.print("To rotate, put a new id first (k2:<new>,k1:<old>), restart, and run "
                  "`shequ db reencrypt`; then the old key can go.")


def add_commands(db_app: typer.Typer) -> None:
    """Register the commands on ``shequ db``."""
    db_app.command("backup")(db_backup)
    db_app.command("restore")(db_restore)
    db_app.command("downgrade")(db_downgrade)
    db_app.command("reencrypt")(db_reencrypt)
    db_app.command("purge")(db_purge)
