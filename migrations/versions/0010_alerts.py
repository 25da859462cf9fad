"""alerts: incident reminders and all-clear, device notices

Incidents carry the device they are about, when their problem cleared (the all-clear) and their reminder
schedule; devices carry the door watch's relock deadline and whether the household was told of an outage or a low
battery.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 21:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threshold.db

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the alert columns."""
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', threshold.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolved_how', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('reminders_sent', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('next_reminder_at', threshold.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_incidents_device_id_devices'), 'devices', ['device_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_incidents_next_reminder_at'), ['next_reminder_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_device_id'), ['device_id'], unique=False)
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('relock_due_at', threshold.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('offline_told_at', threshold.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('battery_told_at', threshold.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_devices_relock_due_at'), ['relock_due_at'], unique=False)
    # Incidents already closed before the all-clear existed are over. Open ones get no reminder time, so the alerts
    # loop leaves them to the person who closes them (no all-clear for a problem nobody was reminded of).
    op.execute("UPDATE incidents SET resolved_at = closed_at, resolved_how = 'closed' WHERE status = 'closed'")


def downgrade() -> None:
    """Drop the alert columns."""
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_relock_due_at'))
        batch_op.drop_column('battery_told_at')
        batch_op.drop_column('offline_told_at')
        batch_op.drop_column('relock_due_at')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_device_id'))
        batch_op.drop_index(batch_op.f('ix_incidents_next_reminder_at'))
        batch_op.drop_constraint(batch_op.f('fk_incidents_device_id_devices'), type_='foreignkey')
        batch_op.drop_column('next_reminder_at')
        batch_op.drop_column('reminders_sent')
        batch_op.drop_column('resolved_how')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('device_id')
