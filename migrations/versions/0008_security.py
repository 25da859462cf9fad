"""security: members can be deactivated, households authorize partners for in-home delivery, a platform audit chain

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 17:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threshold.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))

    op.create_table('partner_authorizations',
    sa.Column('home_id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('authorized_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('authorized_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['home_id'], ['homes.id'], name=op.f('fk_partner_authorizations_home_id_homes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('home_id', 'partner_id', name=op.f('pk_partner_authorizations'))
    )
    with op.batch_alter_table('partner_authorizations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_authorizations_partner_id'), ['partner_id'], unique=False)
    # Every partner that delivered inside a home before households chose stays authorized for it.
    op.execute("INSERT INTO partner_authorizations (home_id, partner_id, authorized_at, authorized_by) "
               "SELECT home_id, partner_id, MIN(created_at), 'migration' FROM deliveries "
               "WHERE mode = 'in_home' GROUP BY home_id, partner_id")

    # The platform's own chain (accounts, keys, sign-in locks) is not a home's: the chain id is no foreign key.
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.drop_constraint('fk_audit_records_home_id_homes', type_='foreignkey')
    with op.batch_alter_table('audit_heads', schema=None) as batch_op:
        batch_op.drop_constraint('fk_audit_heads_home_id_homes', type_='foreignkey')


def downgrade() -> None:
    op.execute("DELETE FROM audit_records WHERE home_id NOT IN (SELECT id FROM homes)")
    op.execute("DELETE FROM audit_heads WHERE home_id NOT IN (SELECT id FROM homes)")
    with op.batch_alter_table('audit_heads', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_audit_heads_home_id_homes', 'homes', ['home_id'], ['id'])
    with op.batch_alter_table('audit_records', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_audit_records_home_id_homes', 'homes', ['home_id'], ['id'])
    with op.batch_alter_table('partner_authorizations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_authorizations_partner_id'))
    op.drop_table('partner_authorizations')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('active')
