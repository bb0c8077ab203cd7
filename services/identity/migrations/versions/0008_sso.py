"""identity: single sign-on (issue 17): connections, verified domains, the
"only SSO" policy, sign-ins under way, SAML assertion ids seen (replays)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 20:40:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=False)


def upgrade():
    op.create_table(
        'sso_connections',
        sa.Column('id', UUID, primary_key=True),
        sa.Column('org_id', UUID, sa.ForeignKey('organizations.id'), nullable=False, index=True),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('issuer', sa.Text()),
        sa.Column('client_id', sa.Text()),
        sa.Column('client_secret_enc', sa.Text()),
        sa.Column('scopes', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
        sa.Column('idp_metadata_url', sa.Text()),
        sa.Column('idp_metadata_xml', sa.Text()),
        sa.Column('idp_entity_id', sa.Text()),
        sa.Column('sp_private_key_enc', sa.Text()),
        sa.Column('sp_certificate', sa.Text()),
        sa.Column('clock_skew_seconds', sa.Integer(), server_default='120', nullable=False),
        sa.Column('attribute_mapping', postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column('auto_join', postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True)),
    )
    op.create_table(
        'sso_domains',
        sa.Column('id', UUID, primary_key=True),
        sa.Column('org_id', UUID, sa.ForeignKey('organizations.id'), nullable=False, index=True),
        sa.Column('domain', sa.String(253), nullable=False),
        sa.Column('verified_at', sa.DateTime(timezone=True)),
        sa.Column('proof', sa.String(20)),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.create_index('sso_domains_org_domain', 'sso_domains', ['org_id', 'domain'], unique=True)
    op.create_index('sso_domains_verified', 'sso_domains', ['domain'], unique=True,
                    postgresql_where=sa.text('verified_at IS NOT NULL'))
    op.create_table(
        'sso_policies',
        sa.Column('org_id', UUID, sa.ForeignKey('organizations.id'), primary_key=True),
        sa.Column('only_sso', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.create_table(
        'sso_logins',
        sa.Column('id', UUID, primary_key=True),
        sa.Column('connection_id', UUID, sa.ForeignKey('sso_connections.id', ondelete='CASCADE'), nullable=False,
                  index=True),
        sa.Column('state_hash', sa.String(64), nullable=False, unique=True),
        sa.Column('nonce', sa.Text(), nullable=False),
        sa.Column('code_verifier', sa.Text()),
        sa.Column('return_to', sa.Text()),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True)),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.create_table(
        'sso_saml_assertions',
        sa.Column('connection_id', UUID, sa.ForeignKey('sso_connections.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('assertion_id', sa.String(256), primary_key=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table('sso_saml_assertions')
    op.drop_table('sso_logins')
    op.drop_table('sso_policies')
    op.drop_index('sso_domains_verified', table_name='sso_domains')
    op.drop_index('sso_domains_org_domain', table_name='sso_domains')
    op.drop_table('sso_domains')
    op.drop_table('sso_connections')
