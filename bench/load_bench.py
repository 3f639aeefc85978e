"""Load on a real server: a mixed workload at a fixed arrival rate, and a burst.

The demo county is built (``shequ demo --no-serve``) into a data folder on SQLite and
into a fresh PostgreSQL database made for the run (dropped afterwards); the server is
``uvicorn --factory shequ.app:app_from_env`` in a subprocess on 127.0.0.1 with 1, 2
or 4 workers.

Open loop (``--rate`` requests/s for ``--seconds``, arrivals on a fixed schedule, latency
counted from the scheduled moment so a slow server cannot slow the offered load):

- half anonymous reads: a division, a township's children, a township's facilities,
  facilities near a point, a directory (HSDS) search near a point, the Open311 list, the
  county's short boards;
- half signed in with bearer tokens (12 community workers of one community, each signed
  in once through ``POST /api/v1/auth/token``): ``/api/v1/auth/me``, the worker's queue
  (what the workbench lists), a new service request, a booking of a random free-looking
  hour of one of the community's rooms.

Burst (``--burst`` requests at once, signed in) while ``GET /api/v1/region`` is sent every
100 ms: every probe must answer.

Errors are 5xx answers, failed connections and time-outs; 4xx answers (a booking slot
already taken, 409) are counted apart as refusals.  Loopback only; bounded in count and
time.  Example::

    python bench/load_bench.py --backends sqlite,postgres --workers 1,2,4 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from sqlalchemy import select

from scratch import database as scratch_database

SECRET = "load-bench-secret-key-0123456789abcdef0123456789"
PASSWORD = "load-bench-password"
USERS = 12  # sign-ins are limited per address
ROOMS = 20
TIMEOUT_S = 10.0


@dataclass
class Fixture:
    """What the workload picks from: codes, points, signed-in tokens, rooms."""

    county: str
    townships: list[str]
    communities: list[str]
    points: list[tuple[float, float]]
    worker_community: str
    rooms: list[int]
    tokens: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """One request: its kind, status (0: no answer) and latency."""

    kind: str
    status: int
    seconds: float


# -- preparing the data --------------------------------------------------------------


def _env(data_dir: Path, url: str | None, pool_size: int | None = None) -> dict[str, str]:
    env = {**os.environ, "SHEQU_DATA_DIR": str(data_dir), "SHEQU_ENV": "development",
           "SHEQU_SECRET_KEY": SECRET}
    env.pop("SHEQU_DATABASE_URL", None)
    if url:
        env["SHEQU_DATABASE_URL"] = url
    if pool_size:
        env["SHEQU_DB_POOL_SIZE"] = str(pool_size)
    return env


@contextmanager
def database(backend: str, data_dir: Path) -> Iterator[str | None]:
    """The database URL of a back-end (None: the SQLite file of the data folder); a
    PostgreSQL database is made for the run and dropped after it."""
    if backend == "sqlite":
        yield None
        return
    url, drop = scratch_database("postgres")
    try:
        yield url
    finally:
        drop()


def build(data_dir: Path, url: str | None) -> Fixture:
    """Build the demo county, add the bench's workers and rooms, and read the fixture."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "shequ.cli", "demo", "--no-serve",
                    "--data-dir", str(data_dir)], env=_env(data_dir, url), check=True,
                   stdout=subprocess.DEVNULL)
    print(f"  demo county built in {time.monotonic() - started:.0f} s", flush=True)
    from shequ.context import Context
    from shequ.registry.models import Division, Facility
    from shequ.services.accounts import create_user, hash_password
    from shequ.services.bookings.service import create_resource
    from shequ.settings import Settings

    ctx = Context.open(Settings(data_dir=data_dir, database_url=url, secret_key=SECRET),
                       migrate=False)
    with ctx.sessions() as session:
        county = session.scalars(select(Division.code).where(Division.level == 3)
                                 .order_by(Division.code)).first()
        assert county is not None
        prefix = county[:6]
        townships = list(session.scalars(select(Division.code).where(
            Division.level == 4, Division.code.startswith(prefix))))
        communities = list(session.scalars(select(Division.code).where(
            Division.level == 5, Division.code.startswith(prefix), Division.urban_rural.in_(
                ["111", "112"])).order_by(Division.code)))
        points = [(lon, lat) for lon, lat in session.execute(
            select(Facility.longitude, Facility.latitude).limit(400))
            if lon is not None and lat is not None][:200]
        home = communities[0]
        password_hash = hash_password(PASSWORD)
        for i in range(USERS):
            create_user(session, username=f"load_worker_{i:02d}", role="community_worker",
                        jurisdiction_code=home, password_hash=password_hash)
        facility = session.scalars(select(Facility.id).where(
            Facility.division_code == home).order_by(Facility.id)).first()
        assert facility is not None
        rooms = [create_resource(session, facility_id=facility, name=f"活动室 {i + 1}",
                                 opening_hours="24/7", approval_required=False,
                                 min_notice_minutes=0, max_advance_days=60,
                                 max_duration_minutes=60).id for i in range(ROOMS)]
        session.commit()
    ctx.close()
    return Fixture(county, townships, communities, points, home, rooms)


# -- the server ----------------------------------------------------------------------


def server_cpu_seconds(root: int) -> float:
    """CPU seconds (user and system) used so far by process ``root`` and every process
    under it (uvicorn's workers), read from ``/proc`` (Linux)."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, seconds in used.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        total += seconds if ancestor == root else 0.0
    return total


@contextmanager
def server(data_dir: Path, url: str | None, workers: int, port: int
           ) -> Iterator[tuple[str, int]]:
    """``uvicorn`` with ``workers`` processes serving the deployment; yields its URL and
    the process id under which its workers run."""
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "shequ.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning", "--no-access-log"], env=_env(data_dir, url))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        answered = 0
        while answered < workers * 2:  # every worker up (connections go round them)
            try:
                answered += httpx.get(base + "/api/v1/region", timeout=5).status_code == 200
            except httpx.TransportError:
                time.sleep(0.3)
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not start")
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def sign_in(base: str, fixture: Fixture) -> None:
    """One bearer token per bench worker, through the sign-in endpoint (waiting as its
    ``Retry-After`` says when the per-address limit of sign-ins is reached)."""
    fixture.tokens = []
    deadline = time.monotonic() + 300
    while len(fixture.tokens) < USERS:
        answer = httpx.post(base + "/api/v1/auth/token", timeout=30, data={
            "username": f"load_worker_{len(fixture.tokens):02d}", "password": PASSWORD})
        if answer.status_code == 429 and time.monotonic() < deadline:
            time.sleep(float(answer.headers.get("Retry-After", "5")))
            continue
        answer.raise_for_status()
        fixture.tokens.append(answer.json()["access_token"])


# -- the workload --------------------------------------------------------------------

# kind, method, target (path and query), headers, JSON body
Request = tuple[str, str, str, dict[str, str], Any]


def anonymous(rng: random.Random, f: Fixture) -> Request:
    """One anonymous read, each kind equally often."""
    lon, lat = rng.choice(f.points)
    township, community = rng.choice(f.townships), rng.choice(f.communities)
    near = urlencode({"lon": lon, "lat": lat, "radius": 1500})
    hsds = urlencode({"latitude": lat, "longitude": lon, "radius": 1500})
    choices: list[Request] = [
        ("division", "GET", f"/api/v1/divisions/{community}", {}, None),
        ("children", "GET", f"/api/v1/divisions/{township}/children", {}, None),
        ("facilities", "GET", f"/api/v1/facilities?division={township[:9]}", {}, None),
        ("near", "GET", f"/api/v1/facilities/near?{near}", {}, None),
        ("hsds", "GET", f"/hsds/services?{hsds}", {}, None),
        ("open311", "GET", "/open311/v2/requests.json", {}, None),
        ("boards", "GET", f"/api/v1/indicators/short-boards?ou={f.county}&limit=20", {},
         None),
    ]
    return rng.choice(choices)


def signed_in(rng: random.Random, f: Fixture) -> Request:
    """One signed-in call: mostly reads, some writes (requests are limited to 30 a minute
    per user, so 12 users make at most 6 a second; the mix asks for 3)."""
    headers = {"Authorization": f"Bearer {rng.choice(f.tokens)}"}
    roll = rng.random()
    if roll < 0.45:
        return "me", "GET", "/api/v1/auth/me", headers, None
    if roll < 0.90:
        return "queue", "GET", "/api/v1/service-requests?queue=true&limit=20", headers, None
    if roll < 0.92:
        return "submit", "POST", "/api/v1/service-requests", headers, {
            "service_code": "public_repair", "division_code": f.worker_community,
            "description": "路灯不亮", "attributes": {"fixture": "streetlight"}}
    start = (dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(
        minute=0, second=0, microsecond=0, tzinfo=None)
        + dt.timedelta(hours=rng.randrange(2, 24 * 55)))
    return "booking", "POST", "/api/v1/bookings", headers, {
        "resource_id": rng.choice(f.rooms), "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=1)).isoformat(), "purpose": "居民议事会"}


class Connection:
    """One keep-alive HTTP/1.1 connection, reading just enough of each answer.

    An ``httpx.AsyncClient`` spends milliseconds of CPU per request once thousands wait
    for its pool, which made the generator the bottleneck (as in ``services_bench``);
    a fixed set of these costs tens of microseconds a request.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, request: Request) -> int:
        """The status of the answer to ``request``."""
        _, method, target, headers, document = request
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        body = json.dumps(document).encode() if document is not None else b""
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if document is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        header = await reader.readuntil(b"\r\n\r\n")
        length, chunked = 0, False
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if chunked:
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                await reader.readexactly(size + 2)
            await reader.readexactly(2)
        else:
            await reader.readexactly(length)
        return int(header[9:12])

    async def timed(self, request: Request, due: float) -> Outcome:
        """Send ``request``; its latency counts from ``due``.  No answer within
        :data:`TIMEOUT_S` (or a broken connection) is status 0, and a new connection."""
        try:
            status = await asyncio.wait_for(self.send(request), TIMEOUT_S)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            status = 0
            if self.streams is not None:
                self.streams[1].close()
            self.streams = None
        return Outcome(request[0], status, time.perf_counter() - due)


def _address(base: str) -> tuple[str, int]:
    url = urlsplit(base)
    return url.hostname or "127.0.0.1", url.port or 80


async def open_loop(base: str, f: Fixture, rate: float, seconds: float, seed: int,
                    connections: int = 64) -> tuple[list[Outcome], float]:
    """``rate`` requests a second for ``seconds``, half anonymous, half signed in, over
    ``connections`` keep-alive connections; request i is due at t0 + i/rate.

    Bounded in time: a request not sent by :data:`TIMEOUT_S` after the last one was due
    is never sent and counts as an error (the server did not keep up with the rate).
    """
    rng = random.Random(seed)
    n = int(rate * seconds)
    requests = [(anonymous if i % 2 == 0 else signed_in)(rng, f) for i in range(n)]
    outcomes: list[Outcome | None] = [None] * n
    next_index = 0
    t0 = time.perf_counter() + 0.05

    stop = t0 + seconds + TIMEOUT_S

    async def connection_worker() -> None:
        nonlocal next_index
        connection = Connection(*_address(base))
        while next_index < n and time.perf_counter() < stop:
            i = next_index
            next_index += 1
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            outcomes[i] = await connection.timed(requests[i], due)

    await asyncio.gather(*(connection_worker() for _ in range(connections)))
    elapsed = time.perf_counter() - t0
    return [o or Outcome(r[0], -1, float("nan")) for o, r in zip(outcomes, requests,
                                                                    strict=True)], elapsed


async def burst(base: str, f: Fixture, n: int) -> tuple[list[Outcome], list[Outcome]]:
    """``n`` signed-in reads at once, each on its own connection; the region probe every
    100 ms on one more until all are answered."""
    rng = random.Random(7)
    reads: list[Request] = []
    while len(reads) < n:
        request = signed_in(rng, f)
        if request[1] == "GET":
            reads.append(request)
    started = time.perf_counter()
    flood = asyncio.gather(*(Connection(*_address(base)).timed(r, started) for r in reads))
    probe = Connection(*_address(base))
    probes = []
    while not flood.done():
        probes.append(await probe.timed(("probe", "GET", "/api/v1/region", {}, None),
                                        time.perf_counter()))
        await asyncio.sleep(0.1)
    return list(await flood), probes


# -- reporting -----------------------------------------------------------------------


def _ms(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(outcomes: list[Outcome], elapsed: float) -> dict[str, Any]:
    """Throughput and p50/p99 of answered requests; errors: 5xx, no answer in time (0) and
    never sent (-1, the server fell behind); refusals (4xx) apart."""
    answered = [o.seconds for o in outcomes if 0 < o.status < 500]
    return {"offered": len(outcomes), "rps": len(answered) / elapsed,
            "p50": _ms(answered, 0.50), "p99": _ms(answered, 0.99),
            "errors": sum(1 for o in outcomes if o.status <= 0 or o.status >= 500),
            "unsent": sum(1 for o in outcomes if o.status < 0),
            "5xx": sum(1 for o in outcomes if o.status >= 500),
            "refused": sum(1 for o in outcomes if 400 <= o.status < 500)}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    """Run every back-end × worker count and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--workers", default="1,2,4", help="uvicorn worker counts")
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--burst", type=int, default=200, help="requests at once")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rows: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = []
    by_kind: dict[tuple[str, int], str] = {}
    with tempfile.TemporaryDirectory(prefix="shequ-load-") as scratch:
        for backend in args.backends.split(","):
            data_dir = Path(scratch) / backend
            with database(backend, data_dir) as url:
                print(f"{backend}: building the demo county …", flush=True)
                fixture = build(data_dir, url)
                for workers in (int(w) for w in args.workers.split(",")):
                    with server(data_dir, url, workers, _free_port()) as (base, pid):
                        if not fixture.tokens:
                            sign_in(base, fixture)
                        cpu_before = server_cpu_seconds(pid)
                        outcomes, elapsed = asyncio.run(open_loop(
                            base, fixture, args.rate, args.seconds, args.seed))
                        cpu_ms = 1000 * (server_cpu_seconds(pid) - cpu_before) / len(outcomes)
                        flood, probes = asyncio.run(burst(base, fixture, args.burst))
                    load_avg = os.getloadavg()[0]
                    result = summary(outcomes, elapsed)
                    result["load"] = load_avg
                    result["cpu_ms"] = cpu_ms
                    burst_result = {
                        "ok": sum(1 for o in flood if o.status == 200), "n": len(flood),
                        "seconds": max(o.seconds for o in flood),
                        "probes": len(probes),
                        "probes_ok": sum(1 for o in probes if o.status == 200),
                        "probe_max_ms": _ms([o.seconds for o in probes], 1.0)}
                    rows.append((backend, workers, result, burst_result))
                    medians = {kind: 1000 * statistics.median(
                        o.seconds for o in outcomes if o.kind == kind and o.status > 0)
                        for kind in sorted({o.kind for o in outcomes if o.status > 0})}
                    by_kind[(backend, workers)] = ", ".join(
                        f"{kind} {ms:.0f}" for kind, ms in medians.items())
                    print(f"  {backend} × {workers}: {result['rps']:.0f} req/s, p50 "
                          f"{result['p50']:.0f} ms, p99 {result['p99']:.0f} ms, errors "
                          f"{result['errors']} ({result['unsent']} never sent, "
                          f"{result['5xx']} 5xx), refused "
                          f"{result['refused']}; burst "
                          f"{burst_result['ok']}/{burst_result['n']} in "
                          f"{burst_result['seconds']:.1f} s, probes "
                          f"{burst_result['probes_ok']}/{burst_result['probes']} (max "
                          f"{burst_result['probe_max_ms']:.0f} ms); server CPU {cpu_ms:.2f} ms a "
                          f"request; load {load_avg:.2f}",
                          flush=True)
    print(f"\nOpen loop: {args.rate:g} requests/s for {args.seconds:g} s, half signed in; "
          f"burst: {args.burst} signed-in requests at once, probe every 100 ms.\n")
    print("| back-end | workers | answered/s | p50 ms | p99 ms | errors (never sent) | "
          "refused (4xx) | burst answered | burst s | probes answered | probe max ms | "
          "server CPU ms a request | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for backend, workers, r, b in rows:
        print(f"| {backend} | {workers} | {r['rps']:.0f} | {r['p50']:.0f} | {r['p99']:.0f} | "
              f"{r['errors']} ({r['unsent']}) | {r['refused']} | {b['ok']}/{b['n']} | "
              f"{b['seconds']:.1f} | "
              f"{b['probes_ok']}/{b['probes']} | {b['probe_max_ms']:.0f} | {r['cpu_ms']:.2f} | "
              f"{r['load']:.2f} |")
    print()
    for (backend, workers), detail in by_kind.items():
        print(f"{backend} × {workers}, p50 ms by kind: {detail}")


if __name__ == "__main__":
    main()
