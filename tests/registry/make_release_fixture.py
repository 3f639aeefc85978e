"""Make the previous release's fixture database: its demo county with rows in every table.

The release's demo (``/work/prev-release/demo-at-release.sqlite3``, revisions 0002, 0003a,
0004, 0005c, 0006) leaves the resident services, requests, plans and a few registry
tables empty.  Run against the previous release's own code, this script copies the demo,
fills every empty table through that release's service functions (so the rows are what
that release writes: naive China Standard Time in the resident services, aware UTC
elsewhere), trims the two big tables, and writes an xz-compressed copy::

    PYTHONPATH=/work/prev-release/src .venv/bin/python tests/registry/make_release_fixture.py \\
        /work/prev-release/demo-at-release.sqlite3 tests/registry/fixtures/release-0.1.sqlite3.xz

Times are fixed (``NOW``), so two runs write the same rows but for random salts, keys and
tokens.  A few times carry microseconds, and one resource is open all night with slots at
02:00 and 10:00 of one day (eight hours apart, as CST and UTC readings are), so that the
upgrade meets fractions and a shift that must not collide with the slot key.
"""

from __future__ import annotations

import datetime as dt
import lzma
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from sqlalchemy import select

from shequ.indicators.store import put_inputs
from shequ.plan.scenarios import ChangeInput, create_scenario
from shequ.registry.db import make_engine, session_factory
from shequ.registry.history import Successor, apply_change
from shequ.registry.models import Division, Facility
from shequ.services.accounts.users import create_api_key, create_user
from shequ.services.bookings import service as bookings
from shequ.services.bookings.models import BookerScope
from shequ.services.bookings.rules import Booker
from shequ.services.care import service as care
from shequ.services.care.rules import load_priority_rules
from shequ.services.directory.sync import sync_directory
from shequ.services.requests import service as requests
from shequ.services.requests.definitions import load_request_catalog
from shequ.services.reviews import service as reviews
from shequ.services.volunteers import service as volunteers
from shequ.services.volunteers.models import OrganiserKind

SECRET = "release-fixture-secret-key-0123456789abcdef"
CST = dt.timezone(dt.timedelta(hours=8))


def cst(*fields: int) -> dt.datetime:
    """A naive China Standard Time datetime, as the release's resident services store them."""
    return dt.datetime(*fields, tzinfo=CST).replace(tzinfo=None)



# What the release wrote: naive CST in the resident services (microseconds on some rows).
NOW = cst(2026, 12, 1, 9, 0, 0, 123456)
NOW_UTC = dt.datetime(2026, 12, 1, 1, 0, 0, tzinfo=dt.UTC)
COMMUNITY = "130123001001"
# Rows kept of the big tables (the first by id, so the fixture stays small).
KEEP = {"indicator_value": 3000, "community_access": 3000}


def fill(url: str) -> None:
    """Add rows to every empty table of the demo at ``url`` through the release's code."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        division = s.scalars(select(Division).where(Division.code == COMMUNITY)).one()
        township = division.parent_code or ""
        resident = create_user(s, username="fixture_resident", password="fixture-pass-1",
                               role="resident", display_name="样例居民")
        worker = create_user(s, username="fixture_worker", password="fixture-pass-1",
                             role="community_worker", jurisdiction_code=COMMUNITY,
                             display_name="样例社工")
        s.flush()
        ids = (resident.id, worker.id)
        create_api_key(s, name="样例客户端", user=worker)

        def facility_of(type_code: str) -> Facility:
            return s.scalars(select(Facility).where(
                Facility.type_code == type_code, Facility.status == "in_service",
                Facility.division_code.like(township[:9] + "%")).order_by(Facility.id)).first() \
                or s.scalars(select(Facility).where(Facility.type_code == type_code)
                             .order_by(Facility.id)).first()

        hall = facility_of("comprehensive_service_facility")
        room = bookings.create_resource(s, facility_id=hall.id, name="多功能活动室",
                                        capacity=40, opening_hours="24/7", approval_required=True,
                                        min_notice_minutes=0, booker_scope=BookerScope.ANYONE,
                                        allow_series=True, now=NOW)
        s.flush()
        me = Booker(user_id=ids[0], role="resident", division_code=COMMUNITY)
        day = cst(2026, 12, 3)
        night = bookings.book(s, resource_id=room.id, booker=me, purpose="夜间排练",
                              starts_at=day.replace(hour=2), ends_at=day.replace(hour=3), now=NOW)
        morning = bookings.book(s, resource_id=room.id, booker=me, purpose="读书会",
                                starts_at=day.replace(hour=10), ends_at=day.replace(hour=12),
                                attendees=12, now=NOW)
        bookings.decide(s, morning.id, approve=True, decided_by=ids[1], note="同意", now=NOW)
        cancelled = bookings.book(s, resource_id=room.id, booker=me, purpose="取消的活动",
                                  starts_at=day.replace(hour=14), ends_at=day.replace(hour=15),
                                  now=NOW)
        bookings.cancel(s, cancelled.id, now=NOW.replace(microsecond=0))
        bookings.book_series(s, resource_id=room.id, booker=me, purpose="合唱团",
                             first_starts_at=cst(2026, 12, 8, 19), duration_minutes=120,
                             occurrences=3, now=NOW)
        bookings.mark_reminded(s, [night], now=NOW)

        rules = load_priority_rules()
        day_care = facility_of("elderly_day_care")
        first = care.apply(s, rules, facility_id=day_care.id, applicant_user_id=ids[0],
                           beneficiary_name="王奶奶", beneficiary_birth_date=dt.date(1940, 5, 1),
                           division_code=COMMUNITY, priority_groups=(), now=NOW)
        care.apply(s, rules, facility_id=day_care.id, applicant_user_id=1,
                   beneficiary_name="李爷爷", beneficiary_birth_date=dt.date(1938, 2, 2),
                   division_code=COMMUNITY, resident_id=1, now=NOW)
        s.flush()
        care.offer_place(s, rules, first.id, now=NOW)
        care.accept(s, rules, first.id, now=NOW + dt.timedelta(hours=1))

        station = facility_of("volunteer_service_station")
        volunteers.register(s, user_id=ids[0], division_code=COMMUNITY, display_name="样例志愿者",
                            skills="理发", now=NOW)
        activity = volunteers.publish(
            s, division_code=COMMUNITY, organiser_kind=OrganiserKind.COMMUNITY,
            organiser_name="诸福屯社区居委会", organiser_user_id=ids[1], title="义务理发",
            starts_at=cst(2026, 12, 2, 9), ends_at=cst(2026, 12, 2, 11),
            places=5, station_facility_id=station.id, now=NOW)
        s.flush()
        signup = volunteers.sign_up(s, activity_id=activity.id, user_id=ids[0], now=NOW)
        s.flush()
        after = cst(2026, 12, 2, 12)
        volunteers.record_hours(s, signup.id, minutes=110, recorded_by=ids[0], now=after)
        volunteers.confirm_hours(s, signup.id, confirmed_by=ids[1], now=after)

        review = reviews.submit(s, user_id=ids[0], subject_kind="facility",
                                subject_id=str(hall.id), score=4, comment="很方便",
                                period=2026, now=NOW)
        s.flush()
        reviews.moderate(s, review.id, approve=True, moderated_by=ids[1], now=NOW)

        catalog = load_request_catalog()
        draft = requests.RequestDraft(service_code="public_repair", description="路灯不亮",
                                      division_code=COMMUNITY,
                                      attributes={"fixture": "streetlight"},
                                      contact_name="样例居民", contact_phone="13800000000")
        submitted = requests.submit_request(s, SECRET, catalog, draft, submitter=resident,
                                            now=NOW_UTC)
        s.flush()
        request = s.merge(submitted.request)
        requests.act(s, catalog, request, user=worker, action="accept",
                     now=NOW_UTC + dt.timedelta(minutes=5))

        put_inputs(s, [(COMMUNITY, 2024, "residential_floor_area_m2", 125000.0)])
        create_scenario(s, name="样例方案", division_code=township, description="补一处养老服务",
                        changes=[ChangeInput(action="new", type_code="elderly_day_care",
                                             division_code=COMMUNITY, name="新建日间照料中心",
                                             longitude=division.longitude,
                                             latitude=division.latitude, floor_area_m2=350.0,
                                             capacity=20, cost_cny=1_200_000.0,
                                             funding_source="special_bonds")])
        sync_directory(s)
    with sessions.begin() as s:
        village = s.scalars(select(Division).where(Division.level == 5)
                            .order_by(Division.code.desc())).first()
        assert village is not None
        apply_change(s, event="rename", on=dt.date(2026, 1, 1), predecessors=[village.code],
                     successors=[Successor(code=village.code, name=village.name + "（更名）")],
                     note="样例更名")
    engine.dispose()


def trim(path: Path) -> None:
    """Keep the first rows of the big tables and compact the file."""
    connection = sqlite3.connect(path, isolation_level=None)  # each statement commits
    for table, keep in KEEP.items():
        # Table names are the constants above.
        connection.execute(f"DELETE FROM {table} WHERE id NOT IN "
                           f"(SELECT id FROM {table} ORDER BY id LIMIT {keep})")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("PRAGMA journal_mode=DELETE")
    connection.execute("VACUUM")
    empty = [name for (name,) in connection.execute(
        "SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        if connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] == 0]
    connection.close()
    if empty:
        raise SystemExit(f"tables still empty: {', '.join(sorted(empty))}")


def main(source: Path, target: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder) / "release.sqlite3"
        shutil.copyfile(source, work)
        fill(f"sqlite:///{work}")
        trim(work)
        target.parent.mkdir(parents=True, exist_ok=True)
        with work.open("rb") as raw, lzma.open(target, "wb", preset=9) as packed:
            shutil.copyfileobj(raw, packed)
    print(f"{target}: {target.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
