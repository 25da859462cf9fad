"""video clips, notifications fan-out, preferences, webhook endpoints, operators

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 05:23:54.201818
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threshold.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('operators',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('email', name=op.f('uq_operators_email'))
    )
    op.create_table('notification_preferences',
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('moment', sa.String(length=40), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_notification_preferences_household_id_households'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('household_id', 'moment', name=op.f('pk_notification_preferences'))
    )
    op.create_table('webhook_endpoints',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('moments', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_webhook_endpoints_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_endpoints_partner_id'), ['partner_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('outbox_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('recipient', sa.String(length=500), nullable=False),
    sa.Column('moment', sa.String(length=40), nullable=False),
    sa.Column('topic', sa.String(length=60), nullable=False),
    sa.Column('home_id', sa.Uuid(), nullable=True),
    sa.Column('endpoint_id', sa.Uuid(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('available_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('dead_at', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_notifications_endpoint_id_webhook_endpoints'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_notifications_outbox_id_outbox'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('key', name=op.f('uq_notifications_key'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_due', ['status', 'available_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_home_id'), ['home_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_outbox_id'), ['outbox_id'], unique=False)

    op.create_table('clips',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('home_id', sa.Uuid(), nullable=False),
    sa.Column('camera_device_id', sa.Uuid(), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('failure', sa.String(length=60), nullable=True),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('heartbeat_at', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sealed_at', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.Column('codec', sa.String(length=20), nullable=True),
    sa.Column('frames', sa.Integer(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('gaps', sa.JSON(), nullable=False),
    sa.Column('hold', sa.String(length=200), nullable=True),
    sa.Column('purged_at', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['camera_device_id'], ['devices.id'], name=op.f('fk_clips_camera_device_id_devices')),
    sa.ForeignKeyConstraint(['home_id'], ['homes.id'], name=op.f('fk_clips_home_id_homes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['entry_sessions.id'], name=op.f('fk_clips_session_id_entry_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clips')),
    sa.UniqueConstraint('session_id', name=op.f('uq_clips_session_id'))
    )
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clips_home_id'), ['home_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_clips_status'), ['status'], unique=False)

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stream_url', sa.String(length=500), nullable=True))

    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clip_retention_days', sa.Integer(), nullable=False, server_default='30'))



def downgrade() -> None:
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_column('clip_retention_days')

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('stream_url')

    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clips_status'))
        batch_op.drop_index(batch_op.f('ix_clips_home_id'))

    op.drop_table('clips')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_outbox_id'))
        batch_op.drop_index(batch_op.f('ix_notifications_home_id'))
        batch_op.drop_index('ix_notifications_due')

    op.drop_table('notifications')
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_endpoints_partner_id'))

    op.drop_table('webhook_endpoints')
    op.drop_table('notification_preferences')
    op.drop_table('operators')
