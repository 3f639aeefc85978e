"""resident services: venue bookings, care places, volunteers, residents' reviews

No foreign key to the accounts tables here (user ids are plain integers), so this branch
starts from the registry (0001) only; 0007 adds the keys once both branches meet.
The branch label was renamed from its first name; labels are not stored in databases,
the revision id is, so databases made before upgrade unchanged.

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-28 20:56:17.171805
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shequ.registry.backup import refuse_data_loss

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = ('resident_services',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('subject_kind', sa.String(length=24), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('period', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('comment_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('moderated_by', sa.Integer(), nullable=True),
    sa.Column('moderated_at', sa.DateTime(), nullable=True),
    sa.Column('moderation_note', sa.String(length=500), nullable=True),
    sa.CheckConstraint("comment_status IN ('none', 'pending', 'approved', 'hidden')", name=op.f('ck_review_comment_status_value')),
    sa.CheckConstraint("subject_kind IN ('facility', 'service', 'request', 'booking', 'care_place', 'volunteer_activity')", name=op.f('ck_review_subject_kind_value')),
    sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_review_score_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review')),
    sa.UniqueConstraint('user_id', 'subject_kind', 'subject_id', 'period', name='uq_review_once_per_period')
    )
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.create_index('ix_review_period_division', ['period', 'division_code'], unique=False)
        batch_op.create_index('ix_review_subject', ['subject_kind', 'subject_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_user_id'), ['user_id'], unique=False)

    op.create_table('volunteer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('skills', sa.String(length=300), nullable=False),
    sa.Column('registered_at', sa.DateTime(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer')),
    sa.UniqueConstraint('user_id', name=op.f('uq_volunteer_user_id'))
    )
    with op.batch_alter_table('volunteer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteer_division_code'), ['division_code'], unique=False)

    op.create_table('booking_resource',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('opening_hours', sa.String(length=500), nullable=True),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('approval_required', sa.Boolean(), nullable=False),
    sa.Column('min_notice_minutes', sa.Integer(), nullable=False),
    sa.Column('max_advance_days', sa.Integer(), nullable=False),
    sa.Column('max_duration_minutes', sa.Integer(), nullable=False),
    sa.Column('allowed_roles', sa.String(length=200), nullable=False),
    sa.Column('booker_scope', sa.String(length=16), nullable=False),
    sa.Column('allow_series', sa.Boolean(), nullable=False),
    sa.Column('max_series_occurrences', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("booker_scope IN ('community', 'township', 'county', 'anyone')", name=op.f('ck_booking_resource_scope_value')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 0', name=op.f('ck_booking_resource_capacity')),
    sa.CheckConstraint('max_advance_days >= 0', name=op.f('ck_booking_resource_max_advance')),
    sa.CheckConstraint('max_duration_minutes >= slot_minutes', name=op.f('ck_booking_resource_max_duration')),
    sa.CheckConstraint('max_series_occurrences >= 1', name=op.f('ck_booking_resource_max_series')),
    sa.CheckConstraint('min_notice_minutes >= 0', name=op.f('ck_booking_resource_min_notice')),
    sa.CheckConstraint('slot_minutes BETWEEN 5 AND 1440', name=op.f('ck_booking_resource_slot_minutes')),
    sa.ForeignKeyConstraint(['facility_id'], ['facility.id'], name=op.f('fk_booking_resource_facility_id_facility'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_resource'))
    )
    with op.batch_alter_table('booking_resource', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_booking_resource_facility_id'), ['facility_id'], unique=False)

    op.create_table('care_application',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('applicant_user_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('beneficiary_name', sa.String(length=100), nullable=False),
    sa.Column('beneficiary_birth_date', sa.Date(), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('priority_groups', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('applied_at', sa.DateTime(), nullable=False),
    sa.Column('offered_at', sa.DateTime(), nullable=True),
    sa.Column('offer_deadline', sa.DateTime(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('place_no', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('waiting', 'offered', 'accepted', 'declined', 'lapsed', 'withdrawn', 'ended')", name=op.f('ck_care_application_status_value')),
    sa.ForeignKeyConstraint(['facility_id'], ['facility.id'], name=op.f('fk_care_application_facility_id_facility'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_application'))
    )
    with op.batch_alter_table('care_application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_care_application_applicant_user_id'), ['applicant_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_care_application_division_code'), ['division_code'], unique=False)
        batch_op.create_index('ix_care_application_facility_status', ['facility_id', 'status'], unique=False)

    op.create_table('volunteer_activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('organiser_kind', sa.String(length=24), nullable=False),
    sa.Column('organiser_name', sa.String(length=200), nullable=False),
    sa.Column('organiser_user_id', sa.Integer(), nullable=False),
    sa.Column('station_facility_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('places', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("organiser_kind IN ('community', 'social_organisation')", name=op.f('ck_volunteer_activity_organiser_kind_value')),
    sa.CheckConstraint("status IN ('published', 'cancelled', 'completed')", name=op.f('ck_volunteer_activity_status_value')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_volunteer_activity_time_order')),
    sa.CheckConstraint('places IS NULL OR places >= 1', name=op.f('ck_volunteer_activity_places')),
    sa.ForeignKeyConstraint(['station_facility_id'], ['facility.id'], name=op.f('fk_volunteer_activity_station_facility_id_facility'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_activity'))
    )
    with op.batch_alter_table('volunteer_activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteer_activity_division_code'), ['division_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_activity_organiser_user_id'), ['organiser_user_id'], unique=False)

    op.create_table('booking_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('first_starts_at', sa.DateTime(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('interval_weeks', sa.Integer(), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('duration_minutes > 0', name=op.f('ck_booking_series_duration')),
    sa.CheckConstraint('interval_weeks >= 1', name=op.f('ck_booking_series_interval')),
    sa.CheckConstraint('occurrences >= 1', name=op.f('ck_booking_series_occurrences')),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resource.id'], name=op.f('fk_booking_series_resource_id_booking_resource'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking_series'))
    )
    with op.batch_alter_table('booking_series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_booking_series_resource_id'), ['resource_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_booking_series_user_id'), ['user_id'], unique=False)

    op.create_table('care_place_hold',
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('place_no', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('held_since', sa.DateTime(), nullable=False),
    sa.CheckConstraint('place_no >= 1', name=op.f('ck_care_place_hold_place_no')),
    sa.ForeignKeyConstraint(['application_id'], ['care_application.id'], name=op.f('fk_care_place_hold_application_id_care_application'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['facility_id'], ['facility.id'], name=op.f('fk_care_place_hold_facility_id_facility'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('facility_id', 'place_no', name='pk_care_place_hold'),
    sa.UniqueConstraint('application_id', name=op.f('uq_care_place_hold_application_id'))
    )
    op.create_table('volunteer_signup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('signed_up_at', sa.DateTime(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=True),
    sa.Column('hours_status', sa.String(length=16), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_by', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("hours_status IN ('none', 'recorded', 'confirmed', 'rejected')", name=op.f('ck_volunteer_signup_hours_status_value')),
    sa.CheckConstraint("status IN ('signed_up', 'withdrawn')", name=op.f('ck_volunteer_signup_status_value')),
    sa.CheckConstraint('minutes IS NULL OR minutes BETWEEN 1 AND 1440', name=op.f('ck_volunteer_signup_minutes')),
    sa.ForeignKeyConstraint(['activity_id'], ['volunteer_activity.id'], name=op.f('fk_volunteer_signup_activity_id_volunteer_activity'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteer.id'], name=op.f('fk_volunteer_signup_volunteer_id_volunteer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_signup')),
    sa.UniqueConstraint('activity_id', 'volunteer_id', name='uq_volunteer_signup_once')
    )
    with op.batch_alter_table('volunteer_signup', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteer_signup_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_volunteer_signup_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('booking',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('series_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('division_code', sa.String(length=12), nullable=True),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('attendees', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_note', sa.String(length=500), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.Column('reminder_sent_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'cancelled')", name=op.f('ck_booking_status_value')),
    sa.CheckConstraint('attendees >= 1', name=op.f('ck_booking_attendees')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_booking_time_order')),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resource.id'], name=op.f('fk_booking_resource_id_booking_resource'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['series_id'], ['booking_series.id'], name=op.f('fk_booking_series_id_booking_series'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking'))
    )
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.create_index('ix_booking_resource_starts', ['resource_id', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_booking_series_id'), ['series_id'], unique=False)
        batch_op.create_index('ix_booking_status_starts', ['status', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_booking_user_id'), ['user_id'], unique=False)

    op.create_table('booking_slot',
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('slot_start', sa.DateTime(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['booking.id'], name=op.f('fk_booking_slot_booking_id_booking'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resource_id'], ['booking_resource.id'], name=op.f('fk_booking_slot_resource_id_booking_resource'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('resource_id', 'slot_start', name='pk_booking_slot')
    )
    with op.batch_alter_table('booking_slot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_booking_slot_booking_id'), ['booking_id'], unique=False)


def downgrade() -> None:
    # Rows of these tables would be lost; refused unless -x allow_data_loss=true.
    refuse_data_loss("booking_slot", "booking", "volunteer_signup", "care_place_hold",
                     "booking_series", "volunteer_activity", "care_application",
                     "booking_resource", "volunteer", "review")
    with op.batch_alter_table('booking_slot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_booking_slot_booking_id'))

    op.drop_table('booking_slot')
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_booking_user_id'))
        batch_op.drop_index('ix_booking_status_starts')
        batch_op.drop_index(batch_op.f('ix_booking_series_id'))
        batch_op.drop_index('ix_booking_resource_starts')

    op.drop_table('booking')
    with op.batch_alter_table('volunteer_signup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_signup_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_volunteer_signup_activity_id'))

    op.drop_table('volunteer_signup')
    op.drop_table('care_place_hold')
    with op.batch_alter_table('booking_series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_booking_series_user_id'))
        batch_op.drop_index(batch_op.f('ix_booking_series_resource_id'))

    op.drop_table('booking_series')

    with op.batch_alter_table('volunteer_activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_activity_organiser_user_id'))
        batch_op.drop_index(batch_op.f('ix_volunteer_activity_division_code'))

    op.drop_table('volunteer_activity')
    with op.batch_alter_table('care_application', schema=None) as batch_op:
        batch_op.drop_index('ix_care_application_facility_status')
        batch_op.drop_index(batch_op.f('ix_care_application_division_code'))
        batch_op.drop_index(batch_op.f('ix_care_application_applicant_user_id'))

    op.drop_table('care_application')
    with op.batch_alter_table('booking_resource', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_booking_resource_facility_id'))

    op.drop_table('booking_resource')

    with op.batch_alter_table('volunteer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteer_division_code'))

    op.drop_table('volunteer')
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_user_id'))
        batch_op.drop_index('ix_review_subject')
        batch_op.drop_index('ix_review_period_division')

    op.drop_table('review')
