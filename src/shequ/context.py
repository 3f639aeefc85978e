"""The running deployment: settings, database engine, sessions and catalog, opened once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shequ.catalog import Catalog, load_catalog
from shequ.registry.db import make_engine, pool_options, session_factory, upgrade
from shequ.services.accounts.crypto import attach_keyring
from shequ.settings import Settings


@dataclass(frozen=True, slots=True)
class Context:
    """What every command, job and request needs, passed in explicitly."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    catalog: Catalog

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Context:
        """Connect to the configured database (migrating it unless told not to)."""
        engine = make_engine(settings.effective_database_url,
                             **pool_options(settings.effective_pool_size,
                                            settings.db_pool_timeout))
        # Before migrating: a migration that encrypts personal data uses the configured keys.
        attach_keyring(engine, settings.keyring)
        if migrate:
            upgrade(engine)
        return cls(settings, engine, session_factory(engine), load_catalog(settings.catalog_dir))

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
