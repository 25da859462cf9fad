"""keypad PINs sealed at rest: `keypad_codes.pin` (plain text) becomes `pin_sealed` (AES-GCM, bound to its row)

The key is read as the app reads it (THRESHOLD_KEYPAD_KEY, else derived from THRESHOLD_SECRET_KEY), so run the
migration with the same settings as the app. The downgrade opens every PIN again and fails, changing nothing, if
one does not open with that key.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00.000000
"""
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from threshold.access.pins import PinBox, Row, box_for
from threshold.config import Settings

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _codes(column: str) -> sa.TableClause:
    return sa.table('keypad_codes', sa.column('id', sa.Uuid()), sa.column('grant_id', sa.Uuid()),
                    sa.column('device_id', sa.Uuid()), sa.column('slot', sa.Integer()),
                    sa.column(column, sa.String()))


def _rewrite(column: str, change: Callable[[PinBox, str, Row], str]) -> None:
    codes = _codes(column)
    conn = op.get_bind()
    rows = conn.execute(sa.select(codes.c.id, codes.c.grant_id, codes.c.device_id, codes.c.slot,
                                  codes.c[column])).all()
    if not rows:
        return  # no key is needed (nor read) for an empty table
    box = box_for(Settings())
    for code_id, grant_id, device_id, slot, value in rows:
        new = change(box, value, Row(code_id, grant_id, device_id, slot))
        conn.execute(codes.update().where(codes.c.id == code_id).values({column: new}))


def upgrade() -> None:
    with op.batch_alter_table('keypad_codes', schema=None) as batch_op:
        batch_op.alter_column('pin', new_column_name='pin_sealed', existing_type=sa.String(length=12),
                              type_=sa.String(length=80), existing_nullable=False)
    _rewrite('pin_sealed', lambda box, pin, row: box.seal(pin, row))


def downgrade() -> None:
    # Opened before the column narrows: a PIN that does not open stops the downgrade with PinError.
    _rewrite('pin_sealed', lambda box, sealed, row: box.open(sealed, row))
    with op.batch_alter_table('keypad_codes', schema=None) as batch_op:
        batch_op.alter_column('pin_sealed', new_column_name='pin', existing_type=sa.String(length=80),
                              type_=sa.String(length=12), existing_nullable=False)
