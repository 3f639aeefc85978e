"""Typed settings, read once from the environment and passed in explicitly.

``SHEQU_DATABASE_URL``  SQLAlchemy URL; default: an SQLite file in the data folder.
``SHEQU_DATA_DIR``      where the embedded database, networks and exports live.
``SHEQU_ENV``           ``development`` (default), ``test`` or ``production``.
``SHEQU_SECRET_KEY``    signs sessions and derives the at-rest encryption key.
``SHEQU_CATALOG_DIR``   a folder whose catalog files replace the packaged ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from shequ.errors import ConfigurationError

Environment = Literal["development", "test", "production"]

# Known so that production can refuse it; development and tests may use it.
DEVELOPMENT_SECRET = "shequ-development-secret-do-not-use-in-production"  # noqa: S105


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything Shequ needs to know about its deployment."""

    data_dir: Path = field(default_factory=lambda: Path("shequ-data"))
    database_url: str | None = None
    environment: Environment = "development"
    secret_key: str = DEVELOPMENT_SECRET
    catalog_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'shequ.sqlite3').resolve()}"

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (settings are immutable)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def check(self) -> Settings:
        """Refuse combinations that are unsafe; return self for chaining."""
        if self.environment == "production":
            if self.secret_key == DEVELOPMENT_SECRET or len(self.secret_key) < 32:
                raise ConfigurationError(
                    "SHEQU_SECRET_KEY is the development default or shorter than 32 "
                    "characters; production refuses to start with it. Set it to a long "
                    "random value, e.g. `python -c 'import secrets;print(secrets.token_hex(32))'`."
                )
            if not self.database_url:
                raise ConfigurationError(
                    "SHEQU_DATABASE_URL is not set; production needs an explicit database "
                    "(e.g. postgresql+psycopg://user@host/shequ)."
                )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``SHEQU_*`` variables; unknown values raise ConfigurationError."""
        env = os.environ if environ is None else environ
        environment = env.get("SHEQU_ENV", "development")
        if environment not in ("development", "test", "production"):
            raise ConfigurationError(
                f"SHEQU_ENV={environment!r} is not one of development, test, production."
            )
        port_text = env.get("SHEQU_PORT", "8000")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigurationError(f"SHEQU_PORT={port_text!r} is not a TCP port number.")
        catalog = env.get("SHEQU_CATALOG_DIR")
        return cls(
            data_dir=Path(env.get("SHEQU_DATA_DIR", "shequ-data")),
            database_url=env.get("SHEQU_DATABASE_URL") or None,
            environment=environment,  # type: ignore[arg-type]
            secret_key=env.get("SHEQU_SECRET_KEY", DEVELOPMENT_SECRET),
            catalog_dir=Path(catalog) if catalog else None,
            host=env.get("SHEQU_HOST", "127.0.0.1"),
            port=int(port_text),
        ).check()
