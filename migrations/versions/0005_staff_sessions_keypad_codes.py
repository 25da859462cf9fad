"""staff web sessions, incident acknowledgement, keypad codes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 08:13:33.474757
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threshold.db

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('keypad_codes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('home_id', sa.Uuid(), nullable=False),
    sa.Column('grant_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('pin', sa.String(length=12), nullable=False),
    sa.Column('desired', sa.String(length=10), nullable=False),
    sa.Column('sync_state', sa.String(length=12), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('synced_at', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_keypad_codes_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_keypad_codes_grant_id_grants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['home_id'], ['homes.id'], name=op.f('fk_keypad_codes_home_id_homes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_keypad_codes')),
    sa.UniqueConstraint('device_id', 'slot', name='uq_keypad_codes_device_slot')
    )
    with op.batch_alter_table('keypad_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_keypad_codes_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_keypad_codes_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_keypad_codes_home_id'), ['home_id'], unique=False)

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_at', threshold.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_by', sa.String(length=100), nullable=True))

    # Browser sessions become one table for members, drivers and operators. They are disposable: everyone signs
    # in again once, rather than carrying rows whose new columns would have to be guessed.
    op.execute(sa.text("DELETE FROM web_sessions"))
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), nullable=False))
        batch_op.add_column(sa.Column('principal_id', sa.Uuid(), nullable=False))
        batch_op.drop_index(batch_op.f('ix_web_sessions_member_id'))
        batch_op.create_index('ix_web_sessions_kind_principal', ['kind', 'principal_id'], unique=False)
        batch_op.drop_constraint(batch_op.f('fk_web_sessions_member_id_members'), type_='foreignkey')
        batch_op.drop_column('member_id')



def downgrade() -> None:
    op.execute(sa.text("DELETE FROM web_sessions"))
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_id', sa.Uuid(), nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_web_sessions_member_id_members'), 'members', ['member_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_index('ix_web_sessions_kind_principal')
        batch_op.create_index(batch_op.f('ix_web_sessions_member_id'), ['member_id'], unique=False)
        batch_op.drop_column('principal_id')
        batch_op.drop_column('kind')

    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_column('acknowledged_by')
        batch_op.drop_column('acknowledged_at')

    with op.batch_alter_table('keypad_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_keypad_codes_home_id'))
        batch_op.drop_index(batch_op.f('ix_keypad_codes_grant_id'))
        batch_op.drop_index(batch_op.f('ix_keypad_codes_device_id'))

    op.drop_table('keypad_codes')
