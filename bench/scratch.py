"""A scratch database for a benchmark, and a function that drops it.

SQLite: a file in a new temporary folder.  PostgreSQL: a new database on the server of
``SHEQU_BENCH_POSTGRES_URL`` (default the local ``test`` database as ``postgres``, which
may create databases), dropped with its connections (``WITH (FORCE)``).  Benchmarks run
as scripts (``python bench/x_bench.py``) import it as ``from scratch import database``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = os.environ.get("SHEQU_BENCH_POSTGRES_URL",
                                    "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def database(backend: str) -> tuple[str, Callable[[], None]]:
    """The URL of a new, empty database of ``backend`` (``sqlite``, else PostgreSQL) and
    a function that drops it."""
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="shequ_bench_"))
        return (f"sqlite:///{folder / 'bench.sqlite3'}",
                lambda: shutil.rmtree(folder, ignore_errors=True))
    name = f"shequ_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop
