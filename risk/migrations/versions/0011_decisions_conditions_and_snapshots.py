"""Each partner government's decision on a proposal, the conditions of an approval, and the frozen snapshots the
decisions were taken on (risk/services/decisions.py). New tables only: nothing stored before changes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('taken_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('taken_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('audit_head', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_snapshot_proposal_id_proposal'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_snapshot'))
    )
    op.create_index(op.f('ix_snapshot_proposal_id'), 'snapshot', ['proposal_id'], unique=False)
    op.create_table('decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('rationale', sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('recorded_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('recorded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('reaffirms_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("decision IN ('approve', 'approve_with_conditions', 'reject', 'send_back')",
                       name=op.f('ck_decision_decision')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_decision_proposal_id_proposal'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_decision_partner_id_partner')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'], name=op.f('fk_decision_snapshot_id_snapshot')),
    sa.ForeignKeyConstraint(['reaffirms_id'], ['decision.id'], name=op.f('fk_decision_reaffirms_id_decision')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decision'))
    )
    op.create_index(op.f('ix_decision_proposal_id'), 'decision', ['proposal_id'], unique=False)
    op.create_index(op.f('ix_decision_partner_id'), 'decision', ['partner_id'], unique=False)
    op.create_index(op.f('ix_decision_snapshot_id'), 'decision', ['snapshot_id'], unique=False)
    op.create_table('decision_condition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('risk_pk', sa.Integer(), nullable=True),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'met', 'missed', 'waived')", name=op.f('ck_decision_condition_status')),
    sa.ForeignKeyConstraint(['decision_id'], ['decision.id'],
                            name=op.f('fk_decision_condition_decision_id_decision'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['risk_pk'], ['risk.id'], name=op.f('fk_decision_condition_risk_pk_risk'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['action_id'], ['action.id'], name=op.f('fk_decision_condition_action_id_action'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decision_condition'))
    )
    op.create_index(op.f('ix_decision_condition_decision_id'), 'decision_condition', ['decision_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_decision_condition_decision_id'), table_name='decision_condition')
    op.drop_table('decision_condition')
    for name in ('snapshot_id', 'partner_id', 'proposal_id'):
        op.drop_index(op.f(f'ix_decision_{name}'), table_name='decision')
    op.drop_table('decision')
    op.drop_index(op.f('ix_snapshot_proposal_id'), table_name='snapshot')
    op.drop_table('snapshot')
