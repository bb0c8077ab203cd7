"""programs: ids and organization ids are PostgreSQL uuid (the kit's id convention)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 14:45:00

Every id was generated as a uuid4 string, so the text converts in place
(`USING column::uuid`); the foreign keys are dropped while both of their
sides change type and made again. User ids and invitation ids are other
services' references and stay text, as do the catalog's ids.
"""
from alembic import op

revision = "0003"
down_revision = "0002"

UUID_COLUMNS = {
    "contracts": ["id", "org_id"],
    "programs": ["id", "org_id"],
    "program_contracts": ["program_id", "contract_id"],
    "collections": ["id", "org_id", "program_id"],
    "collection_items": ["id", "collection_id", "program_id"],
    "people": ["org_id"],
    "memberships": ["id", "org_id", "program_id", "contract_id"],
    "enrollments": ["id", "org_id", "program_id", "membership_id", "collection_id"],
}
# (table, column, referenced table, ON DELETE); PostgreSQL's default constraint names
FOREIGN_KEYS = [
    ("program_contracts", "program_id", "programs", None),
    ("program_contracts", "contract_id", "contracts", None),
    ("collections", "program_id", "programs", None),
    ("collection_items", "collection_id", "collections", "CASCADE"),
    ("memberships", "program_id", "programs", None),
    ("enrollments", "program_id", "programs", None),
    ("enrollments", "membership_id", "memberships", None),
]
# what 0001 made them, for the downgrade
TEXT_LENGTH = {"org_id": 64}


def _retype(to_type) -> None:
    for table, column, _, _ in FOREIGN_KEYS:
        op.drop_constraint(f"{table}_{column}_fkey", table, type_="foreignkey")
    for table, columns in UUID_COLUMNS.items():
        changes = ", ".join(f"ALTER COLUMN {column} TYPE {to_type(column)} USING {column}::{to_type(column)}"
                            for column in columns)
        op.execute(f"ALTER TABLE {table} {changes}")
    for table, column, referred, ondelete in FOREIGN_KEYS:
        op.create_foreign_key(f"{table}_{column}_fkey", table, referred, [column], ["id"], ondelete=ondelete)


def upgrade():
    _retype(lambda column: "uuid")


def downgrade():
    _retype(lambda column: f"varchar({TEXT_LENGTH.get(column, 36)})")
