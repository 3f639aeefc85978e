"""Backup and restore of the whole database, and the guard that keeps downgrades honest.

SQLite is copied with its online backup API (a consistent snapshot while the server
writes); PostgreSQL with ``pg_dump -Fc`` and ``pg_restore``.  Either way the backup holds
the ``alembic_version`` table, so it records the schema revisions it was taken at:
restore refuses one from a newer schema than this Shequ knows, refuses a target that
already holds rows unless forced, and upgrades an older one after restoring.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, column, func, inspect, literal, select, table, text
from sqlalchemy.engine import make_url

from shequ.errors import ConfigurationError, ConflictError, Problem, ValidationError
from shequ.registry.db import alembic_config, upgrade

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
# Debian puts the client binaries of each major version here, newest wins.
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """A backup file: which back-end wrote it and the schema revisions it holds."""

    path: Path
    backend: str
    revisions: tuple[str, ...]


def known_revisions(engine: Engine) -> set[str]:
    """Every revision id of the packaged migrations."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    return {r.revision for r in script.walk_revisions()}


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """The revisions a database is at (empty when it was never migrated)."""
    if not inspect(engine).has_table("alembic_version"):
        return ()
    with engine.connect() as connection:
        return tuple(sorted(r for (r,) in connection.execute(
            text("SELECT version_num FROM alembic_version"))))


def _pg_tool(name: str) -> str:
    """The path of ``pg_dump`` / ``pg_restore``: on PATH, else Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/").glob(POSTGRES_BIN_GLOB.lstrip("/") + f"/{name}"),
                        key=lambda p: int(re.sub(r"\D", "", p.parent.parent.name) or 0))
    if candidates:
        return str(candidates[-1])
    raise ConfigurationError(
        f"{name} is not installed (looked on PATH and in {POSTGRES_BIN_GLOB}); install the "
        "PostgreSQL client of the server's major version or newer, e.g. "
        "`apt-get install postgresql-client` on Debian and Ubuntu")


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and an environment carrying it (not argv)."""
    url = engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False)
    return uri, env


def _sqlite_path(engine: Engine) -> Path:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        raise ConfigurationError("an in-memory SQLite database cannot be backed up or "
                                 "restored; point SHEQU_DATABASE_URL at a file")
    return Path(database)


def backup(engine: Engine, destination: Path) -> BackupInfo:
    """Write a consistent backup of the database of ``engine`` to ``destination``."""
    revisions = current_revisions(engine)
    if not revisions:
        raise ConflictError(f"{engine.url.render_as_string()} has no schema to back up; run "
                            "`shequ db upgrade` first")
    destination.parent.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        source = sqlite3.connect(_sqlite_path(engine))
        target = sqlite3.connect(destination)
        try:
            with target:
                source.backup(target)  # page by page, consistent even under writers
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
            source.close()
        return BackupInfo(destination, "sqlite", revisions)
    uri, env = _libpq(engine)
    # An argument list, no shell; the binary is the packaged PostgreSQL client.
    subprocess.run(  # noqa: S603 (argument list, no shell)
        [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl",
         f"--file={destination}", f"--dbname={uri}"], env=env, check=True, capture_output=True)
    return BackupInfo(destination, "postgresql", revisions)


def inspect_backup(engine: Engine, path: Path) -> BackupInfo:
    """Which back-end wrote ``path`` and the schema revisions recorded in it."""
    if not path.is_file():
        raise ValidationError([Problem(str(path), "no such backup file")])
    with path.open("rb") as handle:
        head = handle.read(16)
    if head.startswith(SQLITE_MAGIC):
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            revisions = tuple(sorted(r for (r,) in connection.execute(
                "SELECT version_num FROM alembic_version")))
        except sqlite3.DatabaseError as exc:
            raise ValidationError([Problem(str(path), f"not a Shequ backup ({exc})")]
                                  ) from None
        finally:
            connection.close()
        return BackupInfo(path, "sqlite", revisions)
    if head.startswith(PG_CUSTOM_MAGIC):
        listing = subprocess.run(  # noqa: S603 (argument list, no shell)
            [_pg_tool("pg_restore"), "--data-only", "--table=alembic_version", "--file=-",
             str(path)], check=True, capture_output=True, text=True).stdout
        block = re.search(r"COPY [^\n]*alembic_version[^\n]*FROM stdin;\n(.*?)\n\\\.",
                          listing, re.S)
        revisions = tuple(sorted(block.group(1).split())) if block else ()
        return BackupInfo(path, "postgresql", revisions)
    raise ValidationError([Problem(str(path), "is neither an SQLite backup nor a pg_dump "
                                   "custom-format file", hint="make one with `shequ db backup`")])


def _rows_in(engine: Engine) -> int:
    """Rows in every table but ``alembic_version`` (0: an empty, maybe migrated, database)."""
    names = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    with engine.connect() as connection:
        return sum(connection.execute(select(func.count()).select_from(table(t))).scalar_one()
                   for t in names)


def restore(engine: Engine, source: Path, *, force: bool = False) -> BackupInfo:
    """Replace the database of ``engine`` with the backup ``source``, then upgrade it.

    Refused: a backup of the other back-end, one from a newer schema, and a target that
    holds rows unless ``force``.
    """
    info = inspect_backup(engine, source)
    target = "sqlite" if engine.dialect.name == "sqlite" else "postgresql"
    if info.backend != target:
        raise ValidationError([Problem(str(source), f"is a {info.backend} backup and the "
                                       f"target is {target}", hint="restore into the same "
                                       "kind of database; move between kinds with `shequ "
                                       "export` and `shequ import`")])
    unknown = sorted(set(info.revisions) - known_revisions(engine))
    if unknown:
        raise ConflictError(f"{source} was taken at schema revision(s) {', '.join(unknown)}, "
                            "newer than this Shequ knows; restore it with that release or "
                            "a newer one")
    rows = _rows_in(engine)
    if rows and not force:
        raise ConflictError(f"the target database holds {rows:,} rows; restore refuses to "
                            "overwrite them. Back it up first (`shequ db backup FILE`), then "
                            "restore with --force")
    if target == "sqlite":
        engine.dispose()
        source_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        target_db = sqlite3.connect(_sqlite_path(engine))
        try:
            with target_db:
                source_db.backup(target_db)
        finally:
            target_db.close()
            source_db.close()
    else:
        _empty_postgres(engine)
        uri, env = _libpq(engine)
        subprocess.run(  # noqa: S603 (argument list, no shell)
            [_pg_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error",
             f"--dbname={uri}", str(source)], env=env, check=True, capture_output=True)
    engine.dispose()
    upgrade(engine)
    return info


def _empty_postgres(engine: Engine) -> None:
    """Drop every table of the public schema (the restore recreates them)."""
    names = inspect(engine).get_table_names()
    if names:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE " + ", ".join(f'"{n}"' for n in names)
                                    + " CASCADE"))


def refuse_data_loss(*tables: str, columns: tuple[tuple[str, str], ...] = ()) -> None:
    """In a migration's ``downgrade()``: stop before dropping tables or columns that hold
    data, unless ``-x allow_data_loss=true`` (or the config attribute) says to go on."""
    from alembic import context, op

    if context.get_x_argument(as_dictionary=True).get("allow_data_loss") == "true" or \
            context.config.attributes.get("allow_data_loss"):
        return
    bind = op.get_bind()
    present = set(inspect(bind).get_table_names())
    holding = []
    for name in tables:
        if name in present and bind.execute(
                select(literal(1)).select_from(table(name)).limit(1)).first() is not None:
            holding.append(name)
    for name, col in columns:
        if name in present and bind.execute(
                select(literal(1)).select_from(table(name, column(col)))
                .where(column(col).is_not(None)).limit(1)).first() is not None:
            holding.append(f"{name}.{col}")
    if holding:
        raise ConflictError(
            f"this downgrade would drop {', '.join(holding)}, which hold data; nothing was "
            "changed. Back up first (`shequ db backup FILE`), then downgrade with "
            "--allow-data-loss (alembic: -x allow_data_loss=true)")
