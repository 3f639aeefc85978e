"""Directory search near a point over 100 k services, and request submission, over HTTP.

Targets (PRODUCT.md): directory search p99 < 50 ms at >= 300 requests/s from a loopback
load generator; request submission >= 200/s; on SQLite and PostgreSQL.

The server (uvicorn) and the load generator (asyncio streams, open loop over 64
keep-alive connections:
request i is due at t0 + i/rate and its latency counts from that moment, so a slow server
cannot hide queueing) run as separate processes.  Data are generated from a seed: one
county of 20 streets x 25 communities and 100 k facilities in a 34 x 33 km box.
Besides rates and latencies it prints CPU per request of the server, of PostgreSQL's
backends and of the load generator: all three share the machine's cores.

    python bench/services_bench.py                 # both back-ends
    python bench/services_bench.py --backend sqlite --services 100000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy.engine import make_url

SECRET = "bench-secret-key-for-shequ-services-0123456789abcdef"
BOX = (116.20, 39.75, 116.60, 40.05)  # lon_min, lat_min, lon_max, lat_max
HOURS = ["Mo-Fr 08:30-17:30", "Mo-Su 08:00-20:00", "Tu-Su 09:00-21:00", "24/7",
         "Mo-Sa 08:00-12:00,13:30-17:00"]
PG_ADMIN = os.environ.get("SHEQU_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEYS = 50


def build(url: str, n_services: int, seed: int = 42) -> list[str]:
    """Migrate and fill the database at ``url``; return Open311 API keys."""
    from sqlalchemy import insert

    from shequ.catalog import load_catalog
    from shequ.context import Context
    from shequ.registry.models import Division, Facility
    from shequ.services.accounts import create_api_key
    from shequ.services.directory import sync_directory
    from shequ.settings import Settings

    ctx = Context.open(Settings(database_url=url, secret_key=SECRET, environment="test",
                                data_dir=Path(tempfile.gettempdir())))
    rng = np.random.default_rng(seed)
    lon0, lat0, lon1, lat1 = BOX
    start = dt.date(2000, 1, 1)
    divisions = [
        {"code": "110000000000", "level": 1, "parent_code": None, "name": "北京市"},
        {"code": "110100000000", "level": 2, "parent_code": "110000000000", "name": "市辖区"},
        {"code": "110101000000", "level": 3, "parent_code": "110100000000", "name": "东城区"},
    ]
    communities = []
    for s in range(1, 21):
        street = f"110101{s:03d}000"
        divisions.append({"code": street, "level": 4, "parent_code": "110101000000",
                          "name": f"街道{s}"})
        for c in range(1, 26):
            code = f"110101{s:03d}{c:03d}"
            lon = lon0 + (lon1 - lon0) * ((s - 1) % 5 + (c - 1) % 5 / 5 + 0.1) / 5
            lat = lat0 + (lat1 - lat0) * ((s - 1) // 5 + (c - 1) // 5 / 5 + 0.1) / 4
            divisions.append({"code": code, "level": 5, "parent_code": street,
                              "name": f"社区{s}-{c}", "longitude": lon, "latitude": lat,
                              "urban_rural": "111"})
            communities.append(code)
    for row in divisions:
        row.update(kind="district", valid_from=start, code_source="import", source="bench",
                   synthetic_geography=True)
        row.setdefault("longitude", None)
        row.setdefault("latitude", None)
        row.setdefault("urban_rural", None)
    types = list(load_catalog().facility_types)
    lons = rng.uniform(lon0, lon1, n_services)
    lats = rng.uniform(lat0, lat1, n_services)
    type_idx = rng.integers(0, len(types), n_services)
    hour_idx = rng.integers(0, len(HOURS), n_services)
    comm_idx = rng.integers(0, len(communities), n_services)
    now = dt.datetime.now(dt.UTC)
    with ctx.sessions() as session:
        session.execute(insert(Division), divisions)
        for lo in range(0, n_services, 10_000):
            hi = min(n_services, lo + 10_000)
            session.execute(insert(Facility), [
                {"type_code": types[type_idx[i]], "division_code": communities[comm_idx[i]],
                 "name": f"服务设施{i}", "longitude": float(lons[i]),
                 "latitude": float(lats[i]), "opening_hours": HOURS[hour_idx[i]],
                 "status": "in_service", "synthetic": True, "source": "bench",
                 "space_for_services": False, "updated_at": now}
                for i in range(lo, hi)])
        sync_directory(session)
        keys = [create_api_key(session, name=f"bench {k}")[1] for k in range(KEYS)]
        session.commit()
    if ctx.engine.dialect.name == "postgresql":
        # As after an import: statistics for the planner, and autovacuum's pass over the
        # fresh tables done now rather than in the middle of the measured run.
        with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    ctx.close()
    return keys


def app_factory() -> object:
    """The app over ``SHEQU_BENCH_URL`` (one per uvicorn worker process)."""
    from shequ.app import create_app
    from shequ.context import Context
    from shequ.settings import Settings

    ctx = Context.open(Settings(database_url=os.environ["SHEQU_BENCH_URL"], secret_key=SECRET,
                                environment="test", data_dir=Path(tempfile.gettempdir())),
                       migrate=False)
    return create_app(ctx)


def serve(url: str, port: int, workers: int, http: str = "auto") -> None:
    """Run the app on ``port`` with ``workers`` processes (the server)."""
    import uvicorn

    os.environ["SHEQU_BENCH_URL"] = url
    uvicorn.run("services_bench:app_factory", factory=True, app_dir=str(Path(__file__).parent),
                host="127.0.0.1", port=port, workers=workers, log_level="warning",
                access_log=False, http=http)


class _Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams.

    httpx spends milliseconds of CPU per request when hundreds wait for a connection,
    which made the generator, not the server, the bottleneck; this costs tens of
    microseconds.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, body: bytes = b"",
                      content_type: str = "") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n"
        if body:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        await self.writer.drain()
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        chunked = False
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            data = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
            return status, data
        return status, await self.reader.readexactly(length)


async def _open_loop(base: str, rate: float, seconds: float, seed: int) -> dict[str, float]:
    from urllib.parse import urlencode, urlsplit

    rng = np.random.default_rng(seed)
    lon0, lat0, lon1, lat1 = BOX
    n = int(rate * seconds)
    points = np.column_stack([rng.uniform(lon0 + 0.01, lon1 - 0.01, n),
                              rng.uniform(lat0 + 0.01, lat1 - 0.01, n)])
    url = urlsplit(base)
    latencies = np.zeros(n)
    errors = 0
    next_index = 0
    t0 = time.perf_counter() + 0.05

    async def connection_worker() -> None:
        nonlocal errors, next_index
        conn = _Connection(url.hostname or "127.0.0.1", url.port or 80)
        while next_index < n:
            i = next_index
            next_index += 1
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            lon, lat = points[i]
            query = urlencode({"latitude": f"{lat:.5f}", "longitude": f"{lon:.5f}",
                               "radius": 1000, "per_page": 20})
            try:
                status, body = await conn.request("GET", f"/hsds/services?{query}")
                if status != 200 or b'"contents":[]' in body:
                    errors += 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                conn = _Connection(url.hostname or "127.0.0.1", url.port or 80)
            latencies[i] = time.perf_counter() - due

    await asyncio.gather(*(connection_worker() for _ in range(64)))
    elapsed = time.perf_counter() - t0
    lat_ms = latencies * 1000
    return {"requests": n, "achieved_rps": n / elapsed, "p50_ms": float(np.percentile(lat_ms, 50)),
            "p99_ms": float(np.percentile(lat_ms, 99)), "max_ms": float(lat_ms.max()),
            "errors": errors}


async def _submit_closed_loop(base: str, keys: list[str], seconds: float,
                              concurrency: int) -> dict[str, float]:
    from urllib.parse import urlencode, urlsplit

    lon0, lat0, lon1, lat1 = BOX
    rng = np.random.default_rng(7)
    url = urlsplit(base)
    latencies: list[float] = []
    errors = 0
    count = 0
    stop = time.perf_counter() + seconds
    t0 = time.perf_counter()

    async def worker(w: int) -> None:
        nonlocal errors, count
        conn = _Connection(url.hostname or "127.0.0.1", url.port or 80)
        while time.perf_counter() < stop:
            lon, lat = rng.uniform(lon0, lon1), rng.uniform(lat0, lat1)
            body = urlencode({"api_key": keys[count % len(keys)],
                              "service_code": "public_repair",
                              "attribute[fixture]": "streetlight", "lat": f"{lat:.5f}",
                              "long": f"{lon:.5f}", "description": f"bench {w}"}).encode()
            began = time.perf_counter()
            count += 1
            try:
                status, _ = await conn.request("POST", "/open311/v2/requests.json", body,
                                               "application/x-www-form-urlencoded")
                ok = status == 200
            except (OSError, asyncio.IncompleteReadError, ValueError):
                ok = False
                conn = _Connection(url.hostname or "127.0.0.1", url.port or 80)
            latencies.append(time.perf_counter() - began)
            errors += 0 if ok else 1

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - t0
    lat_ms = np.array(latencies) * 1000
    return {"requests": count, "rps": count / elapsed, "p50_ms": float(np.percentile(lat_ms, 50)),
            "p99_ms": float(np.percentile(lat_ms, 99)), "errors": errors}


def load(base: str, mode: str, rate: float, seconds: float, keys_file: str) -> None:
    """The load generator process: print one JSON line of results."""
    if mode == "search":
        result = asyncio.run(_open_loop(base, rate, seconds, seed=int(rate)))
    else:
        keys = json.loads(Path(keys_file).read_text())
        result = asyncio.run(_submit_closed_loop(base, keys, seconds, concurrency=16))
    print(json.dumps(result))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its child processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        own, parent = int(stat.parent.name), int(fields[1])
        if own == pid or parent == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _database_cpu_seconds(database: str | None) -> float:
    """User + system CPU seconds of the PostgreSQL backends serving ``database``, plus
    what exited backends (of any database, autovacuum workers too) left in the
    postmaster's children times; 0 for SQLite, which runs inside the server's processes."""
    if database is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    parents = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes()
            if not command.startswith(b"postgres: "):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.add(fields[1])  # the postmaster (its background processes never exit)
        if f" {database} ".encode() in command:
            total += (int(fields[11]) + int(fields[12])) / tick
    for parent in parents:  # the postmaster: cutime + cstime of its reaped backends
        try:
            fields = Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[13]) + int(fields[14])) / tick
    return total


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(base: str) -> None:
    import httpx

    for _ in range(300):
        try:
            if httpx.get(base + "/hsds/", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def run_backend(name: str, url: str, args: argparse.Namespace, *, reuse: bool = False
                ) -> dict[str, dict[str, float]]:
    """Build (or reuse), serve, load; return the measurements of one back-end."""
    began = time.perf_counter()
    saved = Path(str(args.keep) + ".keys.json") if args.keep else None
    if reuse and saved is not None and saved.exists():
        keys = json.loads(saved.read_text())
    else:
        keys = build(url, args.services)
        if saved is not None:
            saved.write_text(json.dumps(keys))
        print(f"[{name}] built {args.services:,} services in "
              f"{time.perf_counter() - began:.1f} s", flush=True)
    keys_file = Path(tempfile.mkstemp(suffix=".json")[1])
    keys_file.write_text(json.dumps(keys))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port),
                               str(args.workers), args.http])
    try:
        _wait(base)
        me = [sys.executable, __file__, "--load", base]

        database = make_url(url).database if url.startswith("postgresql") else None

        def gen(mode: str, rate: float, seconds: float) -> dict[str, float]:
            cpu = _cpu_seconds(server.pid)
            db_cpu = _database_cpu_seconds(database)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run([*me, mode, str(rate), str(seconds), str(keys_file)],
                                  capture_output=True, text=True, check=False)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
            result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
            # Server CPU per request: what one core sustains, whatever else the machine runs.
            result["server_cpu_ms"] = (_cpu_seconds(server.pid) - cpu) * 1000 / max(
                1.0, result["requests"])
            # The load generator and PostgreSQL's backends work on the same two cores.
            result["generator_cpu_ms"] = (after.ru_utime + after.ru_stime - before.ru_utime
                                          - before.ru_stime) * 1000 / max(1.0, result["requests"])
            result["database_cpu_ms"] = (_database_cpu_seconds(database) - db_cpu) * 1000 / max(
                1.0, result["requests"])
            return result

        # Warm-up: every worker's point index, caches, connections, and the framework's
        # per-route setup on each worker's first request of a kind (~0.1 s of CPU).
        gen("search", 100, 3)
        gen("submit", 0, 1)
        results = {}
        for rate in args.rates:
            results[f"search@{rate:g}"] = gen("search", rate, args.seconds)
            print(f"[{name}] search {rate:g}/s: {results[f'search@{rate:g}']}", flush=True)
        results["submit"] = gen("submit", 0, args.seconds)
        print(f"[{name}] submit: {results['submit']}", flush=True)
        return results
    finally:
        server.terminate()
        server.wait(timeout=20)
        keys_file.unlink(missing_ok=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        load(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", type=float, nargs="+", default=[300.0])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--http", choices=["auto", "h11", "httptools"], default="auto",
                        help="uvicorn's HTTP parser (auto: httptools when installed)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="SQLite file to build once and reuse across runs")
    args = parser.parse_args()
    summary: dict[str, dict[str, dict[str, float]]] = {}
    if args.backend in ("sqlite", "both"):
        path = args.keep or Path(tempfile.mkdtemp(prefix="shequ-bench-")) / "bench.sqlite3"
        summary["sqlite"] = run_backend("sqlite", f"sqlite:///{path}", args,
                                        reuse=args.keep is not None and path.exists())
    if args.backend in ("postgres", "both"):
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"shequ_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin.url.set(database=name).render_as_string(hide_password=False)
            summary["postgres"] = run_backend("postgres", url, args)
        finally:
            with admin.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM "
                                        "pg_stat_activity WHERE datname = :n"), {"n": name})
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()
    print("\nbackend   work                 rate/s    p50 ms   p99 ms  cpu ms/req  db ms/req"
          "  gen ms/req  per core/s   target")
    for backend, results in summary.items():
        for work, r in results.items():
            rate = r.get("achieved_rps", r.get("rps", 0.0))
            target = ("p99 < 50 ms at >= 300/s" if work.startswith("search")
                      else ">= 200/s")
            ok = (r["p99_ms"] < 50 and rate >= 300 * 0.98) if work.startswith("search") \
                else rate >= 200
            cpu = r.get("server_cpu_ms", float("nan"))
            db = r.get("database_cpu_ms", 0.0)
            gen = r.get("generator_cpu_ms", float("nan"))
            print(f"{backend:9} {work:18} {rate:9.1f} {r['p50_ms']:9.1f} {r['p99_ms']:8.1f}"
                  f" {cpu:10.2f} {db:10.2f} {gen:11.2f} {1000 / cpu if cpu else 0:11.0f}"
                  f"   {target} {'OK' if ok else 'MISSED'}")
    print(f"(load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
