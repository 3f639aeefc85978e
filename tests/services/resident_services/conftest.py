"""Fixtures of the resident-services tests: every test database holds the accounts the
tests name by id (0–299: bookers, applicants, volunteers, organisers and staff), since
user ids are foreign keys to ``app_user``."""

from __future__ import annotations

import pytest

from shequ.registry.db import make_engine, session_factory

from .helpers import add_accounts

ACCOUNT_IDS = range(300)


@pytest.fixture
def db_url(db_url: str) -> str:
    """The empty, migrated database of the root fixture, with the accounts in place."""
    engine = make_engine(db_url)
    with session_factory(engine).begin() as session:
        add_accounts(session, ACCOUNT_IDS)
    engine.dispose()
    return db_url
