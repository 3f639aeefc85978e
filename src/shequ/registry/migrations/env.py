"""Alembic environment: runs against the engine Shequ hands over (or the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

import shequ.models  # noqa: F401  (registers every table on Base.metadata)
from shequ.registry.models import Base

config = context.config
target_metadata = Base.metadata

engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
