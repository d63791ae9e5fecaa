"""data-loss-prevention rules per tenant

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 18:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dlp_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('pattern', sa.String(length=500), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_dlp_rules_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dlp_rules')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_dlp_rules_tenant_id_name'))
    )
    with op.batch_alter_table('dlp_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dlp_rules_tenant_id'), ['tenant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('dlp_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dlp_rules_tenant_id'))
    op.drop_table('dlp_rules')
