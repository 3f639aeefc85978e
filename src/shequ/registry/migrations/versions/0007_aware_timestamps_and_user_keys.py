"""aware timestamps and user keys: the resident services' times become instants, and
their user ids become foreign keys to ``app_user``

What the naive values meant.  Every writer of these columns (the bookings, care,
volunteers and reviews services, and their API, which turns an aware input into CST
first) stores ``local_now()`` or a time given by a resident: naive **China Standard Time
wall clock** (UTC+8, no daylight saving since 1991), never UTC.  That holds for every
column below, the instants (``created_at``, ``decided_at`` …) and the wall-clock times
(a booking's ``starts_at``, a slot's ``slot_start``, an offer's deadline) alike, so every
value is read as CST and stored as the instant it names: on PostgreSQL
``timestamptz`` via ``(value - 8 hours) AT TIME ZONE 'UTC'`` (an interval rather than
``AT TIME ZONE 'Asia/Shanghai'``, whose 1986–1991 summer time Python's fixed CST does
not have); on SQLite (which keeps text) the UTC text in SQLAlchemy's format.  The
wall-clock columns keep meaning what they meant: the models read them back as naive
CST (``shequ.registry.columns.ChinaDateTime``), so 19:00 on the notice board is still
19:00, and the slot grid and opening-hours rules are unchanged.  CST has one offset, so
the conversion is one-to-one and the slot key ``(resource_id, slot_start)`` stays unique.

User ids.  The services branch (0005) made ``app_user``; this revision merges it with the
resident-services branch (0006) so these tables can refer to it.  ``ON DELETE``:

* RESTRICT for whose record it is (a booker, an applicant, a volunteer, an organiser,
  a reviewer): bookings, waiting lists, confirmed hours and review scores are counted in
  reports and the assessment, so an account that has them is deactivated, not deleted;
* SET NULL for the staff member who acted (``decided_by``, ``moderated_by``,
  ``recorded_by``, ``confirmed_by``, a request step's ``user_id``): the decision stands if
  that account goes.

``audit_log.user_id`` stays a plain integer on purpose: the audit trail must outlive the
accounts it names and never block or cascade.

Before anything changes, every user id is checked against ``app_user``; orphans fail the
upgrade with their table, row ids and user ids, and nothing is dropped.  ``downgrade()``
turns the instants back into naive CST and drops the keys, keeping every row.

Revision ID: 0007
Revises: 0005c, 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = ("0005c", "0006")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every naive China Standard Time column of the resident services, by table.
CST_COLUMNS: dict[str, tuple[str, ...]] = {
    "booking_resource": ("created_at",),
    "booking_series": ("first_starts_at", "created_at"),
    "booking": ("starts_at", "ends_at", "created_at", "decided_at", "cancelled_at",
                "reminder_sent_at"),
    "booking_slot": ("slot_start",),
    "care_application": ("applied_at", "offered_at", "offer_deadline", "decided_at",
                         "ended_at"),
    "care_place_hold": ("held_since",),
    "volunteer": ("registered_at",),
    "volunteer_activity": ("starts_at", "ends_at", "created_at"),
    "volunteer_signup": ("signed_up_at", "recorded_at", "confirmed_at"),
    "review": ("created_at", "moderated_at"),
}

# (table, user-id column, ON DELETE), reasons in the module docstring.
USER_KEYS: tuple[tuple[str, str, str], ...] = (
    ("booking_series", "user_id", "RESTRICT"),
    ("booking", "user_id", "RESTRICT"),
    ("booking", "decided_by", "SET NULL"),
    ("care_application", "applicant_user_id", "RESTRICT"),
    ("volunteer", "user_id", "RESTRICT"),
    ("volunteer_activity", "organiser_user_id", "RESTRICT"),
    ("volunteer_signup", "recorded_by", "SET NULL"),
    ("volunteer_signup", "confirmed_by", "SET NULL"),
    ("review", "user_id", "RESTRICT"),
    ("review", "moderated_by", "SET NULL"),
    ("service_request_event", "user_id", "SET NULL"),
)

# The primary key of booking_slot includes its time: shifted in place row by row, a slot
# could meet one not yet shifted, so its values are first made distinct from every date.
KEYED_COLUMNS = {("booking_slot", "slot_start")}


def _key_name(table: str, column: str) -> str:
    return f"fk_{table}_{column}_app_user"


def _tables_of_keys() -> dict[str, list[tuple[str, str]]]:
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, ondelete in USER_KEYS:
        tables.setdefault(table, []).append((column, ondelete))
    return tables


def _check_no_orphans(connection: sa.Connection) -> None:
    """Fail, naming them, when any row names a user that ``app_user`` does not hold."""
    problems = []
    for table, column, _ in USER_KEYS:
        # Names come from the constants above, never from input.
        rows = connection.exec_driver_sql(
            f"SELECT {column}, count(*), min(rowid_), max(rowid_) FROM ("  # noqa: S608
            f"SELECT {column}, {_row_id(table)} AS rowid_ FROM {table} "
            f"WHERE {column} IS NOT NULL AND {column} NOT IN (SELECT id FROM app_user)"
            f") AS orphans GROUP BY {column} ORDER BY {column}"
        ).fetchall()
        for user_id, count, first, last in rows:
            problems.append(f"{table}.{column} = {user_id} in {count} row(s) "
                            f"({_row_id(table)} {first}…{last})")
    if problems:
        shown = "\n  - ".join(problems[:50])
        raise RuntimeError(
            f"{len(problems)} user id(s) name no account in app_user, so the foreign keys "
            f"cannot be added; nothing was changed:\n  - {shown}\n"
            "Create the missing accounts (inactive) or correct the ids, then upgrade again.")


def _row_id(table: str) -> str:
    # booking_slot and care_place_hold have composite keys; their partner id names the row.
    return {"booking_slot": "booking_id", "care_place_hold": "application_id"}.get(table, "id")


def _check_sqlite_text(connection: sa.Connection) -> None:
    """Fail before changing anything when a stored time is not text SQLite can read."""
    for table, columns in CST_COLUMNS.items():
        for column in columns:
            bad = connection.exec_driver_sql(
                f"SELECT {_row_id(table)}, {column} FROM {table} "  # noqa: S608
                f"WHERE {column} IS NOT NULL AND datetime({column}) IS NULL LIMIT 5"
            ).fetchall()
            if bad:
                raise RuntimeError(f"{table}.{column} holds values that are not date-times "
                                   f"({bad}); correct them, then upgrade again")


def _shift_sqlite(table: str, columns: Sequence[str], hours: int) -> None:
    """Shift stored text by ``hours``, keeping SQLAlchemy's ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    def shifted(expr: str) -> str:
        # datetime() drops the fraction; the original's characters from 20 on restore it.
        return f"datetime({expr}, '{hours:+d} hours') || substr({expr}, 20)"

    keyed = [c for c in columns if (table, c) in KEYED_COLUMNS]
    plain = [c for c in columns if (table, c) not in KEYED_COLUMNS]
    if plain:
        sets = ", ".join(f"{c} = {shifted(c)}" for c in plain)
        op.execute(f"UPDATE {table} SET {sets}")  # noqa: S608
    for c in keyed:
        op.execute(f"UPDATE {table} SET {c} = '~' || {c} WHERE {c} IS NOT NULL")  # noqa: S608
        expr = f"substr({c}, 2)"
        op.execute(f"UPDATE {table} SET {c} = {shifted(expr)} "  # noqa: S608
                   f"WHERE {c} IS NOT NULL")


def _alter_postgres(table: str, columns: Sequence[str], kind: str, using: str) -> None:
    """Change every time column of ``table`` in one statement: a check such as
    ``ends_at > starts_at`` must never compare a converted column with one not yet done."""
    changes = ", ".join(f"ALTER COLUMN {c} TYPE {kind} USING {using.format(c=c)}"
                        for c in columns)
    op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    _check_no_orphans(connection)
    if sqlite:
        _check_sqlite_text(connection)
    for table, columns in CST_COLUMNS.items():
        if sqlite:
            # SQLite keeps DATETIME text either way: only the values move to UTC.
            _shift_sqlite(table, columns, -8)
            continue
        _alter_postgres(table, columns, "timestamptz",
                        "({c} - interval '8 hours') AT TIME ZONE 'UTC'")
    for table, keys in _tables_of_keys().items():
        with op.batch_alter_table(table) as batch_op:
            for column, ondelete in keys:
                batch_op.create_foreign_key(_key_name(table, column), "app_user", [column],
                                            ["id"], ondelete=ondelete)


def downgrade() -> None:
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    for table, keys in _tables_of_keys().items():
        with op.batch_alter_table(table) as batch_op:
            for column, _ in keys:
                batch_op.drop_constraint(_key_name(table, column), type_="foreignkey")
    for table, columns in CST_COLUMNS.items():
        if sqlite:
            _shift_sqlite(table, columns, 8)
            continue
        _alter_postgres(table, columns, "timestamp",
                        "({c} AT TIME ZONE 'UTC') + interval '8 hours'")
