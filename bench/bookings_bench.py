"""Venue booking under contention: throughput and correctness, on SQLite and PostgreSQL.

Shequ's booking (:func:`shequ.services.bookings.service.book`) lets the database decide
who gets a slot (the primary key of ``booking_slot``).  The peer is the usual
application-level check-then-insert (look for an overlapping active booking, insert if
none) that many booking tools use; it runs in the same process on the same data.

Workload: ``--threads`` threads, each with its own connection, book ``--attempts`` random
one-hour slots of ``--resources`` rooms over 5 days (seeded), so threads collide.  Printed:
bookings committed per second (median of ``--repeat`` runs) and the number of slots given
twice (must be 0).  Also the 50-way race for one slot: time until all 50 have an answer.

    python bench/bookings_bench.py                      # both back-ends
    python bench/bookings_bench.py --backend sqlite --threads 8 --attempts 200
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from scratch import database
from shequ.errors import ConflictError
from shequ.registry.db import make_engine, session_factory, upgrade
from shequ.registry.models import Facility
from shequ.services.bookings import service
from shequ.services.bookings.models import BookerScope, Booking, BookingSlot
from shequ.services.bookings.rules import Booker

NOW = dt.datetime(2026, 11, 28, 8)  # noqa: DTZ001 (naive China Standard Time)
DAY0 = dt.datetime(2026, 11, 30)  # noqa: DTZ001


def setup(url: str, resources: int) -> tuple[sessionmaker[Session], list[int]]:
    # A pooled connection per thread, as a served app has (more than the 50 racers).
    engine = make_engine(url, pool_size=52, max_overflow=0)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.execute(text("DELETE FROM booking_slot"))
        s.execute(text("DELETE FROM booking"))
        ids = []
        for k in range(resources):
            facility = Facility(type_code="cultural_activity_station", name=f"活动站{k}",
                                division_code="110101001001", status="in_service",
                                opening_hours="Mo-Su 08:00-22:00")
            s.add(facility)
            s.flush()
            ids.append(service.create_resource(
                s, facility_id=facility.id, name="活动室", approval_required=False,
                booker_scope=BookerScope.ANYONE, now=NOW).id)
    return sessions, ids


def shequ_book(sessions: sessionmaker[Session], resource: int, user: int,
               start: dt.datetime) -> bool:
    with sessions() as s:
        try:
            service.book(s, resource_id=resource, booker=Booker(user, "resident", None),
                         starts_at=start, ends_at=start + dt.timedelta(hours=1),
                         purpose="bench", now=NOW)
            s.commit()
        except ConflictError:
            return False
        return True


def naive_book(sessions: sessionmaker[Session], resource: int, user: int,
               start: dt.datetime) -> bool:
    """The peer: check for an overlapping active booking, insert when there is none."""
    end = start + dt.timedelta(hours=1)
    with sessions() as s:
        clash = s.scalar(select(Booking.id).where(
            Booking.resource_id == resource, Booking.status.in_(["pending", "approved"]),
            Booking.starts_at < end, Booking.ends_at > start))
        if clash is not None:
            return False
        s.add(Booking(resource_id=resource, user_id=user, starts_at=start, ends_at=end,
                      attendees=1, purpose="bench", status="approved", created_at=NOW))
        s.commit()
        return True


def doubles(sessions: sessionmaker[Session]) -> int:
    """Slots held by more than one active booking."""
    with sessions() as s:
        rows = s.execute(select(Booking.resource_id, Booking.starts_at, func.count())
                         .where(Booking.status == "approved")
                         .group_by(Booking.resource_id, Booking.starts_at)
                         .having(func.count() > 1)).all()
    return sum(int(n) - 1 for _, _, n in rows)


def contention(book: Callable[..., bool], url: str, *, threads: int, attempts: int,
               resources: int, seed: int) -> tuple[float, int, int]:
    sessions, ids = setup(url, resources)
    rng = np.random.default_rng(seed)
    plan = [[(ids[int(rng.integers(len(ids)))],
              DAY0 + dt.timedelta(days=int(rng.integers(5)), hours=8 + int(rng.integers(14))))
             for _ in range(attempts)] for _ in range(threads)]
    barrier = threading.Barrier(threads)

    def worker(k: int) -> int:
        barrier.wait()
        return sum(book(sessions, r, 1000 * k + i, start) for i, (r, start) in
                   enumerate(plan[k]))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        won = sum(pool.map(worker, range(threads)))
    elapsed = time.perf_counter() - t0
    twice = doubles(sessions)
    sessions.kw["bind"].dispose()
    return won / elapsed, won, twice


def race(url: str) -> tuple[float, int]:
    sessions, ids = setup(url, 1)
    barrier = threading.Barrier(50)
    start = DAY0 + dt.timedelta(hours=10)

    def attempt(k: int) -> bool:
        barrier.wait()
        return shequ_book(sessions, ids[0], k, start)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(50) as pool:
        winners = sum(pool.map(attempt, range(50)))
    elapsed = time.perf_counter() - t0
    with sessions() as s:
        held = s.scalar(select(func.count()).select_from(BookingSlot))
    sessions.kw["bind"].dispose()
    assert winners == 1 == held
    return elapsed, winners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--attempts", type=int, default=150)
    parser.add_argument("--resources", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        url, drop = database(backend)
        try:
            results = {}
            for name, book in (("shequ", shequ_book), ("check-then-insert", naive_book)):
                runs = [contention(book, url, threads=args.threads, attempts=args.attempts,
                                   resources=args.resources, seed=r)
                        for r in range(args.repeat)]
                results[name] = (statistics.median(r[0] for r in runs),
                                 max(r[2] for r in runs), statistics.median(r[1] for r in runs))
            races = [race(url)[0] for _ in range(args.repeat)]
        finally:
            drop()
        print(f"[{backend}] {args.threads} threads x {args.attempts} attempts on "
              f"{args.resources} rooms x 70 slots")
        for name, (rate, twice, won) in results.items():
            print(f"  {name:18s} {rate:8.1f} bookings/s committed (median), {won:.0f} won, "
                  f"slots given twice: {twice}")
        ratio = results["shequ"][0] / results["check-then-insert"][0]
        print(f"  throughput ratio shequ / check-then-insert: {ratio:.2f}")
        print(f"  50-way race for one slot: exactly 1 winner, all answered in "
              f"{statistics.median(races) * 1000:.0f} ms (median of {args.repeat})")


if __name__ == "__main__":
    main()
