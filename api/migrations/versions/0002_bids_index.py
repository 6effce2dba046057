"""an index in bid order: price descending, then oldest

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(
            'ix_orders_bids', ['token', 'fiat', 'side', 'status', sa.text('price DESC'), 'seq'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_bids')
