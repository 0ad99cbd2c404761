"""Walkthrough progress on proposals: where the guided walk through the categories stands.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:36:35.729939
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('walkthrough', sa.JSON(), server_default='{}', nullable=False))




def downgrade() -> None:

    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.drop_column('walkthrough')


