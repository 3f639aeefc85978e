"""Typed settings, read once from the environment and passed in explicitly.

``SHEQU_DATABASE_URL``  SQLAlchemy URL; default: an SQLite file in the data folder.
``SHEQU_DATA_DIR``      where the embedded database, networks and exports live.
``SHEQU_ENV``           ``development`` (default), ``test`` or ``production``.
``SHEQU_SECRET_KEY``    signs sessions (and derived the data key of releases before keyrings).
``SHEQU_DATA_KEYS``     data-encryption keyring ``"k2:<base64>,k1:<base64>"``: the first encrypts.
``SHEQU_LOOKUP_KEY``    base64 key of the keyed hashes that find duplicates without decrypting.
``SHEQU_RETENTION``     days personal data is kept per kind, e.g. ``request_contact=365``.
``SHEQU_CATALOG_DIR``   a folder whose catalog files replace the packaged ones.
``SHEQU_DB_POOL_SIZE``  database connections per server process, and so requests served at
                        once by each (default 10 on PostgreSQL, 8 on SQLite, whose one
                        writer at a time gains nothing from more); the thread pool is sized
                        from it.
``SHEQU_DB_POOL_TIMEOUT`` seconds a request waits for a connection before it is answered
                        503 with ``Retry-After`` (default 5).
``SHEQU_MAX_BODY_BYTES``  largest request body (default 1 MiB); larger ones get 413 before
                        sign-in is checked or the body is read whole.
``SHEQU_MAX_UPLOAD_BYTES`` largest body of a file upload (imports, ``/upkeep/import``;
                        default 50 MiB).
``SHEQU_MAX_PHOTO_BYTES`` largest photo of a service request (default 8 MiB); a request's
                        photos upload with the file-upload limit above.
``SHEQU_REDIS_URL``     Redis of the rate limits shared by every worker (e.g.
                        ``redis://127.0.0.1:6379/0``); unset: a table of the database.
``SHEQU_SESSION_IDLE_MINUTES`` a sign-in unused this long ends (default 60).
``SHEQU_SESSION_MAX_HOURS``    a page sign-in ends this long after it began (default 8).
``SHEQU_TOKEN_MAX_HOURS``      a bearer token ends this long after it was issued (default 12).
``SHEQU_OFFLINE_SIGNIN_HOURS`` a device without signal shows a worker's saved pages this long
                        after their last sign-in (default 72).
``SHEQU_IDEMPOTENCY_RETENTION_DAYS`` the idempotency keys of writes sent from devices are
                        kept this long, then purged by the dispatcher's periodic job and
                        ``shequ offline forget-keys`` (default 7; a device's outbox must be
                        sent within it to be applied once).
``SHEQU_DASK_SCHEDULER`` address of a Dask distributed scheduler (``tcp://host:8786``) that
                        runs the jobs (solving, evaluating, life circles); unset: the
                        server's own worker pool runs them.
``SHEQU_TILE_URL``      a {z}/{x}/{y} template of the deployment's own map tiles, on this
                        site (the pages load images from their own origin only), e.g.
                        ``/tiles/{z}/{x}/{y}.png`` behind its proxy; unset: no tiles, the
                        maps draw the registry's shapes and streets alone.
``SHEQU_NOTIFY_IN_SERVER`` ``1``/``0``: the notification dispatcher runs inside each server
                        (default on, off in tests); off: run ``shequ notify run`` instead.
``SHEQU_PUBLIC_URL``    the site's address, put before links in e-mails.
``SHEQU_SMTP_HOST``, ``SHEQU_SMTP_PORT`` (25), ``SHEQU_SMTP_SENDER``, ``SHEQU_SMTP_USERNAME``,
``SHEQU_SMTP_PASSWORD``, ``SHEQU_SMTP_STARTTLS`` (``1``): e-mail notifications (unset host: none).
``SHEQU_SMS_URL``, ``SHEQU_SMS_TOKEN``: the SMS gateway's endpoint and bearer token.
``SHEQU_WECHAT_APPID``, ``SHEQU_WECHAT_SECRET``, ``SHEQU_WECHAT_TEMPLATE``,
``SHEQU_WECHAT_BASE_URL`` (``https://api.weixin.qq.com``): WeChat subscription messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from shequ.errors import ConfigurationError

if TYPE_CHECKING:
    from shequ.services.accounts.crypto import Keyring

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
    # Raw SHEQU_DATA_KEYS / SHEQU_LOOKUP_KEY; unset outside production: keys derived from
    # the secret (see ``keyring``).
    data_keys: str | None = None
    lookup_key: str | None = None
    # Raw SHEQU_RETENTION; shequ.services.privacy.retention_periods reads it.
    retention: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_size: int | None = None
    db_pool_timeout: float = 5.0
    max_body_bytes: int = 1 << 20
    max_upload_bytes: int = 50 << 20
    max_photo_bytes: int = 8 << 20
    redis_url: str | None = None
    session_idle_minutes: int = 60
    session_max_hours: int = 8
    token_max_hours: int = 12
    # How long an anonymous public read may be answered from the cache (0: never).  A
    # deployment (read from the environment) keeps them 2 s by default; settings made in
    # code (tests, scripts writing beside a server) keep nothing unless they ask.
    public_cache_seconds: float = 0.0
    offline_signin_hours: int = 72
    idempotency_retention_days: int = 7
    dask_scheduler: str | None = None
    tile_url: str | None = None
    # Notifications (shequ.services.notify): where the dispatcher runs and its channels.
    notify_in_server: bool | None = None  # None: on, except in tests
    public_url: str = ""
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "noreply@shequ.invalid"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    sms_url: str | None = None
    sms_token: str | None = None
    wechat_base_url: str = "https://api.weixin.qq.com"
    wechat_appid: str | None = None
    wechat_secret: str | None = None
    wechat_template: str | None = None

    @property
    def dispatcher_in_server(self) -> bool:
        """Whether each server process runs the notification dispatcher."""
        if self.notify_in_server is not None:
            return self.notify_in_server
        return self.environment != "test"

    @property
    def effective_pool_size(self) -> int:
        """Connections per process: the setting, or the back-end's default."""
        if self.db_pool_size is not None:
            return self.db_pool_size
        return 8 if self.effective_database_url.startswith("sqlite") else 10

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'shequ.sqlite3').resolve()}"

    @property
    def keyring(self) -> Keyring:
        """The keys of personal data at rest (development keys when none are set)."""
        from shequ.services.accounts.crypto import Keyring  # the accounts package is heavy

        if self.data_keys and self.lookup_key:
            return Keyring.parse(self.data_keys, self.lookup_key, legacy_secret=self.secret_key)
        if self.data_keys or self.lookup_key:
            raise ConfigurationError("SHEQU_DATA_KEYS and SHEQU_LOOKUP_KEY go together; set "
                                     "both (`shequ keys new` prints fresh ones) or neither")
        return Keyring.development(legacy_secret=self.secret_key)

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
            if not self.data_keys or not self.lookup_key:
                raise ConfigurationError(
                    "SHEQU_DATA_KEYS or SHEQU_LOOKUP_KEY is not set; production refuses to "
                    "keep personal data under keys derived from the session secret. Set "
                    "SHEQU_DATA_KEYS=k1:<base64 of 32 random bytes> and SHEQU_LOOKUP_KEY=<base64 "
                    "of 32 random bytes> (`shequ keys new` prints both), then run "
                    "`shequ db reencrypt`."
                )
            if not self.database_url:
                raise ConfigurationError(
                    "SHEQU_DATABASE_URL is not set; production needs an explicit database "
                    "(e.g. postgresql+psycopg://user@host/shequ)."
                )
        _ = self.keyring  # a malformed key stops the start, not the first write
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
        cache_text = env.get("SHEQU_PUBLIC_CACHE_SECONDS", "2")
        try:
            public_cache_seconds = float(cache_text)
        except ValueError:
            public_cache_seconds = -1.0
        if not 0 <= public_cache_seconds <= 60:
            raise ConfigurationError(f"SHEQU_PUBLIC_CACHE_SECONDS={cache_text!r} is not a "
                                     "number of seconds from 0 (no cache) to 60.")
        limits = {name: _positive(env, variable, kind) for name, variable, kind in (
            ("db_pool_size", "SHEQU_DB_POOL_SIZE", int),
            ("db_pool_timeout", "SHEQU_DB_POOL_TIMEOUT", float),
            ("max_body_bytes", "SHEQU_MAX_BODY_BYTES", int),
            ("max_upload_bytes", "SHEQU_MAX_UPLOAD_BYTES", int),
            ("max_photo_bytes", "SHEQU_MAX_PHOTO_BYTES", int),
            ("session_idle_minutes", "SHEQU_SESSION_IDLE_MINUTES", int),
            ("session_max_hours", "SHEQU_SESSION_MAX_HOURS", int),
            ("token_max_hours", "SHEQU_TOKEN_MAX_HOURS", int),
            ("offline_signin_hours", "SHEQU_OFFLINE_SIGNIN_HOURS", int),
            ("idempotency_retention_days", "SHEQU_IDEMPOTENCY_RETENTION_DAYS", int),
        ) if variable in env}
        return cls(
            data_dir=Path(env.get("SHEQU_DATA_DIR", "shequ-data")),
            database_url=env.get("SHEQU_DATABASE_URL") or None,
            environment=environment,  # type: ignore[arg-type]
            secret_key=env.get("SHEQU_SECRET_KEY", DEVELOPMENT_SECRET),
            catalog_dir=Path(catalog) if catalog else None,
            data_keys=env.get("SHEQU_DATA_KEYS") or None,
            lookup_key=env.get("SHEQU_LOOKUP_KEY") or None,
            retention=env.get("SHEQU_RETENTION") or None,
            host=env.get("SHEQU_HOST", "127.0.0.1"),
            port=int(port_text),
            redis_url=env.get("SHEQU_REDIS_URL") or None,
            dask_scheduler=env.get("SHEQU_DASK_SCHEDULER") or None,
            tile_url=env.get("SHEQU_TILE_URL") or None,
            **_notify_settings(env),  # type: ignore[arg-type]
            public_cache_seconds=public_cache_seconds,
            **limits,  # type: ignore[arg-type]
        ).check()


def _notify_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The notification settings given in ``env`` (see the module docstring)."""
    out: dict[str, object] = {}
    for name in ("public_url", "smtp_host", "smtp_sender", "smtp_username", "smtp_password",
                 "sms_url", "sms_token", "wechat_base_url", "wechat_appid", "wechat_secret",
                 "wechat_template"):
        if env.get(f"SHEQU_{name.upper()}"):
            out[name] = env[f"SHEQU_{name.upper()}"]
    for name in ("notify_in_server", "smtp_starttls"):
        text = env.get(f"SHEQU_{name.upper()}")
        if text is not None:
            if text not in ("0", "1"):
                raise ConfigurationError(f"SHEQU_{name.upper()}={text!r} is not 0 or 1.")
            out[name] = text == "1"
    if "SHEQU_SMTP_PORT" in env:
        out["smtp_port"] = _positive(env, "SHEQU_SMTP_PORT", int)
    return out


def _positive(env: Mapping[str, str], variable: str, kind: type[int] | type[float]
              ) -> int | float:
    """A positive number from ``env[variable]``; ConfigurationError names the variable."""
    text = env[variable]
    try:
        value = kind(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise ConfigurationError(f"{variable}={text!r} is not a positive "
                                 f"{'whole number' if kind is int else 'number'}.")
    return value
