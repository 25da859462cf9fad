"""planning: stations, window bookings, station-day counters, route plans

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:02:39.916781
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threshold.db

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('stations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('carrier_id', sa.Uuid(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('vehicles', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('shift_start', sa.Time(), nullable=False),
    sa.Column('shift_end', sa.Time(), nullable=False),
    sa.Column('speed_kmh', sa.Float(), nullable=False),
    sa.Column('service_minutes', sa.Float(), nullable=False),
    sa.Column('radius_km', sa.Float(), nullable=False),
    sa.Column('window_minutes', sa.Integer(), nullable=False),
    sa.Column('in_home_minutes', sa.Integer(), nullable=False),
    sa.Column('created_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['carrier_id'], ['carriers.id'], name=op.f('fk_stations_carrier_id_carriers')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_stations_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stations'))
    )
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stations_partner_id'), ['partner_id'], unique=False)

    op.create_table('route_plans',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('station_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('routes', sa.JSON(), nullable=False),
    sa.Column('distance_km', sa.Float(), nullable=False),
    sa.Column('vehicles', sa.Integer(), nullable=False),
    sa.Column('objective', sa.String(length=20), nullable=False),
    sa.Column('feasible', sa.Boolean(), nullable=False),
    sa.Column('planned_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_route_plans_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_route_plans'))
    )
    with op.batch_alter_table('route_plans', schema=None) as batch_op:
        batch_op.create_index('ix_route_plans_station_day_version', ['station_id', 'day', 'version'], unique=True)

    op.create_table('station_days',
    sa.Column('station_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('booked', sa.Integer(), nullable=False),
    sa.Column('planned', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_days_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('station_id', 'day', name=op.f('pk_station_days'))
    )
    op.create_table('window_bookings',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('station_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('partner_id', sa.Uuid(), nullable=False),
    sa.Column('delivery_id', sa.Uuid(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('demand', sa.Integer(), nullable=False),
    sa.Column('service_minutes', sa.Float(), nullable=False),
    sa.Column('window_start', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('expires_at', threshold.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', threshold.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_window_bookings_delivery_id_deliveries')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_window_bookings_partner_id_partners')),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_window_bookings_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_window_bookings'))
    )
    with op.batch_alter_table('window_bookings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_window_bookings_delivery_id'), ['delivery_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_window_bookings_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index('ix_window_bookings_station_day_status', ['station_id', 'day', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('window_bookings', schema=None) as batch_op:
        batch_op.drop_index('ix_window_bookings_station_day_status')
        batch_op.drop_index(batch_op.f('ix_window_bookings_partner_id'))
        batch_op.drop_index(batch_op.f('ix_window_bookings_delivery_id'))

    op.drop_table('window_bookings')
    op.drop_table('station_days')
    with op.batch_alter_table('route_plans', schema=None) as batch_op:
        batch_op.drop_index('ix_route_plans_station_day_version')

    op.drop_table('route_plans')
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stations_partner_id'))

    op.drop_table('stations')
