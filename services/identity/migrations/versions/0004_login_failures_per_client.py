"""identity: the login throttle counts failures per email, per client address
and per (client, email), with growing locks (login_failures replaces
login_throttle; its counts are short-lived and start afresh)"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'


def upgrade():
    op.create_table('login_failures',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lockouts', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.drop_table('login_throttle')


def downgrade():
    op.create_table('login_throttle',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('email')
    )
    op.drop_table('login_failures')
