"""Who pays for what and risk in money (docs/COSTS.md): cost lines, each partner's assessed value and, in a
proposal, its status-quo cost, usage figures and exit charge; a proposal's currency, horizon, chosen allocation
and calibration table; a risk's frequency and loss range. Every new field starts empty, so nothing stored before
changes meaning.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cost_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('first_year', sa.Integer(), nullable=False),
    sa.Column('years', sa.Integer(), nullable=False),
    sa.Column('credit_partner_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('one_time', 'recurring')", name=op.f('ck_cost_line_kind')),
    sa.CheckConstraint('amount BETWEEN 0 AND 10000000000000', name=op.f('ck_cost_line_amount')),
    sa.CheckConstraint('first_year BETWEEN 1 AND 50', name=op.f('ck_cost_line_first_year')),
    sa.CheckConstraint('years BETWEEN 1 AND 50', name=op.f('ck_cost_line_years')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_cost_line_proposal_id_proposal'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['credit_partner_id'], ['partner.id'],
                            name=op.f('fk_cost_line_credit_partner_id_partner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cost_line'))
    )
    op.create_index(op.f('ix_cost_line_proposal_id'), 'cost_line', ['proposal_id'], unique=False)
    op.create_index(op.f('ix_cost_line_credit_partner_id'), 'cost_line', ['credit_partner_id'], unique=False)
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False,
                                      server_default='USD'))
        batch_op.add_column(sa.Column('cost_horizon', sa.Integer(), nullable=False, server_default='5'))
        batch_op.add_column(sa.Column('allocation', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('calibration', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.create_check_constraint(op.f('ck_proposal_cost_horizon'), 'cost_horizon BETWEEN 1 AND 50')
    with op.batch_alter_table('partner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assessed_value', sa.Float(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_partner_assessed_value'),
                                         'assessed_value IS NULL OR assessed_value >= 0')
    with op.batch_alter_table('proposal_partner', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_quo_cost', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('drivers', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('exit_cost', sa.Float(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_proposal_partner_status_quo_cost'),
                                         'status_quo_cost IS NULL OR status_quo_cost >= 0')
        batch_op.create_check_constraint(op.f('ck_proposal_partner_exit_cost'),
                                         'exit_cost IS NULL OR exit_cost >= 0')
    with op.batch_alter_table('risk', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frequency', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('loss_low', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('loss_high', sa.Float(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_risk_frequency'),
                                         'frequency IS NULL OR frequency BETWEEN 0 AND 1000')
        batch_op.create_check_constraint(op.f('ck_risk_loss_low'), 'loss_low IS NULL OR loss_low >= 0')
        batch_op.create_check_constraint(op.f('ck_risk_loss_high'), 'loss_high IS NULL OR loss_high >= 0')


def downgrade() -> None:
    with op.batch_alter_table('risk', schema=None) as batch_op:
        for name in ('loss_high', 'loss_low', 'frequency'):
            batch_op.drop_constraint(op.f(f'ck_risk_{name}'), type_='check')
            batch_op.drop_column(name)
    with op.batch_alter_table('proposal_partner', schema=None) as batch_op:
        for name in ('exit_cost', 'status_quo_cost'):
            batch_op.drop_constraint(op.f(f'ck_proposal_partner_{name}'), type_='check')
        for name in ('exit_cost', 'drivers', 'status_quo_cost'):
            batch_op.drop_column(name)
    with op.batch_alter_table('partner', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_partner_assessed_value'), type_='check')
        batch_op.drop_column('assessed_value')
    with op.batch_alter_table('proposal', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_proposal_cost_horizon'), type_='check')
        for name in ('calibration', 'allocation', 'cost_horizon', 'currency'):
            batch_op.drop_column(name)
    op.drop_index(op.f('ix_cost_line_credit_partner_id'), table_name='cost_line')
    op.drop_index(op.f('ix_cost_line_proposal_id'), table_name='cost_line')
    op.drop_table('cost_line')
