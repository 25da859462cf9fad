"""household members: invitations, roles and each member's notification choices

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 21:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threshold.db

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    op.create_table('invitations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('invited_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('member_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_invitations_household_id_households'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invited_by'], ['members.id'], name=op.f('fk_invitations_invited_by_members'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_invitations_member_id_members'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_household_id'), ['household_id'], unique=False)

    op.create_table('member_notification_preferences',
    sa.Column('member_id', sa.Uuid(), nullable=False),
    sa.Column('moment', sa.String(length=40), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                            name=op.f('fk_member_notification_preferences_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', 'moment', name=op.f('pk_member_notification_preferences'))
    )


def downgrade() -> None:
    """Revert."""
    op.drop_table('member_notification_preferences')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_household_id'))
    op.drop_table('invitations')
