"""Personal data kept to need: detectors and masks, keys and their rotation, encryption at
rest with audited whole reads, retention, the 0009 conversion of the previous release's
rows, and a scan of the demo database for anything personal left in clear."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Engine,
    LargeBinary,
    create_engine,
    func,
    inspect,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session, sessionmaker
from stdnum.cn import ric
from typer.testing import CliRunner

from shequ.errors import ConfigurationError
from shequ.registry.db import alembic_config, make_engine, session_factory, upgrade
from shequ.services.accounts.crypto import (
    LEGACY_KEY_ID,
    Keyring,
    attach_keyring,
    derive_key,
    key_id_of,
    new_key,
)
from shequ.services.accounts.models import AuditLog, Resident, User
from shequ.services.accounts.residents import view_resident
from shequ.services.care import service as care
from shequ.services.care.models import ApplicationStatus, CareApplication
from shequ.services.care.rules import load_priority_rules
from shequ.services.privacy import (
    ANONYMISED_NAME,
    PersonalKind,
    encrypted_columns,
    find_personal,
    mask_personal,
    purge,
    reencrypt,
    retention_periods,
    split_free_text,
)
from shequ.services.requests import service as rs
from shequ.services.requests.definitions import load_request_catalog
from shequ.services.requests.models import RequestStatus, ServiceRequest
from shequ.settings import Settings

from .conftest import IDENTITY_NUMBER, seed

CATALOG = load_request_catalog()
REPAIR = {"fixture": "streetlight"}
# A valid GB 11643 number: 17 digits and the check character python-stdnum computes.
ID_17 = "13012319800101123"
VALID_ID = ID_17 + ric.calc_check_digit(ID_17)
BAD_CHECK_ID = ID_17 + ("0" if VALID_ID[-1] != "0" else "1")


def test_detectors_find_numbers_and_emails_and_leave_codes_alone() -> None:
    text = (f"请联系13812345678或+86 139-1234-5678，座机0311-88765432，邮箱 zhang.san@example.cn，"
            f"身份证{VALID_ID}；错号{BAD_CHECK_ID}；社区代码130123001001，编号2024120100001")
    found = [(f.kind, f.value) for f in find_personal(text)]
    assert found == [
        (PersonalKind.MOBILE, "13812345678"),
        (PersonalKind.MOBILE, "+86 139-1234-5678"),
        (PersonalKind.LANDLINE, "0311-88765432"),
        (PersonalKind.EMAIL, "zhang.san@example.cn"),
        (PersonalKind.IDENTITY_NUMBER, VALID_ID),
    ]
    assert mask_personal(text) == (
        "请联系138****5678或139****5678，座机0311-******32，邮箱 z***@example.cn，"
        f"身份证{VALID_ID[:4]}**********{VALID_ID[-4:]}；错号{BAD_CHECK_ID}；"
        "社区代码130123001001，编号2024120100001")


def test_free_text_is_split_only_when_it_holds_personal_data() -> None:
    assert split_free_text("路灯不亮") == ("路灯不亮", None)
    assert split_free_text("请打13900001111") == ("请打139****1111", "请打13900001111")
    assert split_free_text(None) == (None, None)


def test_keyring_settings_parse_refuse_and_keep_the_session_secret_apart() -> None:
    k1, k2, lookup = new_key(), new_key(), new_key()
    settings = Settings(data_keys=f"k2:{k2},k1:{k1}", lookup_key=lookup, secret_key="s" * 40)
    ring = settings.keyring
    assert ring.current_key_id == "k2" and [k for k, _ in ring.data_keys] == ["k2", "k1"]
    # Changing the session secret changes no data key (only the legacy one).
    assert settings.with_(secret_key="t" * 40).keyring.data_keys == ring.data_keys
    with pytest.raises(ConfigurationError, match="not 32 bytes"):
        _ = Settings(data_keys="k1:c2hvcnQ=", lookup_key=lookup).keyring
    with pytest.raises(ConfigurationError, match="is not 'id:base64'"):
        _ = Settings(data_keys=k1, lookup_key=lookup).keyring
    with pytest.raises(ConfigurationError, match="go together"):
        _ = Settings(data_keys=f"k1:{k1}").keyring
    with pytest.raises(ConfigurationError, match="SHEQU_DATA_KEYS"):
        Settings.from_env({"SHEQU_ENV": "production", "SHEQU_SECRET_KEY": "x" * 40,
                           "SHEQU_DATABASE_URL": "sqlite:///x"})
    production = Settings.from_env({
        "SHEQU_ENV": "production", "SHEQU_SECRET_KEY": "x" * 40,
        "SHEQU_DATABASE_URL": "sqlite:///x", "SHEQU_DATA_KEYS": f"k1:{k1}",
        "SHEQU_LOOKUP_KEY": lookup})
    assert production.keyring.current_key_id == "k1"


def _legacy_blob(secret: str, field: str, value: str) -> bytes:
    """A value as the previous release stored it: nonce || ciphertext, key from the secret."""
    nonce = os.urandom(12)
    key = derive_key(secret, b"shequ personal fields v1")
    return nonce + AESGCM(key).encrypt(nonce, value.encode(), field.encode())


def _ring(*ids: str, secret: str = "legacy-secret-" + "x" * 30) -> Keyring:
    keys = {i: bytes([n + 1]) * 32 for n, i in enumerate(["k1", "k2", "k3"])}
    return Keyring(tuple((i, keys[i]) for i in ids), b"L" * 32, secret)


def _stored(engine: Engine) -> list[tuple[str, bytes]]:
    """Every encrypted value as stored, with the column it is in."""
    out = []
    with engine.connect() as connection:
        for table, column, _field in encrypted_columns():
            for (blob,) in connection.execute(select(type_coerce(column, LargeBinary)).where(
                    column.is_not(None)).select_from(table)):
                out.append((f"{table.name}.{column.name}", bytes(blob)))
    return out


def _populate(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """The seeded region, a request with numbers in it, a care application and a review."""
    rules = load_priority_rules()
    with sessions() as session:
        seeded = seed(session)
        users = {name: session.get(User, uid) for name, uid in seeded.users.items()}
        request = rs.submit_request(session, CATALOG, rs.RequestDraft(
            service_code="public_repair", attributes=REPAIR,
            description=f"楼道灯坏了，联系 13912345678 或 {VALID_ID}",
            division_code="110101001001", contact_name="李四", contact_email="li.si@example.cn",
            contact_phone="13700001111"), submitter=users["resident1"]).request
        facility = seeded.facilities["多福巷老年人日间照料中心"]
        application = care.apply(session, rules, facility_id=facility,
                                 applicant_user_id=seeded.users["resident1"],
                                 beneficiary_name="王大爷",
                                 beneficiary_birth_date=dt.date(1940, 5, 6),
                                 division_code="110101001001", priority_groups=["disability"],
                                 now=dt.datetime(2026, 11, 1, 9, 0))  # noqa: DTZ001 (CST)
        session.commit()
        return {"seeded": seeded, "request": request.id, "application": application.id}


def test_rotation_reencrypts_every_value_and_leaves_none_under_the_old_key(
        engine: Engine) -> None:
    secret = "legacy-secret-" + "x" * 30
    attach_keyring(engine, _ring("k1", secret=secret))
    sessions = session_factory(engine)
    ids = _populate(sessions)
    # One value still as the previous release wrote it.
    with engine.begin() as connection:
        connection.execute(text("UPDATE resident SET phone_enc = :b WHERE id = :i"),
                           {"b": _legacy_blob(secret, "phone", "13600002222"),
                            "i": ids["seeded"].resident_id})
    before = _stored(engine)
    assert {key_id_of(b, _ring("k1", secret=secret)) for _, b in before} == {"k1", LEGACY_KEY_ID}

    attach_keyring(engine, _ring("k2", "k1", secret=secret))  # rotate: k2 first, k1 kept
    report = reencrypt(engine, batch_size=2)
    assert report.key_id == "k2"
    assert report.total_rewritten == len(before)
    assert report.from_keys == {"k1": len(before) - 1, LEGACY_KEY_ID: 1}
    assert report.hashes_renewed == 0  # the look-up key did not change
    assert reencrypt(engine).total_rewritten == 0  # idempotent

    # Nothing is left under k1 or the legacy key: a ring of k2 alone reads everything.
    attach_keyring(engine, _ring("k2", secret="another-secret-" + "y" * 30))
    assert {key_id_of(b, _ring("k2")) for _, b in _stored(engine)} == {"k2"}
    with sessions() as session:
        resident = session.get(Resident, ids["seeded"].resident_id)
        assert resident is not None
        assert (resident.name, resident.identity_number_enc, resident.phone_enc,
                resident.address) == ("张三", IDENTITY_NUMBER, "13600002222", "多福巷 1 号")
        request = session.get(ServiceRequest, ids["request"])
        assert request is not None
        assert (request.contact_name_enc, request.contact_email_enc,
                request.contact_phone_enc) == ("李四", "li.si@example.cn", "13700001111")
        assert request.description_enc == f"楼道灯坏了，联系 13912345678 或 {VALID_ID}"
        app = session.get(CareApplication, ids["application"])
        assert app is not None
        assert (app.beneficiary_name, app.beneficiary_birth_date, app.priority_groups) == (
            "王大爷", dt.date(1940, 5, 6), "disability")


def test_personal_fields_are_stored_encrypted_and_shown_whole_only_to_those_who_need_them(
        engine: Engine) -> None:
    sessions = session_factory(engine)
    ids = _populate(sessions)
    with engine.connect() as connection:
        clear = connection.execute(text(
            "SELECT description FROM service_request WHERE id = :i"), {"i": ids["request"]}
        ).scalar_one()
        masked_name = connection.execute(text(
            "SELECT name_masked FROM resident")).scalar_one()
    assert clear == f"楼道灯坏了，联系 139****5678 或 {VALID_ID[:4]}**********{VALID_ID[-4:]}"
    assert masked_name == "张*"
    with sessions() as session:
        users = {name: session.get_one(User, uid) for name, uid in ids["seeded"].users.items()}
        resident = session.get(Resident, ids["seeded"].resident_id)
        request = session.get(ServiceRequest, ids["request"])
        assert resident is not None and request is not None
        worker = view_resident(session, resident, user=users["worker_dfx"])
        planner = view_resident(session, resident, user=users["planner_dc"])
        assert (worker.name, worker.address) == ("张三", "多福巷 1 号")
        assert (planner.name, planner.address, planner.phone) == ("张*", None, "138****5678")
        assert rs.whole_description(request, user=users["planner_dc"], session=session) == clear
        assert rs.whole_description(request, user=users["worker_dfx"],
                                    session=session) == request.description_enc
        session.flush()
        reads = session.execute(select(AuditLog.username, AuditLog.action, AuditLog.entity)
                                .where(AuditLog.action.in_(["read_personal", "read_masked"]))
                                .order_by(AuditLog.id)).all()
    assert [tuple(r) for r in reads] == [
        ("worker_dfx", "read_personal", "resident"), ("planner_dc", "read_masked", "resident"),
        ("worker_dfx", "read_personal", "service_request")]


def test_purge_anonymises_and_deletes_what_is_past_retention_and_audits_it(
        engine: Engine) -> None:
    sessions = session_factory(engine)
    ids = _populate(sessions)
    now = dt.datetime(2027, 12, 1, tzinfo=dt.UTC)
    with sessions() as session:
        request = session.get(ServiceRequest, ids["request"])
        assert request is not None
        request.status = RequestStatus.CLOSED.value
        request.closed_at = now - dt.timedelta(days=366)
        fresh = rs.submit_request(session, CATALOG, rs.RequestDraft(
            service_code="public_repair", description="电话 13900002222", attributes=REPAIR,
            division_code="110101001001", contact_phone="13900002222")).request
        fresh.status, fresh.closed_at = RequestStatus.CLOSED.value, now - dt.timedelta(days=364)
        app = session.get(CareApplication, ids["application"])
        assert app is not None
        app.status, app.decided_at = ApplicationStatus.WITHDRAWN.value, dt.datetime(2024, 11, 1)  # noqa: DTZ001 (CST wall clock)
        session.execute(update(AuditLog).values(at=now - dt.timedelta(days=1200)))
        old_audit = session.scalar(select(func.count()).select_from(AuditLog))
        session.commit()
        fresh_id = fresh.id
    periods = retention_periods("request_contact=365")
    assert periods == {"request_contact": 365, "care_application": 1095, "audit_log": 1095}
    with sessions() as session:
        dry = purge(session, periods, now=now, dry_run=True)
        session.commit()
    assert dry.counts == {"request_contact": 1, "care_application": 1, "audit_log": old_audit}
    with sessions() as session:
        done = purge(session, periods, now=now)
        session.commit()
    assert done.counts == dry.counts
    with sessions() as session:
        old = session.get(ServiceRequest, ids["request"])
        kept = session.get(ServiceRequest, fresh_id)
        app = session.get(CareApplication, ids["application"])
        assert old is not None and kept is not None and app is not None
        assert (old.contact_name_enc, old.contact_phone_enc, old.description_enc) == (
            None, None, None)
        assert old.description is not None and "139****5678" in old.description
        assert kept.contact_phone_enc == "13900002222"
        assert (app.beneficiary_name, app.beneficiary_name_masked, app.beneficiary_birth_date,
                app.priority_groups) == (ANONYMISED_NAME, ANONYMISED_NAME, dt.date(1940, 1, 1),
                                         "")
        left = session.execute(select(AuditLog.action, AuditLog.entity).order_by(AuditLog.id)
                               ).all()
    assert [tuple(r) for r in left] == [("purge", "request_contact"),
                                        ("purge", "care_application"),
                                        ("purge", "audit_log")]
    with sessions() as session:
        assert purge(session, periods, now=now).counts == {
            "request_contact": 0, "care_application": 0, "audit_log": 0}
    with pytest.raises(ConfigurationError, match="180 days"):
        retention_periods("audit_log=30")


def test_0009_converts_the_previous_release_rows_without_losing_any(tmp_path: Path) -> None:
    from tests.registry.make_release_fixture import SECRET
    from tests.registry.previous_release import release_sqlite

    path = release_sqlite(tmp_path)
    raw = create_engine(f"sqlite:///{path}")
    with raw.connect() as connection:
        residents = connection.execute(text("SELECT id, name, address FROM resident")).all()
        requests = connection.execute(text(
            "SELECT id, contact_name, contact_email, description FROM service_request")).all()
        apps = connection.execute(text(
            "SELECT id, beneficiary_name, beneficiary_birth_date, priority_groups, note "
            "FROM care_application")).all()
    raw.dispose()
    assert residents and requests and apps
    engine = attach_keyring(make_engine(f"sqlite:///{path}"),
                            Keyring.development(legacy_secret=SECRET))
    upgrade(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("resident")}
    assert {"name", "address"}.isdisjoint(columns) and {"name_enc", "address_enc"} <= columns
    with session_factory(engine)() as session:
        for rid, name, address in residents:
            resident = session.get(Resident, rid)
            assert resident is not None
            assert (resident.name, resident.address) == (name, address)
            assert resident.name_masked == name[0] + "*" * (len(name) - 1)
            assert resident.phone_enc is None or resident.phone_enc.isdigit()  # legacy reads
        for qid, contact_name, contact_email, description in requests:
            request = session.get(ServiceRequest, qid)
            assert request is not None
            assert (request.contact_name_enc, request.contact_email_enc) == (contact_name,
                                                                             contact_email)
            assert (request.description_enc or request.description) == description
        for aid, name, birth, groups, note in apps:
            app = session.get(CareApplication, aid)
            assert app is not None
            assert (app.beneficiary_name, app.beneficiary_birth_date.isoformat(),
                    app.priority_groups, app.note) == (name, str(birth)[:10], groups, note)
    # And back: the downgrade of 0009 decrypts into the clear columns again.
    from alembic import command

    command.downgrade(alembic_config(engine), "0007")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id, name, address FROM resident")).all() == \
            residents
    engine.dispose()


def test_the_demo_database_holds_no_personal_number_or_email_in_clear(tmp_path: Path) -> None:
    from shequ.cli import app

    folder = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--data-dir", str(folder)])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{folder / 'shequ.sqlite3'}")
    # Residents type numbers into what they send; what is stored in clear must not hold them.
    with session_factory(engine)() as session:
        user = session.scalar(select(User).where(User.username == "demo_resident"))
        community = session.scalar(select(Resident.division_code))
        assert user is not None and community is not None
        rs.submit_request(session, CATALOG, rs.RequestDraft(
            service_code="public_repair", attributes=REPAIR,
            description=f"漏水，打我电话 13812345678，身份证 {VALID_ID}",
            division_code=community, contact_email="resident@example.cn",
            contact_name="演示居民", contact_phone="13812345678"), submitter=user)
        session.commit()
    leaks = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for column in inspect(engine).get_columns(table):
                if isinstance(column["type"], LargeBinary):
                    continue  # encrypted columns
                for (value,) in connection.execute(text(f'SELECT "{column["name"]}" FROM '
                                                        f'"{table}"')):
                    if isinstance(value, str) and find_personal(value):
                        leaks.append((table, column["name"], value[:80]))
        scanned = connection.execute(text("SELECT count(*) FROM service_request")).scalar_one()
    engine.dispose()
    assert scanned >= 1
    assert leaks == []
