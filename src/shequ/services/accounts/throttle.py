"""Rate limits and the sign-in lockout, shared by every worker process.

Counters live in Redis when ``SHEQU_REDIS_URL`` is set, else in the database's
``rate_counter`` table (:class:`SqlStorage`, a storage of the ``limits`` library, so both
go through one code path: ``limits``' fixed-window limiter over a ``Storage``).

They are keyed only by what the server knows: the peer address, the username tried, or
the user id inside a token the server signed; never by headers, keys or cookies a client
can vary at will.  Repeated failed sign-ins of one account lock it with back-off: after
:data:`LOCK_AFTER` failures for one minute, doubling with each further failure, capped at
an hour.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import cast

from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Engine, Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from shequ.errors import TooManyRequests
from shequ.services.accounts.models import RateCounter
from shequ.settings import Settings

LOCK_AFTER = 5
FIRST_LOCK_S = 60
MAX_LOCK_S = 3600
# Failures of one account are remembered this long (then the back-off starts over).
FAILURE_MEMORY_S = 24 * 3600
# Sign-in attempts per peer address (shequ.api.auth), and per username tried, in a minute.
SIGN_IN_PER_ADDRESS = 20
SIGN_IN_PER_ACCOUNT = 10

_COUNTERS = cast(Table, RateCounter.__table__)


class SqlStorage(Storage):
    """A ``limits`` storage in the database: one row per counter, an atomic upsert per hit.

    Writes go through their own short transaction on the engine, so that a refused
    request (rolled back) still counts.
    """

    STORAGE_SCHEME = None  # built with an engine, not from a URI

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self._insert = (postgresql.insert if engine.dialect.name == "postgresql"
                        else sqlite.insert)
        self._hits = itertools.count()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int | float, amount: int = 1) -> int:
        """Add ``amount`` to the counter; an expired one starts over for ``expiry`` s."""
        now = time.time()
        insert = self._insert(_COUNTERS).values(key=key, count=amount,
                                                expires_at=now + expiry)
        expired = _COUNTERS.c.expires_at <= now
        statement = insert.on_conflict_do_update(
            index_elements=[_COUNTERS.c.key],
            set_={"count": case((expired, insert.excluded.count),
                                else_=_COUNTERS.c.count + insert.excluded.count),
                  "expires_at": case((expired, insert.excluded.expires_at),
                                     else_=_COUNTERS.c.expires_at)},
        ).returning(_COUNTERS.c.count)
        with self.engine.begin() as connection:
            count = int(connection.execute(statement).scalar_one())
            if next(self._hits) % 1000 == 999:  # forget long-expired counters now and then
                connection.execute(delete(_COUNTERS).where(_COUNTERS.c.expires_at < now - 60))
        return count

    def get(self, key: str) -> int:
        """The counter's value (0 once expired)."""
        with self.engine.connect() as connection:
            value = connection.execute(select(_COUNTERS.c.count).where(
                _COUNTERS.c.key == key, _COUNTERS.c.expires_at > time.time())).scalar()
        return int(value or 0)

    def get_expiry(self, key: str) -> float:
        """When the counter's window ends (epoch seconds; now when there is none)."""
        with self.engine.connect() as connection:
            value = connection.execute(select(_COUNTERS.c.expires_at).where(
                _COUNTERS.c.key == key)).scalar()
        return float(value) if value is not None else time.time()

    def check(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as connection:
                connection.execute(select(func.count()).select_from(_COUNTERS).limit(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        """Forget every counter; the number forgotten."""
        with self.engine.begin() as connection:
            return int(getattr(connection.execute(delete(_COUNTERS)), "rowcount", 0) or 0)

    def clear(self, key: str) -> None:
        """Forget one counter."""
        with self.engine.begin() as connection:
            connection.execute(delete(_COUNTERS).where(_COUNTERS.c.key == key))


def lock_seconds(failures: int) -> int:
    """How long an account is locked after ``failures`` failed sign-ins in a row."""
    if failures < LOCK_AFTER:
        return 0
    return int(min(MAX_LOCK_S, FIRST_LOCK_S << min(failures - LOCK_AFTER, 12)))


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(epoch))


@dataclass
class Throttle:
    """The limits of one deployment over one storage (Redis or the database)."""

    storage: Storage
    namespace: str
    limiter: FixedWindowRateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = FixedWindowRateLimiter(self.storage)

    @classmethod
    def of(cls, settings: Settings, engine: Engine) -> Throttle:
        """Redis when ``SHEQU_REDIS_URL`` is set, else the database of ``engine``.

        The namespace derives from the secret, so deployments sharing a Redis keep apart.
        """
        namespace = "shequ-" + hashlib.sha256(settings.secret_key.encode()).hexdigest()[:12]
        storage: Storage = (RedisStorage(settings.redis_url, key_prefix=namespace)
                            if settings.redis_url else SqlStorage(engine))
        return cls(storage, namespace)

    def hit(self, name: str, limit: int, per_seconds: int, who: str) -> None:
        """Count one call of ``who`` to ``name``; TooManyRequests past ``limit`` per
        ``per_seconds``, saying when to retry."""
        item = RateLimitItemPerSecond(limit, per_seconds, namespace=self.namespace)
        if self.limiter.hit(item, name, who):
            return
        reset = self.limiter.get_window_stats(item, name, who).reset_time
        retry = max(1, int(reset - time.time()) + 1)
        raise TooManyRequests(f"too many requests to {name} (at most {limit} in {per_seconds} "
                              f"s); retry in {retry} s, after {_clock(reset)}",
                              retry_after=retry, code="accounts.too_many",
                              params={"seconds": retry})

    def _key(self, kind: str, username: str) -> str:
        # One bucket however the name is cased or padded.
        return f"{self.namespace}/{kind}/{username.strip().lower()}"

    def check_sign_in(self, username: str) -> None:
        """Before a password is checked: refuse a locked account, and more attempts on it
        than its limit (the address's limit is the sign-in routes' ``RateLimit``)."""
        lock = self._key("lock", username)
        if int(self.storage.get(lock)) > 0:
            until = self.storage.get_expiry(lock)
            retry = max(1, int(until - time.time()) + 1)
            raise TooManyRequests(
                f"account {username!r} is locked after repeated failed sign-ins; retry in "
                f"{retry} s, after {_clock(until)} (each further failure doubles the wait, "
                "up to an hour; an administrator can reset the password)", retry_after=retry,
                code="accounts.locked", params={"seconds": retry})
        self.hit("sign-in to one account", SIGN_IN_PER_ACCOUNT, 60,
                 "account:" + username.strip().lower())

    def sign_in_failed(self, username: str) -> int:
        """Count a failed sign-in of ``username``; the seconds it is now locked (0: not)."""
        failures = int(self.storage.incr(self._key("fail", username), FAILURE_MEMORY_S))
        seconds = lock_seconds(failures)
        if seconds:
            self.storage.clear(self._key("lock", username))
            self.storage.incr(self._key("lock", username), seconds)
        return seconds

    def sign_in_succeeded(self, username: str) -> None:
        """Forget the failures of ``username`` (the back-off starts over)."""
        self.storage.clear(self._key("fail", username))
        self.storage.clear(self._key("lock", username))
