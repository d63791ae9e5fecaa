"""agent inbox: ticket versions, merges, read markers, list indexes, full-text search; resumable import_since; reply templates

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 14:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# app/tickets/search.py INDEXED_DOCUMENT, as it was when this revision was written.
_DOCUMENT = "to_tsvector('simple'::regconfig, left(coalesce(subject, '') || ' ' || coalesce(text, ''), 200000))"


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_tickets_merged_into_id_tickets'), 'tickets', ['merged_into_id'],
                                    ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_tickets_tenant_id_last_message_at_id', ['tenant_id', 'last_message_at', 'id'])
        batch_op.create_index('ix_tickets_tenant_id_status_last_message_at', ['tenant_id', 'status', 'last_message_at'])
        batch_op.create_index('ix_tickets_tenant_id_queue_id_last_message_at',
                              ['tenant_id', 'queue_id', 'last_message_at'])
        batch_op.create_index('ix_tickets_tenant_id_assignee_id_last_message_at',
                              ['tenant_id', 'assignee_id', 'last_message_at'])
        batch_op.create_index('ix_tickets_tenant_id_updated_at', ['tenant_id', 'updated_at'])
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_status', sa.String(length=16), nullable=True))
    with op.batch_alter_table('folder_cursors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('since_pending', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepted', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('ticket_reads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_ticket_reads_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_reads_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ticket_reads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_reads')),
    sa.UniqueConstraint('user_id', 'ticket_id', name=op.f('uq_ticket_reads_user_id_ticket_id'))
    )
    with op.batch_alter_table('ticket_reads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_reads_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_reads_ticket_id'), ['ticket_id'], unique=False)
    op.create_table('reply_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_reply_templates_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reply_templates')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_reply_templates_tenant_id_name'))
    )
    with op.batch_alter_table('reply_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reply_templates_tenant_id'), ['tenant_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"CREATE INDEX ix_messages_search ON messages USING gin (({_DOCUMENT}))")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX IF EXISTS ix_messages_search")
    with op.batch_alter_table('reply_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reply_templates_tenant_id'))
    op.drop_table('reply_templates')
    with op.batch_alter_table('ticket_reads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_reads_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_reads_tenant_id'))
    op.drop_table('ticket_reads')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('delivery_status')
    with op.batch_alter_table('folder_cursors', schema=None) as batch_op:
        batch_op.drop_column('since_pending')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_column('accepted')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_tenant_id_updated_at')
        batch_op.drop_index('ix_tickets_tenant_id_assignee_id_last_message_at')
        batch_op.drop_index('ix_tickets_tenant_id_queue_id_last_message_at')
        batch_op.drop_index('ix_tickets_tenant_id_status_last_message_at')
        batch_op.drop_index('ix_tickets_tenant_id_last_message_at_id')
        batch_op.drop_constraint(batch_op.f('fk_tickets_merged_into_id_tickets'), type_='foreignkey')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('version')
