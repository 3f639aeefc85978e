"""services: accounts, residents' personal data, API keys, audit log, service requests

Revision ID: 0005
Revises: 0001
"""



from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("services",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('entity', sa.String(length=48), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_log_entity', ['entity', 'entity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_user_id'), ['user_id'], unique=False)

    op.create_table('resident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('identity_number_enc', sa.LargeBinary(), nullable=True),
    sa.Column('identity_number_hash', sa.String(length=64), nullable=True),
    sa.Column('phone_enc', sa.LargeBinary(), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('priority_groups', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(division_code) = 12', name=op.f('ck_resident_division_code_length')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resident')),
    sa.UniqueConstraint('identity_number_hash', name=op.f('uq_resident_identity_number_hash'))
    )
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resident_division_code'), ['division_code'], unique=False)

    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('jurisdiction_code', sa.String(length=12), nullable=True),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('resident', 'community_worker', 'street_officer', 'county_planner', 'city_planner', 'province_planner', 'national_planner', 'admin')", name=op.f('ck_app_user_role_value')),
    sa.CheckConstraint('jurisdiction_code IS NULL OR length(jurisdiction_code) = 12', name=op.f('ck_app_user_jurisdiction_length')),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], name=op.f('fk_app_user_resident_id_resident'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_user_jurisdiction_code'), ['jurisdiction_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_user_resident_id'), ['resident_id'], unique=False)

    op.create_table('directory_entry',
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('service_uuid', sa.String(length=36), nullable=False),
    sa.Column('location_uuid', sa.String(length=36), nullable=False),
    sa.Column('service_at_location_uuid', sa.String(length=36), nullable=False),
    sa.Column('organization_uuid', sa.String(length=36), nullable=False),
    sa.Column('organization_key', sa.String(length=220), nullable=False),
    sa.ForeignKeyConstraint(['facility_id'], ['facility.id'], name=op.f('fk_directory_entry_facility_id_facility'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('facility_id', name=op.f('pk_directory_entry')),
    sa.UniqueConstraint('location_uuid', name=op.f('uq_directory_entry_location_uuid')),
    sa.UniqueConstraint('service_at_location_uuid', name=op.f('uq_directory_entry_service_at_location_uuid')),
    sa.UniqueConstraint('service_uuid', name=op.f('uq_directory_entry_service_uuid'))
    )
    with op.batch_alter_table('directory_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directory_entry_organization_uuid'), ['organization_uuid'], unique=False)

    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_api_key_user_id_app_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_key_key_hash'))
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_user_id'), ['user_id'], unique=False)

    op.create_table('service_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('service_code', sa.String(length=48), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('responsible_code', sa.String(length=12), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=True),
    sa.Column('submitter_id', sa.Integer(), nullable=True),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('contact_name', sa.String(length=100), nullable=True),
    sa.Column('contact_email', sa.String(length=200), nullable=True),
    sa.Column('contact_phone_enc', sa.LargeBinary(), nullable=True),
    sa.Column('attributes', sa.Text(), nullable=False),
    sa.Column('media_url', sa.String(length=500), nullable=True),
    sa.Column('assigned_to_id', sa.Integer(), nullable=True),
    sa.Column('status_notes', sa.Text(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deadline_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('rating_comment', sa.String(length=500), nullable=True),
    sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('submitted', 'accepted', 'assigned', 'in_progress', 'resolved', 'closed')", name=op.f('ck_service_request_status_value')),
    sa.CheckConstraint('rating IS NULL OR rating BETWEEN 1 AND 5', name=op.f('ck_service_request_rating_range')),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_service_request_api_key_id_api_key'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['app_user.id'], name=op.f('fk_service_request_assigned_to_id_app_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['duplicate_of_id'], ['service_request.id'], name=op.f('fk_service_request_duplicate_of_id_service_request'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['facility_id'], ['facility.id'], name=op.f('fk_service_request_facility_id_facility'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['submitter_id'], ['app_user.id'], name=op.f('fk_service_request_submitter_id_app_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_request')),
    sa.UniqueConstraint('token', name=op.f('uq_service_request_token'))
    )
    with op.batch_alter_table('service_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_request_assigned_to_id'), ['assigned_to_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_request_deadline_at'), ['deadline_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_request_division_code'), ['division_code'], unique=False)
        batch_op.create_index('ix_service_request_lon_lat', ['longitude', 'latitude'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_request_requested_at'), ['requested_at'], unique=False)
        batch_op.create_index('ix_service_request_responsible_status', ['responsible_code', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_request_service_code'), ['service_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_request_submitter_id'), ['submitter_id'], unique=False)

    op.create_table('service_request_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['service_request.id'], name=op.f('fk_service_request_event_request_id_service_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_request_event'))
    )
    with op.batch_alter_table('service_request_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_request_event_request_id'), ['request_id'], unique=False)


def downgrade() -> None:
    # Rows of these tables would be lost; refused unless -x allow_data_loss=true.
    refuse_data_loss("service_request_event", "service_request", "api_key", "directory_entry",
                     "app_user", "resident", "audit_log")
    with op.batch_alter_table('service_request_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_request_event_request_id'))

    op.drop_table('service_request_event')
    with op.batch_alter_table('service_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_request_submitter_id'))
        batch_op.drop_index(batch_op.f('ix_service_request_service_code'))
        batch_op.drop_index('ix_service_request_responsible_status')
        batch_op.drop_index(batch_op.f('ix_service_request_requested_at'))
        batch_op.drop_index('ix_service_request_lon_lat')
        batch_op.drop_index(batch_op.f('ix_service_request_division_code'))
        batch_op.drop_index(batch_op.f('ix_service_request_deadline_at'))
        batch_op.drop_index(batch_op.f('ix_service_request_assigned_to_id'))

    op.drop_table('service_request')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_user_id'))

    op.drop_table('api_key')
    with op.batch_alter_table('directory_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directory_entry_organization_uuid'))

    op.drop_table('directory_entry')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_user_resident_id'))
        batch_op.drop_index(batch_op.f('ix_app_user_jurisdiction_code'))

    op.drop_table('app_user')
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resident_division_code'))

    op.drop_table('resident')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_user_id'))
        batch_op.drop_index('ix_audit_log_entity')
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
