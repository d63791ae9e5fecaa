"""inbox list: index the active view and the priority view (keyset pages)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 15:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# app/tickets/models.py ACTIVE_PREDICATE, as it was when this revision was written.
_ACTIVE = "status IN ('open', 'pending')"


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_tenant_id_active_last_message_at_id', ['tenant_id', 'last_message_at', 'id'],
                              postgresql_where=sa.text(_ACTIVE), sqlite_where=sa.text(_ACTIVE))
        batch_op.create_index('ix_tickets_tenant_id_priority_last_message_at_id',
                              ['tenant_id', 'priority', 'last_message_at', 'id'])


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_tenant_id_priority_last_message_at_id')
        batch_op.drop_index('ix_tickets_tenant_id_active_last_message_at_id')
