"""Team members linked to accounts, one-time sign-in links, and the reviewer role (risk/access.py). Nothing stored
before changes: every member starts unlinked, and the role's CHECK only gains a word.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_ROLES_BEFORE = "team_role IN ('facilitator', 'assessor', 'observer')"
_ROLES_AFTER = "team_role IN ('facilitator', 'assessor', 'observer', 'reviewer')"


def upgrade() -> None:
    with op.batch_alter_table('team_member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_team_member_account_id'), ['account_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_team_member_account_id_account'), 'account', ['account_id'],
                                    ['id'], ondelete='SET NULL')
        batch_op.drop_constraint(op.f('ck_team_member_team_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_team_member_team_role'), _ROLES_AFTER)
    op.create_table('signin_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('issued_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_signin_link_account_id_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signin_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_signin_link_token_hash'))
    )
    op.create_index(op.f('ix_signin_link_account_id'), 'signin_link', ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_signin_link_account_id'), table_name='signin_link')
    op.drop_table('signin_link')
    op.execute("UPDATE team_member SET team_role = 'observer' WHERE team_role = 'reviewer'")
    with op.batch_alter_table('team_member', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_team_member_team_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_team_member_team_role'), _ROLES_BEFORE)
        batch_op.drop_constraint(batch_op.f('fk_team_member_account_id_account'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_team_member_account_id'))
        batch_op.drop_column('account_id')
