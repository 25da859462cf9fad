"""forward stock: station_stock, a station's next-morning cut-off, the stock a window booking holds

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 14:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threshold.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('station_stock',
    sa.Column('station_id', sa.Uuid(), nullable=False),
    sa.Column('product', sa.String(length=64), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('updated_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('units >= 0', name=op.f('ck_station_stock_units_not_negative')),
    sa.CheckConstraint('reserved >= 0 AND reserved <= units', name=op.f('ck_station_stock_reserved_within_units')),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_stock_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('station_id', 'product', name=op.f('pk_station_stock'))
    )
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_morning_until', sa.Time(), nullable=True))

    with op.batch_alter_table('window_bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stock_units', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('stock_status', sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('window_bookings', schema=None) as batch_op:
        batch_op.drop_column('stock_status')
        batch_op.drop_column('stock_units')

    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.drop_column('next_morning_until')

    op.drop_table('station_stock')
