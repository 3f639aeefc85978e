"""personal data encrypted at rest; numbers typed into free text masked

Residents' names and addresses, a request's contact name and e-mail, a care
beneficiary's name, birth date, priority groups (disability among them) and notes move
from clear columns into AES-GCM ``*_enc`` columns (names keep a masked form for lists).
Free text (a request's description, notes and rating comment, an event's note, a
review's comment) is masked where it holds an identity number, a phone number or an
e-mail, with the whole text encrypted beside it.  Every value is converted in place,
none is lost; the downgrade decrypts them back into the clear columns.

The keys are the engine's keyring (``Context.open`` attaches the configured one).

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from shequ.services.accounts.crypto import Keyring, keyring_of, mask_name
from shequ.services.privacy import split_free_text

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, clear column, its type, nullable, encrypted column, associated data, kind)
MOVED: tuple[tuple[str, str, sa.types.TypeEngine[Any], bool, str, str, str], ...] = (
    ("resident", "name", sa.String(100), False, "name_enc", "resident.name", "text"),
    ("resident", "address", sa.String(300), True, "address_enc", "resident.address", "text"),
    ("service_request", "contact_name", sa.String(100), True, "contact_name_enc",
     "request.contact_name", "text"),
    ("service_request", "contact_email", sa.String(200), True, "contact_email_enc",
     "request.contact_email", "text"),
    ("care_application", "beneficiary_name", sa.String(100), False, "beneficiary_name_enc",
     "care.beneficiary_name", "text"),
    ("care_application", "beneficiary_birth_date", sa.Date(), False,
     "beneficiary_birth_date_enc", "care.beneficiary_birth_date", "date"),
    ("care_application", "priority_groups", sa.String(300), False, "priority_groups_enc",
     "care.priority_groups", "text"),
    ("care_application", "note", sa.Text(), True, "note_enc", "care.note", "text"),
)
# Masked name columns: (table, column, source clear column).
MASKED_NAMES = (("resident", "name_masked", "name"),
                ("care_application", "beneficiary_name_masked", "beneficiary_name"))
# Free text kept masked in its column, whole beside it: (table, column, encrypted, data).
FREE_TEXT = (
    ("service_request", "description", "description_enc", "request.description"),
    ("service_request", "status_notes", "status_notes_enc", "request.status_notes"),
    ("service_request", "rating_comment", "rating_comment_enc", "request.rating_comment"),
    ("service_request_event", "note", "note_enc", "request_event.note"),
    ("review", "comment", "comment_enc", "review.comment"),
)
TABLES = ("resident", "service_request", "service_request_event", "care_application", "review")


def _rows(bind: sa.Connection, table: str, columns: list[tuple[str, Any]]
          ) -> list[sa.Row[Any]]:
    shape = sa.table(table, sa.column("id", sa.Integer()),
                     *[sa.column(name, kind) for name, kind in columns])
    return list(bind.execute(sa.select(*shape.c)).all())


def _write(bind: sa.Connection, table: str, values: list[dict[str, Any]]) -> None:
    if not values:
        return
    names = [k for k in values[0] if k != "id"]
    if not names:
        return  # nothing to restore in this row
    shape = sa.table(table, sa.column("id", sa.Integer()),
                     *[sa.column(n) for n in names])
    bind.execute(shape.update().where(shape.c.id == sa.bindparam("_id")).values(
        {n: sa.bindparam(n) for n in names}),
        [{**{k: v for k, v in row.items() if k != "id"}, "_id": row["id"]} for row in values])


def _encrypted(row: sa.Row[Any], keys: Keyring, moved: list[Any], free: list[Any],
               masked: list[Any]) -> dict[str, Any]:
    """The new column values of one row: clear values encrypted, free text masked."""
    out: dict[str, Any] = {"id": row.id}
    for _t, clear, _k, _n, enc, field, kind in moved:
        value = getattr(row, clear)
        text = None if value is None else (value.isoformat() if kind == "date"
                                           else str(value))
        out[enc] = None if text is None else keys.encrypt(field, text)
    for _t, column, enc, field in free:
        shown, whole = split_free_text(getattr(row, column))
        out[column] = shown
        out[enc] = None if whole is None else keys.encrypt(field, whole)
    for _t, column, source in masked:
        out[column] = mask_name(getattr(row, source) or "")
    return out


def upgrade() -> None:
    bind = op.get_bind()
    keys = keyring_of(bind)
    for table in TABLES:
        moved = [m for m in MOVED if m[0] == table]
        free = [f for f in FREE_TEXT if f[0] == table]
        masked = [m for m in MASKED_NAMES if m[0] == table]
        with op.batch_alter_table(table) as batch:
            for m in moved:
                batch.add_column(sa.Column(m[4], sa.LargeBinary(), nullable=True))
            for f in free:
                batch.add_column(sa.Column(f[2], sa.LargeBinary(), nullable=True))
            for n in masked:
                batch.add_column(sa.Column(n[1], sa.String(100), nullable=True))
        read = [(m[1], m[2]) for m in moved] + [(f[1], sa.Text()) for f in free]
        _write(bind, table, [_encrypted(row, keys, moved, free, masked)
                             for row in _rows(bind, table, read)])
        with op.batch_alter_table(table) as batch:
            for m in moved:
                batch.drop_column(m[1])
                if not m[3]:
                    batch.alter_column(m[4], existing_type=sa.LargeBinary(), nullable=False)
            for n in masked:
                batch.alter_column(n[1], existing_type=sa.String(100), nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    keys = keyring_of(bind)
    for table in TABLES:
        moved = [m for m in MOVED if m[0] == table]
        free = [f for f in FREE_TEXT if f[0] == table]
        masked = [m for m in MASKED_NAMES if m[0] == table]
        with op.batch_alter_table(table) as batch:
            for m in moved:
                batch.add_column(sa.Column(m[1], m[2], nullable=True))
        read = ([(m[4], sa.LargeBinary()) for m in moved]
                + [(f[2], sa.LargeBinary()) for f in free])
        updates = []
        for row in _rows(bind, table, read):
            out: dict[str, Any] = {"id": row.id}
            for _t, clear, _k, _n, enc, field, kind in moved:
                blob = getattr(row, enc)
                text = None if blob is None else keys.decrypt(field, bytes(blob))
                out[clear] = (dt.date.fromisoformat(text) if kind == "date" and text
                              else text)
            for _t, column, enc, field in free:
                blob = getattr(row, enc)
                if blob is not None:  # the whole text back in place of the masked one
                    out[column] = keys.decrypt(field, bytes(blob))
            updates.append(out)
        for row_values in updates:  # rows differ in which free text they restore
            _write(bind, table, [row_values])
        with op.batch_alter_table(table) as batch:
            for m in moved:
                batch.drop_column(m[4])
                if not m[3]:
                    batch.alter_column(m[1], existing_type=m[2], nullable=False)
            for f in free:
                batch.drop_column(f[2])
            for n in masked:
                batch.drop_column(n[1])
