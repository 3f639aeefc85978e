"""Accounts and access: passwords, encryption at rest, masking, the jurisdiction policy,
tokens, and the production settings check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from shequ.errors import AccessDenied, ConfigurationError, ConflictError, ValidationError
from shequ.services.accounts import (
    AuditLog,
    Resident,
    Role,
    User,
    authenticate,
    create_resident,
    create_user,
    hash_password,
    jurisdiction_prefix,
    mask_identity_number,
    mask_phone,
    require_in_jurisdiction,
    verify_password,
    view_resident,
)
from shequ.services.accounts.crypto import Keyring, new_key
from shequ.services.accounts.tokens import check_csrf, csrf_token, read_token, sign_token
from shequ.settings import DEVELOPMENT_SECRET, Settings

from .conftest import IDENTITY_NUMBER, PHONE, SECRET, Seeded, seed


def test_password_hash_is_argon2id_and_verifies_only_the_password() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "correct horsE")
    assert not verify_password("not a hash", "correct horse")


@pytest.mark.parametrize(("password", "why"), [
    ("password", "top-10 common password"), ("12345678", "top-10 common password"),
    ("password-123", "similar to a commonly used password"), ("qwertyuiop", "keyboard"),
    ("worker_dfx2024", "too easy to guess")])
def test_common_and_guessable_passwords_are_refused_with_the_reason(password: str,
                                                                    why: str) -> None:
    from shequ.services.accounts.passwords import check_password_strength

    with pytest.raises(ValidationError, match="too easy to guess") as refused:
        check_password_strength(password, ("worker_dfx",))
    assert why.lower() in str(refused.value).lower()
    assert "passphrase of four or more unrelated words" in str(refused.value)


def test_a_long_passphrase_passes_the_policy() -> None:
    from shequ.services.accounts.passwords import check_password_strength

    check_password_strength("quiet lantern orbit meadow", ("worker_dfx",))
    with pytest.raises(ValidationError, match="shorter than 8"):
        check_password_strength("Zq7#", ())


def test_short_password_is_rejected() -> None:
    with pytest.raises(ValidationError, match="shorter than 8"):
        hash_password("short")


def test_masks_keep_four_and_four_or_three_and_four() -> None:
    assert mask_identity_number("11010519491231002X") == "1101**********002X"
    assert mask_phone("13812345678") == "138****5678"


def test_field_encryption_round_trips_and_is_bound_to_the_field() -> None:
    keys = Keyring.development()
    blob = keys.encrypt("phone", PHONE)
    assert PHONE.encode() not in blob
    assert keys.decrypt("phone", blob) == PHONE
    assert keys.encrypt("phone", PHONE) != blob  # fresh nonce each time
    with pytest.raises(ConfigurationError):
        keys.decrypt("identity_number", blob)
    other = Keyring((("dev", bytes(32)),), bytes(32))
    with pytest.raises(ConfigurationError):
        other.decrypt("phone", blob)


def _principal(role: str, code: str | None, *, uid: int = 1,
               resident_id: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=uid, role=role, jurisdiction_code=code, resident_id=resident_id)


@pytest.mark.parametrize(("role", "code", "prefix"), [
    ("community_worker", "110101001001", "110101001001"),
    ("street_officer", "110101001000", "110101001"),
    ("county_planner", "110101000000", "110101"),
    ("city_planner", "110100000000", "1101"),
    ("province_planner", "110000000000", "11"),
    ("national_planner", None, ""),
    ("admin", None, ""),
    ("resident", None, None),
])
def test_jurisdiction_prefix_follows_the_role_level(role: str, code: str | None,
                                                    prefix: str | None) -> None:
    assert jurisdiction_prefix(_principal(role, code)) == prefix


def test_require_in_jurisdiction_is_a_prefix_check() -> None:
    officer = _principal("street_officer", "110101001000")
    require_in_jurisdiction(officer, "110101001002")
    with pytest.raises(AccessDenied):
        require_in_jurisdiction(officer, "110101002001")
    with pytest.raises(AccessDenied):
        require_in_jurisdiction(_principal("resident", None), "110101001001")
    with pytest.raises(AccessDenied, match="no jurisdiction"):
        require_in_jurisdiction(_principal("community_worker", None), "110101001001")


def test_tokens_are_signed_and_csrf_is_bound_to_the_session() -> None:
    token = sign_token(SECRET, session_key="key-1", user_id=7, kind="bearer")
    claims = read_token(SECRET, token, kind="bearer")
    assert claims is not None and (claims.user_id, claims.session_key) == (7, "key-1")
    assert read_token(SECRET, token, kind="page") is None  # other salt
    assert read_token("another-secret-another-secret-000", token, kind="bearer") is None
    assert read_token(SECRET, token[:-2] + "xx", kind="bearer") is None
    assert check_csrf(SECRET, "sid-1", csrf_token(SECRET, "sid-1"))
    assert not check_csrf(SECRET, "sid-2", csrf_token(SECRET, "sid-1"))
    assert not check_csrf(SECRET, "sid-1", None)


def test_production_refuses_the_development_secret(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="SHEQU_SECRET_KEY"):
        Settings(environment="production", secret_key=DEVELOPMENT_SECRET,
                 database_url="sqlite:///x").check()
    with pytest.raises(ConfigurationError, match="SHEQU_DATA_KEYS"):
        Settings(environment="production", secret_key="x" * 40,
                 database_url="sqlite:///x").check()
    Settings(environment="production", secret_key="x" * 40, database_url="sqlite:///x",
             data_keys="k1:" + new_key(), lookup_key=new_key()).check()


@pytest.fixture
def seeded_db(sessions: sessionmaker[Session]) -> Seeded:
    """The test region on SQLite and on PostgreSQL."""
    with sessions() as session:
        return seed(session)


def test_personal_numbers_are_encrypted_at_rest(sessions: sessionmaker[Session],
                                                seeded_db: Seeded) -> None:
    with sessions() as session:
        raw = session.execute(text(
            "SELECT identity_number_enc, phone_enc, identity_number_hash FROM resident")).one()
        for column in raw:
            data = bytes(column) if not isinstance(column, str) else column.encode()
            assert IDENTITY_NUMBER.encode() not in data
            assert PHONE.encode() not in data
            assert b"1949" not in data


def test_view_resident_masks_for_planners_and_shows_workers_whole_with_audit(
        sessions: sessionmaker[Session], seeded_db: Seeded) -> None:
    with sessions() as session:
        resident = session.get(Resident, seeded_db.resident_id)
        assert resident is not None
        users = {u.username: u for u in session.scalars(select(User))}
        worker = view_resident(session, resident, user=users["worker_dfx"])
        assert (worker.identity_number, worker.phone, worker.whole) == (
            IDENTITY_NUMBER, PHONE, True)
        own = view_resident(session, resident, user=users["resident1"])
        assert own.identity_number == IDENTITY_NUMBER
        planner = view_resident(session, resident, user=users["planner_dc"])
        assert (planner.identity_number, planner.phone) == ("1101**********002X", "138****5678")
        admin = view_resident(session, resident, user=users["admin"])
        assert admin.identity_number == "1101**********002X"
        for outsider in ("worker_yz", "worker_xjmx", "resident2"):
            with pytest.raises(AccessDenied):
                view_resident(session, resident, user=users[outsider])
        session.commit()
        actions = session.scalars(select(AuditLog.action).where(
            AuditLog.entity == "resident", AuditLog.action.like("read%"))
            .order_by(AuditLog.id)).all()
        assert actions == ["read_personal", "read_personal", "read_masked", "read_masked"]


def test_identity_number_check_digit_and_uniqueness(sessions: sessionmaker[Session],
                                                    seeded_db: Seeded) -> None:
    with sessions() as session:
        with pytest.raises(ValidationError, match="check character"):
            create_resident(session, name="李四", division_code="110101001001",
                            identity_number="110105194912310021")
        with pytest.raises(ConflictError):
            create_resident(session, name="张三二", division_code="110101001001",
                            identity_number=IDENTITY_NUMBER.lower())


def test_create_user_checks_role_level_and_name(sessions: sessionmaker[Session],
                                                seeded_db: Seeded) -> None:
    with sessions() as session:
        with pytest.raises(ValidationError, match="level-4 division but role community_worker"):
            create_user(session, username="worker2", password="password-123",
                        role=Role.COMMUNITY_WORKER, jurisdiction_code="110101001000")
        with pytest.raises(ValidationError, match="has no jurisdiction"):
            create_user(session, username="admin2", password="password-123", role="admin",
                        jurisdiction_code="110000000000")
        with pytest.raises(ConflictError):
            create_user(session, username="admin", password="quiet lantern orbit meadow",
                        role="admin")
        assert authenticate(session, "admin", "password-123") is not None
        assert authenticate(session, "admin", "wrong-password") is None
        assert authenticate(session, "nobody", "password-123") is None
