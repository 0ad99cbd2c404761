"""Round results (aggregates stored at reveal) and partner strengths per capability.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 21:17:48.544270
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('partner_strength',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('capability', sa.String(length=100), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(), nullable=False),
    sa.CheckConstraint('score BETWEEN 0 AND 5', name=op.f('ck_partner_strength_score')),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_partner_strength_partner_id_partner')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_partner_strength_proposal_id_proposal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_strength')),
    sa.UniqueConstraint('proposal_id', 'partner_id', 'capability', name=op.f('uq_partner_strength_proposal_id_partner_id_capability'))
    )
    with op.batch_alter_table('partner_strength', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_strength_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_partner_strength_proposal_id'), ['proposal_id'], unique=False)

    op.create_table('round_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('risk_pk', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('lik_upper_median', sa.Integer(), nullable=False),
    sa.Column('imp_upper_median', sa.Integer(), nullable=False),
    sa.Column('lik_max', sa.Integer(), nullable=False),
    sa.Column('imp_max', sa.Integer(), nullable=False),
    sa.Column('lik_ojov', sa.Integer(), nullable=False),
    sa.Column('imp_ojov', sa.Integer(), nullable=False),
    sa.Column('mean_likelihood', sa.Float(), nullable=False),
    sa.Column('mean_impact', sa.Float(), nullable=False),
    sa.Column('flags', sa.String(), nullable=False),
    sa.CheckConstraint('lik_upper_median BETWEEN 1 AND 5 AND imp_upper_median BETWEEN 1 AND 5 AND lik_max BETWEEN 1 AND 5 AND imp_max BETWEEN 1 AND 5 AND lik_ojov BETWEEN 1 AND 5 AND imp_ojov BETWEEN 1 AND 5', name=op.f('ck_round_result_scores')),
    sa.CheckConstraint('n >= 1', name=op.f('ck_round_result_n')),
    sa.ForeignKeyConstraint(['risk_pk'], ['risk.id'], name=op.f('fk_round_result_risk_pk_risk'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_round_result_round_id_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_round_result')),
    sa.UniqueConstraint('round_id', 'risk_pk', name=op.f('uq_round_result_round_id_risk_pk'))
    )
    with op.batch_alter_table('round_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_round_result_risk_pk'), ['risk_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_round_result_round_id'), ['round_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('round_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_round_result_round_id'))
        batch_op.drop_index(batch_op.f('ix_round_result_risk_pk'))

    op.drop_table('round_result')
    with op.batch_alter_table('partner_strength', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_strength_proposal_id'))
        batch_op.drop_index(batch_op.f('ix_partner_strength_partner_id'))

    op.drop_table('partner_strength')

