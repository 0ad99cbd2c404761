"""Initial schema: proposals, partners, team, risks, actions, rounds, scores, consensus, matrices, audit.

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 21:07:52.958451
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.String(), nullable=False),
    sa.Column('actor', sa.String(), nullable=False),
    sa.Column('action', sa.String(), nullable=False),
    sa.Column('entity', sa.String(), nullable=False),
    sa.Column('entity_id', sa.String(), nullable=False),
    sa.Column('before', sa.String(), nullable=False),
    sa.Column('after', sa.String(), nullable=False),
    sa.Column('prev_hash', sa.String(), nullable=False),
    sa.Column('hash', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_event_hash'))
    )
    op.create_table('matrix',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('levels', sa.JSON(), nullable=False),
    sa.Column('colours', sa.JSON(), nullable=False),
    sa.Column('grid', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matrix')),
    sa.UniqueConstraint('name', name=op.f('uq_matrix_name'))
    )
    op.create_table('partner',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('it_budget', sa.Float(), nullable=True),
    sa.Column('cost_drivers', sa.JSON(), nullable=False),
    sa.CheckConstraint("kind IN ('county', 'city', 'district', 'other')", name=op.f('ck_partner_kind')),
    sa.CheckConstraint('it_budget IS NULL OR it_budget >= 0', name=op.f('ck_partner_it_budget')),
    sa.CheckConstraint('population IS NULL OR population >= 0', name=op.f('ck_partner_population')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner')),
    sa.UniqueConstraint('name', name=op.f('uq_partner_name'))
    )
    op.create_table('proposal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('service_type', sa.String(), nullable=False),
    sa.Column('description', sa.String(), nullable=False),
    sa.Column('phase', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('matrix', sa.String(), nullable=False),
    sa.Column('aggregation', sa.String(), nullable=False),
    sa.Column('cybersecurity', sa.Boolean(), nullable=False),
    sa.Column('appetite', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("aggregation IN ('upper_median', 'max', 'one_jurisdiction_one_vote')", name=op.f('ck_proposal_aggregation')),
    sa.CheckConstraint("phase IN ('Idea', 'Assessment', 'Decision', 'Implementation', 'Operation', 'Review')", name=op.f('ck_proposal_phase')),
    sa.CheckConstraint("service_type IN ('911/CAD', 'ERP/payroll', 'GIS', 'Data centre', 'Other')", name=op.f('ck_proposal_service_type')),
    sa.CheckConstraint("status IN ('Draft', 'In assessment', 'Approved', 'Rejected', 'On hold', 'Withdrawn')", name=op.f('ck_proposal_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposal'))
    )
    op.create_table('proposal_partner',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(), nullable=False),
    sa.CheckConstraint("role IN ('lead', 'participant')", name=op.f('ck_proposal_partner_role')),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_proposal_partner_partner_id_partner')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_proposal_partner_proposal_id_proposal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposal_partner')),
    sa.UniqueConstraint('proposal_id', 'partner_id', name=op.f('uq_proposal_partner_proposal_id_partner_id'))
    )
    with op.batch_alter_table('proposal_partner', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proposal_partner_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_proposal_partner_proposal_id'), ['proposal_id'], unique=False)

    op.create_table('risk',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('risk_id', sa.String(length=40), nullable=False),
    sa.Column('category', sa.String(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('cause', sa.String(), nullable=False),
    sa.Column('event', sa.String(), nullable=False),
    sa.Column('consequence', sa.String(), nullable=False),
    sa.Column('owner_partner_id', sa.Integer(), nullable=True),
    sa.Column('owner', sa.String(), nullable=False),
    sa.Column('controls', sa.String(), nullable=False),
    sa.Column('treatment', sa.String(), nullable=True),
    sa.Column('target_likelihood', sa.Integer(), nullable=True),
    sa.Column('target_impact', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('template_id', sa.String(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(), nullable=False),
    sa.CheckConstraint("category IN ('legal', 'operational', 'financial', 'reputational', 'societal', 'cybersecurity')", name=op.f('ck_risk_category')),
    sa.CheckConstraint('target_impact IS NULL OR target_impact BETWEEN 1 AND 5', name=op.f('ck_risk_target_impact')),
    sa.CheckConstraint('target_likelihood IS NULL OR target_likelihood BETWEEN 1 AND 5', name=op.f('ck_risk_target_likelihood')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_risk_version')),
    sa.ForeignKeyConstraint(['owner_partner_id'], ['partner.id'], name=op.f('fk_risk_owner_partner_id_partner')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_risk_proposal_id_proposal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk')),
    sa.UniqueConstraint('proposal_id', 'risk_id', name=op.f('uq_risk_proposal_id_risk_id'))
    )
    with op.batch_alter_table('risk', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_owner_partner_id'), ['owner_partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_proposal_id'), ['proposal_id'], unique=False)

    op.create_table('round',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('phase', sa.String(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revealed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("phase IN ('inherent', 'residual')", name=op.f('ck_round_phase')),
    sa.CheckConstraint("status IN ('open', 'revealed', 'closed')", name=op.f('ck_round_status')),
    sa.CheckConstraint('number >= 1', name=op.f('ck_round_number')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_round_proposal_id_proposal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_round')),
    sa.UniqueConstraint('proposal_id', 'phase', 'number', name=op.f('uq_round_proposal_id_phase_number'))
    )
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_round_proposal_id'), ['proposal_id'], unique=False)

    op.create_table('team_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=True),
    sa.Column('team_role', sa.String(), nullable=False),
    sa.Column('expertise', sa.String(), nullable=False),
    sa.CheckConstraint("team_role IN ('facilitator', 'assessor', 'observer')", name=op.f('ck_team_member_team_role')),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_team_member_partner_id_partner')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposal.id'], name=op.f('fk_team_member_proposal_id_proposal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_member')),
    sa.UniqueConstraint('proposal_id', 'name', name=op.f('uq_team_member_proposal_id_name'))
    )
    with op.batch_alter_table('team_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_member_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_member_proposal_id'), ['proposal_id'], unique=False)

    op.create_table('action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('risk_pk', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(), nullable=False),
    sa.Column('owner', sa.String(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('paying_partner_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('Planned', 'In progress', 'Done', 'Cancelled')", name=op.f('ck_action_status')),
    sa.CheckConstraint('cost IS NULL OR cost >= 0', name=op.f('ck_action_cost')),
    sa.ForeignKeyConstraint(['paying_partner_id'], ['partner.id'], name=op.f('fk_action_paying_partner_id_partner')),
    sa.ForeignKeyConstraint(['risk_pk'], ['risk.id'], name=op.f('fk_action_risk_pk_risk'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action'))
    )
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_paying_partner_id'), ['paying_partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_risk_pk'), ['risk_pk'], unique=False)

    op.create_table('consensus',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('risk_pk', sa.Integer(), nullable=False),
    sa.Column('phase', sa.String(), nullable=False),
    sa.Column('likelihood', sa.Integer(), nullable=False),
    sa.Column('impact', sa.Integer(), nullable=False),
    sa.Column('rationale', sa.String(), nullable=False),
    sa.Column('dissent', sa.String(), nullable=False),
    sa.Column('recorded_by', sa.String(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("phase IN ('inherent', 'residual')", name=op.f('ck_consensus_phase')),
    sa.CheckConstraint('impact BETWEEN 1 AND 5', name=op.f('ck_consensus_impact')),
    sa.CheckConstraint('likelihood BETWEEN 1 AND 5', name=op.f('ck_consensus_likelihood')),
    sa.ForeignKeyConstraint(['risk_pk'], ['risk.id'], name=op.f('fk_consensus_risk_pk_risk'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consensus')),
    sa.UniqueConstraint('risk_pk', 'phase', name=op.f('uq_consensus_risk_pk_phase'))
    )
    with op.batch_alter_table('consensus', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consensus_risk_pk'), ['risk_pk'], unique=False)

    op.create_table('score',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('assessor_id', sa.Integer(), nullable=False),
    sa.Column('risk_pk', sa.Integer(), nullable=False),
    sa.Column('likelihood', sa.Integer(), nullable=False),
    sa.Column('impact', sa.Integer(), nullable=False),
    sa.Column('rationale', sa.String(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('impact BETWEEN 1 AND 5', name=op.f('ck_score_impact')),
    sa.CheckConstraint('likelihood BETWEEN 1 AND 5', name=op.f('ck_score_likelihood')),
    sa.ForeignKeyConstraint(['assessor_id'], ['team_member.id'], name=op.f('fk_score_assessor_id_team_member')),
    sa.ForeignKeyConstraint(['risk_pk'], ['risk.id'], name=op.f('fk_score_risk_pk_risk'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['round.id'], name=op.f('fk_score_round_id_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score')),
    sa.UniqueConstraint('round_id', 'assessor_id', 'risk_pk', name=op.f('uq_score_round_id_assessor_id_risk_pk'))
    )
    with op.batch_alter_table('score', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_score_assessor_id'), ['assessor_id'], unique=False)
        batch_op.create_index('ix_score_risk_round', ['risk_pk', 'round_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_score_round_id'), ['round_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('score', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_score_round_id'))
        batch_op.drop_index('ix_score_risk_round')
        batch_op.drop_index(batch_op.f('ix_score_assessor_id'))

    op.drop_table('score')
    with op.batch_alter_table('consensus', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consensus_risk_pk'))

    op.drop_table('consensus')
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_risk_pk'))
        batch_op.drop_index(batch_op.f('ix_action_paying_partner_id'))

    op.drop_table('action')
    with op.batch_alter_table('team_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_member_proposal_id'))
        batch_op.drop_index(batch_op.f('ix_team_member_partner_id'))

    op.drop_table('team_member')
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_round_proposal_id'))

    op.drop_table('round')
    with op.batch_alter_table('risk', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_proposal_id'))
        batch_op.drop_index(batch_op.f('ix_risk_owner_partner_id'))

    op.drop_table('risk')
    with op.batch_alter_table('proposal_partner', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proposal_partner_proposal_id'))
        batch_op.drop_index(batch_op.f('ix_proposal_partner_partner_id'))

    op.drop_table('proposal_partner')
    op.drop_table('proposal')
    op.drop_table('partner')
    op.drop_table('matrix')
    op.drop_table('audit_event')

