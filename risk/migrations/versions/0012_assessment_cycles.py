"""The next assessment cycle: a proposal started from the last cycle's names it (risk/services/cycles.py). Empty
for every proposal stored before.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_proposal_previous_id_proposal'), 'proposal', ['previous_id'],
                                    ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_proposal_previous_id_proposal'), type_='foreignkey')
        batch_op.drop_column('previous_id')
