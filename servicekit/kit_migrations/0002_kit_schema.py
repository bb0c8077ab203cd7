"""kit: the kit's schema comes from the kit branch (every service's 0002).

One file in every service's history, after its 0001. Databases created before
the kit had its own branch passed a 0002 that indexed processed events, and
already hold the kit's tables: depending on kit0001 marks it as applied for
them, without running it."""
revision, down_revision = "0002", "0001"
depends_on = "kit0001"


def upgrade():
    pass


def downgrade():
    pass
