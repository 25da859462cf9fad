"""approvals: a pending approval does not hold the door; guest grants with several entries

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 21:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply: sessions say whether they hold their door, and only door holders are unique per entry point."""
    with op.batch_alter_table('entry_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holds_door', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute("UPDATE entry_sessions SET holds_door = (live AND state <> 'awaiting_approval')")
    with op.batch_alter_table('entry_sessions', schema=None) as batch_op:
        batch_op.drop_index('uq_entry_sessions_live_entry_point', sqlite_where=sa.text('live'),
                            postgresql_where=sa.text('live'))
        batch_op.create_index('uq_entry_sessions_door_holder', ['entry_point_id'], unique=True,
                              sqlite_where=sa.text('holds_door'), postgresql_where=sa.text('holds_door'))


def downgrade() -> None:
    """Revert: only the oldest pending approval at a door stays live, as the old index allows."""
    op.execute(
        "UPDATE entry_sessions SET live = false, state = 'aborted', reason = 'approval_timeout' "
        "WHERE live AND state = 'awaiting_approval' AND EXISTS (SELECT 1 FROM entry_sessions AS o "
        "WHERE o.entry_point_id = entry_sessions.entry_point_id AND o.live AND o.id <> entry_sessions.id "
        "AND (o.holds_door OR o.requested_at < entry_sessions.requested_at "
        "OR (o.requested_at = entry_sessions.requested_at AND o.id < entry_sessions.id)))"
    )
    with op.batch_alter_table('entry_sessions', schema=None) as batch_op:
        batch_op.drop_index('uq_entry_sessions_door_holder', sqlite_where=sa.text('holds_door'),
                            postgresql_where=sa.text('holds_door'))
        batch_op.create_index('uq_entry_sessions_live_entry_point', ['entry_point_id'], unique=True,
                              sqlite_where=sa.text('live'), postgresql_where=sa.text('live'))
        batch_op.drop_column('holds_door')
