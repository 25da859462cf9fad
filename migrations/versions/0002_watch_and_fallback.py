"""door watch and household fallback: incidents name their entry point, deliveries record a fallback

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:11:23.808023
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fallback', sa.String(length=20), nullable=True))

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry_point_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_incidents_entry_point_id'), ['entry_point_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_incidents_entry_point_id_entry_points'), 'entry_points', ['entry_point_id'], ['id'])

    # Incidents opened by a session are about that session's door.
    op.execute(
        "UPDATE incidents SET entry_point_id = "
        "(SELECT entry_sessions.entry_point_id FROM entry_sessions WHERE entry_sessions.id = incidents.session_id) "
        "WHERE session_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_incidents_entry_point_id_entry_points'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_incidents_entry_point_id'))
        batch_op.drop_column('entry_point_id')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('fallback')
