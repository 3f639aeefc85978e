"""Fixtures of the services tests: a hand-made seeded region, an app client, bearer tokens,
a live uvicorn server in a thread, and Debian Chromium through Playwright.

The region (two districts of Beijing, three streets, four communities, six facilities, one
user per role, a resident with an identity number) is built once into an SQLite file and
copied for each test; PostgreSQL tests seed their own database with :func:`seed`.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from shequ.context import Context
from shequ.registry.db import make_engine, session_factory
from shequ.registry.models import Division, Facility
from shequ.services.accounts import (
    create_api_key,
    create_resident,
    create_user,
    hash_password,
)
from shequ.services.accounts.models import SessionKind, User
from shequ.services.accounts.sessions import start_session
from shequ.settings import Settings

SECRET = "test-secret-key-for-shequ-services-0123456789"
PASSWORD = "password-123"
FROM = dt.date(2000, 1, 1)

DIVISIONS = [
    # code, level, parent, name, kind, urban_rural, lon, lat
    ("110000000000", 1, None, "北京市", "municipality", None, 116.40, 39.90),
    ("110100000000", 2, "110000000000", "市辖区", "municipal_districts", None, 116.40, 39.90),
    ("110101000000", 3, "110100000000", "东城区", "district", None, 116.416, 39.928),
    ("110101001000", 4, "110101000000", "东华门街道", "street", None, 116.407, 39.918),
    ("110101001001", 5, "110101001000", "多福巷社区", "residents_committee", "111",
     116.405, 39.915),
    ("110101001002", 5, "110101001000", "银闸社区", "residents_committee", "111",
     116.410, 39.922),
    ("110101002000", 4, "110101000000", "景山街道", "street", None, 116.405, 39.930),
    ("110101002001", 5, "110101002000", "隆福寺社区", "residents_committee", "111",
     116.412, 39.930),
    ("110102000000", 3, "110100000000", "西城区", "district", None, 116.366, 39.912),
    ("110102001000", 4, "110102000000", "西长安街街道", "street", None, 116.385, 39.903),
    ("110102001001", 5, "110102001000", "西交民巷社区", "residents_committee", "111",
     116.385, 39.902),
]

FACILITIES = [
    # name, type, division, lon, lat, hours, status, operator, phone
    ("多福巷社区综合服务站", "comprehensive_service_facility", "110101001001", 116.4052, 39.9152,
     "Mo-Fr 08:30-17:30", "in_service", None, "010-65120000"),
    ("多福巷老年人日间照料中心", "elderly_day_care", "110101001001", 116.4060, 39.9160,
     "Mo-Su 08:00-20:00", "in_service", "北京幸福养老服务有限公司", None),
    ("银闸社区卫生服务站", "community_health_station", "110101001002", 116.4102, 39.9221,
     "Mo-Sa 08:00-12:00,13:30-17:00", "in_service", None, None),
    ("隆福寺图书分馆", "library_branch", "110101002001", 116.4121, 39.9301,
     "Tu-Su 09:00-21:00", "in_service", None, None),
    ("西交民巷社区综合服务站", "comprehensive_service_facility", "110102001001", 116.3851,
     39.9021, "24/7", "in_service", None, None),
    ("银闸托育园", "nursery", "110101001002", 116.4110, 39.9230, None, "planned",
     None, None),
]

# username -> (role, jurisdiction)
USERS = {
    "resident1": ("resident", None),
    "resident2": ("resident", None),
    "worker_dfx": ("community_worker", "110101001001"),
    "worker_yz": ("community_worker", "110101001002"),
    "officer_dhm": ("street_officer", "110101001000"),
    "planner_dc": ("county_planner", "110101000000"),
    "planner_city": ("city_planner", "110100000000"),
    "planner_bj": ("province_planner", "110000000000"),
    "planner_cn": ("national_planner", None),
    "admin": ("admin", None),
    "worker_xjmx": ("community_worker", "110102001001"),
}
IDENTITY_NUMBER = "11010519491231002X"
PHONE = "13812345678"


@cache
def password_hash() -> str:
    """One Argon2 hash of the test password, shared by every seeded user (hashing is
    deliberately slow)."""
    return hash_password(PASSWORD)


@dataclass(frozen=True)
class Seeded:
    """Ids of the seeded records and the API key text."""

    users: dict[str, int]
    facilities: dict[str, int]
    resident_id: int
    api_key: str
    # username -> a bearer token of a session started at seeding (see services_settings)
    tokens: dict[str, str]


def seed(session: Session) -> Seeded:
    """Fill an empty, migrated database with the test region."""
    for code, level, parent, name, kind, ur, lon, lat in DIVISIONS:
        session.add(Division(code=code, level=level, parent_code=parent, name=name, kind=kind,
                             urban_rural=ur, valid_from=FROM, longitude=lon, latitude=lat,
                             synthetic_geography=True, code_source="import", source="test"))
    facility_ids = {}
    for name, ftype, code, lon, lat, hours, status, operator, phone in FACILITIES:
        fac = Facility(type_code=ftype, division_code=code, name=name, longitude=lon,
                       latitude=lat, opening_hours=hours, status=status, operator_name=operator,
                       phone=phone, address=f"{name}门口", synthetic=True, source="test")
        session.add(fac)
        session.flush()
        facility_ids[name] = fac.id
    resident = create_resident(session, name="张三", division_code="110101001001",
                               identity_number=IDENTITY_NUMBER, phone=PHONE,
                               address="多福巷 1 号", priority_groups=["elderly"])
    users: dict[str, int] = {}
    tokens: dict[str, str] = {}
    for username, (role, jurisdiction) in USERS.items():
        user = create_user(session, username=username, password_hash=password_hash(),
                           role=role,
                           display_name=username, jurisdiction_code=jurisdiction,
                           resident_id=resident.id if username == "resident1" else None)
        users[username] = user.id
        tokens[username] = bearer_token(session, user)
    _, key = create_api_key(session, name="test client")
    session.commit()
    return Seeded(users, facility_ids, resident.id, key, tokens)


# Sessions of seeded tokens outlive a whole test run (the template is seeded once).
TEST_SESSION_HOURS = 48


def bearer_token(session: Session, user: User) -> str:
    """A bearer token of a new server-side session of ``user`` (verifying Argon2 for every
    test would dominate the run; ``test_token_endpoint`` covers POST /api/v1/auth/token)."""
    from shequ.services.accounts.sessions import SessionPolicy

    long = dt.timedelta(hours=TEST_SESSION_HOURS)
    policy = SessionPolicy(idle=long, page_max=long, bearer_max=long)
    return start_session(session, SECRET, user, kind=SessionKind.BEARER, policy=policy)[1]


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory,
                    sqlite_template: Path) -> tuple[Path, Seeded]:
    """A migrated SQLite file holding the test region, built once per session."""
    path = tmp_path_factory.mktemp("services-seeded") / "seeded.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with session_factory(engine)() as session:
        info = seed(session)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path, info


@pytest.fixture
def seeded(seeded_template: tuple[Path, Seeded]) -> Seeded:
    """Ids of the seeded region."""
    return seeded_template[1]


@pytest.fixture
def seeded_url(tmp_path: Path, seeded_template: tuple[Path, Seeded]) -> str:
    """URL of a private copy of the seeded SQLite file."""
    path = tmp_path / "seeded.sqlite3"
    shutil.copyfile(seeded_template[0], path)
    return f"sqlite:///{path}"


def services_settings(url: str, data_dir: Path) -> Settings:
    """Settings of a test deployment on ``url`` with the test secret."""
    return Settings(data_dir=data_dir, database_url=url, environment="test", secret_key=SECRET,
                    session_idle_minutes=TEST_SESSION_HOURS * 60,
                    token_max_hours=TEST_SESSION_HOURS)


@pytest.fixture
def ctx(seeded_url: str, tmp_path: Path) -> Iterator[Context]:
    """A context on the seeded copy."""
    context = Context.open(services_settings(seeded_url, tmp_path / "data"), migrate=False)
    yield context
    context.close()


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    """An HTTP client of the app on the seeded copy."""
    from shequ.app import create_app

    with TestClient(create_app(ctx)) as test_client:
        yield test_client


@pytest.fixture
def auth(seeded: Seeded) -> Callable[[str], dict[str, str]]:
    """``auth(username)`` → the Authorization header of the user's seeded bearer token."""
    def headers(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {seeded.tokens[username]}"}

    return headers


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    """A uvicorn server in a thread: its base URL, context and seeded ids."""

    url: str
    ctx: Context
    seeded: Seeded


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory,
                seeded_template: tuple[Path, Seeded]) -> Iterator[LiveServer]:
    """The app served by uvicorn on a free localhost port, over a seeded SQLite copy."""
    import uvicorn

    from shequ.app import create_app

    folder = tmp_path_factory.mktemp("live")
    path = folder / "live.sqlite3"
    shutil.copyfile(seeded_template[0], path)
    context = Context.open(services_settings(f"sqlite:///{path}", folder / "data"),
                           migrate=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(context), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", context, seeded_template[1])
    server.should_exit = True
    thread.join(timeout=10)
    context.close()


@pytest.fixture(scope="session")
def browser(chromium: Any) -> Any:
    """The test session's one Debian Chromium (Playwright's sync API allows one driver per
    process, so every domain's browser tests share the fixture of tests/conftest.py)."""
    return chromium
