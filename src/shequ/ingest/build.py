"""Build the demo region into a registry: generate, store, save its streets, record meta."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from shequ.context import Context
from shequ.ingest import demo as demo_county
from shequ.ingest.demo_boundaries import store_demo_boundaries
from shequ.registry import queries

# 2: the demo county's townships and villages get synthetic boundaries.
GENERATOR_VERSION = "2"


@dataclass(frozen=True, slots=True)
class DemoBuild:
    """What building the demo did."""

    county_code: str
    county_name: str
    seed: int
    rebuilt: bool
    counts: dict[str, int]
    network_dir: Path


def build_demo(ctx: Context, *, county: str = demo_county.DEFAULT_COUNTY,
               seed: int = demo_county.DEFAULT_SEED, rebuild: bool = False) -> DemoBuild:
    """Generate and store the demo county unless the same one is already there."""
    from shequ.access.network import StreetNetwork

    code = demo_county.find_county_code(county)
    network_dir = ctx.settings.data_dir / "network"
    with ctx.sessions() as session:
        info = queries.meta(session)
    same = (info.get("region_code") == code and info.get("seed") == str(seed)
            and info.get("generator_version") == GENERATOR_VERSION
            and (network_dir / "network.json").is_file())
    if same and not rebuild:
        return DemoBuild(code, info.get("region_name", ""), seed, False,
                         {k[len("count_"):]: int(v) for k, v in info.items()
                          if k.startswith("count_")}, network_dir)
    generated = demo_county.generate(code, seed=seed, catalog=ctx.catalog)
    streets = generated.streets
    network = StreetNetwork.from_edges(
        node_ids=streets.node_ids, lon=streets.lon, lat=streets.lat, edge_u=streets.edge_u,
        edge_v=streets.edge_v, length_m=streets.length_m, synthetic=True,
        source=generated.source)
    network.save(network_dir)
    with ctx.sessions() as session, session.begin():
        counts = demo_county.store(session, generated)
        counts["boundaries"] = store_demo_boundaries(session, code, seed=seed,
                                                     as_of=queries.today())
        queries.set_meta(
            session, region_code=code, region_name=generated.county.name, synthetic="true",
            seed=str(seed), generator_version=GENERATOR_VERSION,
            network_dir=str(network_dir.resolve()),
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **{f"count_{k}": str(v) for k, v in counts.items()})
    return DemoBuild(code, generated.county.name, seed, True, counts, network_dir)


@dataclass(frozen=True, slots=True)
class DemoAnalysis:
    """What analysing the demo produced."""

    communities_evaluated: int
    indicator_values: int
    indicator_run: int | None


def analyse_demo(ctx: Context) -> DemoAnalysis:
    """Life circles on the demo's streets, then every indicator at every level.

    Access comes first because the life-circle indicators read its ``community_access``
    rows: one evaluation per year with figures (facilities open that year) and this year,
    so that each year's indicators show the coverage of its own facilities.
    """
    from shequ.access.store import compute_region_access, today_year
    from shequ.indicators.store import compute_for_registry, stored_periods

    with ctx.sessions() as session:
        years = sorted({*stored_periods(session), today_year()})
    for year in years:
        access = compute_region_access(ctx, period=year, store=True)
    run = compute_for_registry(ctx, note="shequ demo")
    with ctx.sessions() as session, session.begin():
        queries.set_meta(session, analysed_at=dt.datetime.now(dt.UTC).isoformat(
            timespec="seconds"))
    return DemoAnalysis(access.community_access["division_code"].n_unique(),
                        run.results.height, run.run_id)
