"""Proposal versions (an edit made on an older screen is refused) and creation tokens (a form submitted twice
creates once).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:50:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(), server_default='',
                                      nullable=False))
        batch_op.create_check_constraint(op.f('ck_proposal_version'), 'version >= 1')
    op.create_table('creation_token',
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('entity', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_creation_token'))
    )


def downgrade() -> None:
    op.drop_table('creation_token')
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_proposal_version'), type_='check')
        batch_op.drop_column('updated_by')
        batch_op.drop_column('version')
