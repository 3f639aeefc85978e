"""Alembic environment: runs against the engine Shequ hands over (or the URL).

On SQLite, foreign keys are switched off while migrations run: batch mode rebuilds a table
by copying it and dropping the original, and with keys on, dropping a table referenced by
``ON DELETE CASCADE`` keys deletes the referring rows.  Before the work commits, every
key is checked (``PRAGMA foreign_key_check``) and a violation fails the upgrade, naming
the rows.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine, create_engine

import shequ.models  # noqa: F401  (registers every table on Base.metadata)
from shequ.registry.models import Base

config = context.config
target_metadata = Base.metadata

engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")


def _check_sqlite_keys(connection: Connection) -> None:
    """Fail, naming the rows, when any foreign key of the SQLite file is violated."""
    rows = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if rows:
        shown = "; ".join(f"{table} rowid {rowid} -> {parent}" for table, rowid, parent, _ in
                          rows[:20])
        raise RuntimeError(f"the migration left {len(rows)} row(s) whose foreign key names "
                           f"no row: {shown}")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A no-op inside a transaction, so it is set before the migrations' transaction.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                _check_sqlite_keys(connection)
        connection.commit()
    finally:
        if sqlite:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
