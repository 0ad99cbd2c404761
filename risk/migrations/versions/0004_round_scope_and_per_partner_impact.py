"""Round scope (which risks), per-partner impact rounds, and whether a reveal names the assessors.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 21:46:35.496998
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('per_partner', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('show_names', sa.Boolean(), server_default='0', nullable=False))




def downgrade() -> None:

    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.drop_column('show_names')
        batch_op.drop_column('per_partner')
        batch_op.drop_column('scope')


