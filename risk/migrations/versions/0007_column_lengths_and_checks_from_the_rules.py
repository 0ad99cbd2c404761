"""Column lengths and CHECK constraints from the rules (risk/rules.py): text columns get the lengths the forms
always allowed, and a risk's status and treatment are checked by the database too. A database that holds values
the rules refuse (imported before every door applied them) is not changed: the upgrade stops and names them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:20:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# table -> column -> (the length before, the length now); written out, not imported, so that this revision
# stays what it was when the rules change later
LENGTHS = {
    'proposal': {'description': (None, 20000), 'matrix': (None, 120)},
    'team_member': {'expertise': (None, 500)},
    'risk': {'cause': (None, 5000), 'event': (None, 5000), 'consequence': (None, 5000), 'owner': (None, 200),
             'controls': (None, 5000), 'template_id': (None, 40)},
    'action': {'description': (None, 5000), 'owner': (None, 200)},
    'score': {'rationale': (None, 5000)},
    'consensus': {'rationale': (None, 5000), 'dissent': (None, 5000), 'recorded_by': (None, 200)},
    'partner_strength': {'note': (None, 1000)},
}
# CHECK constraints whose rule changed: table -> name -> (before, now)
RANGES = {
    'partner': {'population': ('population IS NULL OR population >= 0',
                               'population IS NULL OR population BETWEEN 0 AND 1000000000')},
    'round': {'number': ('number >= 1', 'number BETWEEN 1 AND 1000')},
}
RISK_STATUSES = ('Draft', 'Open', 'In treatment', 'Monitoring', 'Accepted', 'Escalated', 'Closed')
TREATMENTS = ('Accept', 'Avoid', 'Reduce', 'Share/Transfer')


def _words(values) -> str:
    return ', '.join("'" + v + "'" for v in values)


def _check_stored_values(conn) -> None:
    problems = []
    for table, columns in LENGTHS.items():
        for column, (_before, now) in columns.items():
            ids = conn.execute(sa.text(f'SELECT id FROM {table} WHERE length({column}) > {now} ORDER BY id LIMIT 5'))
            ids = [str(i) for (i,) in ids]
            if ids:
                problems.append(f'{table}.{column} longer than {now} characters (id {", ".join(ids)})')
    for table, column, most in (('partner', 'population', 1000000000), ('round', 'number', 1000)):
        ids = [str(i) for (i,) in conn.execute(sa.text(f'SELECT id FROM {table} WHERE {column} > {most} LIMIT 5'))]
        if ids:
            problems.append(f'{table}.{column} over {most} (id {", ".join(ids)})')
    for column, values, nullable in (('status', RISK_STATUSES, False), ('treatment', TREATMENTS, True)):
        cond = f'{column} NOT IN ({_words(values)})' + (f' AND {column} IS NOT NULL' if nullable else '')
        ids = [str(i) for (i,) in conn.execute(sa.text(f'SELECT id FROM risk WHERE {cond} ORDER BY id LIMIT 5'))]
        if ids:
            problems.append(f'risk.{column} not one of {", ".join(values)} (id {", ".join(ids)})')
    if problems:
        raise RuntimeError('the database holds values the rules refuse, so it was not changed: '
                           + '; '.join(problems) + '. Correct them (or export, fix and import again), then upgrade.')


def _ranges(which: int) -> None:
    for table, checks in RANGES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, sql in checks.items():
                batch_op.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
                batch_op.create_check_constraint(op.f(f'ck_{table}_{name}'), sql[which])


def upgrade() -> None:
    _check_stored_values(op.get_bind())
    _ranges(1)
    for table, columns in LENGTHS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, (before, now) in columns.items():
                batch_op.alter_column(column, existing_type=sqlmodel.sql.sqltypes.AutoString(length=before),
                                      type_=sqlmodel.sql.sqltypes.AutoString(length=now))
            if table == 'risk':
                batch_op.create_check_constraint(op.f('ck_risk_status'), f'status IN ({_words(RISK_STATUSES)})')
                batch_op.create_check_constraint(op.f('ck_risk_treatment'),
                                                 f'treatment IS NULL OR treatment IN ({_words(TREATMENTS)})')


def downgrade() -> None:
    _ranges(0)
    for table, columns in LENGTHS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == 'risk':
                batch_op.drop_constraint(op.f('ck_risk_treatment'), type_='check')
                batch_op.drop_constraint(op.f('ck_risk_status'), type_='check')
            for column, (before, now) in columns.items():
                batch_op.alter_column(column, existing_type=sqlmodel.sql.sqltypes.AutoString(length=now),
                                      type_=sqlmodel.sql.sqltypes.AutoString(length=before))
