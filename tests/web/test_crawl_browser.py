"""The whole product, crawled: every page a reader can reach by links from the home page
and the workbench, for every kind of reader (anonymous and the five demo accounts) in
both languages, each page and each form checked as :mod:`tests.web.crawl` describes.

The demo county is built once per test process with its analysis, demo accounts and
synthetic activity (what ``shequ demo`` serves); each crawl gets its own copy and
server, so that a form that wrongly accepts a bad value cannot change another crawl.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shequ.context import Context
from shequ.settings import Settings
from tests.conftest import running_server
from tests.web.crawl import LANGS, DataWords, crawl, database_words

pytestmark = pytest.mark.browser

# Who crawls: the anonymous reader and the demo accounts; whether the workbench is a start.
READERS: tuple[tuple[str | None, bool], ...] = (
    (None, False),
    ("demo_resident", False),
    ("demo_worker", True),
    ("demo_officer", True),
    ("demo_planner", True),
    ("demo_admin", True),
)
PAGES_PER_READER = 60
# A safety net for a machine far too busy (the crawl stops and warns), not a pace.
SECONDS_PER_READER = 300.0


@pytest.fixture(scope="session")
def lived_in_demo(tmp_path_factory: pytest.TempPathFactory, demo_template: Path
                  ) -> tuple[Path, DataWords]:
    """The demo county as ``shequ demo`` serves it (analysed, with the demo accounts and
    their activity), and the words its database holds."""
    from shequ.ingest.build import analyse_demo
    from shequ.registry import queries
    from shequ.services.accounts.demo import ensure_demo_accounts
    from shequ.services.bookings.clock import local_now
    from shequ.services.care.rules import load_priority_rules
    from shequ.services.demo_activity import populate_demo_activity
    from shequ.services.requests import load_request_catalog

    folder = tmp_path_factory.mktemp("crawl-demo")
    shutil.copytree(demo_template, folder, dirs_exist_ok=True)
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    try:
        analyse_demo(ctx)
        with ctx.sessions() as session:
            county = queries.meta(session)["region_code"]
            ensure_demo_accounts(session, county_code=county, environment="test")
            session.commit()
            populate_demo_activity(
                session, county_code=county, seed=int(queries.meta(session)["seed"]),
                now=local_now(), catalog=ctx.catalog,
                request_catalog=load_request_catalog(ctx.settings.catalog_dir),
                care_rules=load_priority_rules(ctx.settings.catalog_dir))
            session.commit()
        words = database_words(ctx)
        with ctx.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        ctx.close()
    return folder, words


@pytest.fixture
def crawled_server(tmp_path: Path, lived_in_demo: tuple[Path, DataWords]) -> Iterator[str]:
    """A private copy of the lived-in demo, served on a free localhost port."""
    folder = tmp_path / "demo"
    shutil.copytree(lived_in_demo[0], folder)
    ctx = Context.open(Settings(data_dir=folder, environment="test"))
    try:
        with running_server(ctx) as url:
            yield url
    finally:
        ctx.close()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("username", "staff"), READERS,
                         ids=[name or "anonymous" for name, _ in READERS])
def test_every_page_and_form_a_reader_reaches(
        chromium: Any, crawled_server: str, lived_in_demo: tuple[Path, DataWords],
        username: str | None, staff: bool, lang: str) -> None:
    from shequ.services.accounts.demo import DEMO_PASSWORD

    report = crawl(chromium, crawled_server, username=username, password=DEMO_PASSWORD,
                   lang=lang, data=lived_in_demo[1], staff=staff, cap=PAGES_PER_READER,
                   seconds=SECONDS_PER_READER)
    keep = os.environ.get("SHEQU_CRAWL_REPORTS")  # a folder to keep every crawl's report in
    if keep:
        Path(keep, f"{username or 'anonymous'}-{lang}.txt").write_text(
            report.describe() + "\n\npages:\n" + "\n".join(report.pages)
            + "\n\nforms sent:\n" + "\n".join(report.forms)
            + "\n\nforms without a certainly bad value:\n"
            + "\n".join(report.unexercised_forms) + "\n", encoding="utf-8")
        Path(keep, f"{username or 'anonymous'}-{lang}.json").write_text(json.dumps(
            {"role": report.role, "lang": lang, "pages": report.pages, "forms": report.forms,
             "unexercised_forms": report.unexercised_forms, "timings": report.timings,
             "failures": [[f.url, f.what] for f in report.failures]},
            ensure_ascii=False, indent=1), encoding="utf-8")
    if report.cut_short:
        warnings.warn(f"the crawl as {report.role} in {lang} ran out of time; not opened: "
                      f"{', '.join(report.cut_short)}", stacklevel=1)
    assert len(report.pages) >= 5, report.describe()
    assert not report.failures, report.describe()
