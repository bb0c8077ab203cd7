"""the admin home per program: which programs cover a learner's course, their learning time and lessons per
day, the pairs two programs share; filled from the projection

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

UUID = sa.UUID(as_uuid=False)


def upgrade():
    op.create_table(
        "home_program_courses",
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("course_id", sa.String(length=64), nullable=False),
        sa.Column("program_id", UUID, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "user_id", "course_id", "program_id"),
    )
    op.create_table(
        "home_program_days",
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("program_id", UUID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("hours_us", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("lessons", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("org_id", "program_id", "day", "shard"),
    )
    op.create_table(
        "home_program_overlaps",
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("program_a", UUID, nullable=False),
        sa.Column("program_b", UUID, nullable=False),
        sa.Column("pairs", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("org_id", "program_a", "program_b"),
    )
    # what the projection already holds (as services/reporting/home.py's rebuild)
    op.execute("""
    INSERT INTO home_program_courses (org_id, program_id, user_id, course_id)
    SELECT e.org_id, e.program_id, e.user_id, e.course_id FROM enrollments e WHERE e.course_id IS NOT NULL
    UNION
    SELECT e.org_id, e.program_id, e.user_id, c.course_id FROM enrollments e
      JOIN specializations s ON s.specialization_id = e.specialization_id, unnest(s.course_ids) AS c(course_id)
     WHERE e.specialization_id IS NOT NULL""")
    op.execute("""
    INSERT INTO home_program_days (org_id, program_id, day, shard, hours_us, lessons)
    SELECT org_id, program_id, day, 0, sum(hours_us), sum(lessons) FROM (
      SELECT pc.org_id, pc.program_id, cd.day, cd.hours_us, 0 AS lessons FROM home_program_courses pc
        JOIN course_days cd ON cd.org_id = pc.org_id AND cd.user_id = pc.user_id AND cd.course_id = pc.course_id
      UNION ALL
      SELECT pc.org_id, pc.program_id, (ll.first_completed_at AT TIME ZONE 'UTC')::date, 0, 1
        FROM home_program_courses pc
        JOIN learner_lessons ll ON ll.org_id = pc.org_id AND ll.user_id = pc.user_id AND ll.course_id = pc.course_id
    ) a GROUP BY org_id, program_id, day""")
    op.execute("""
    INSERT INTO home_program_overlaps (org_id, program_a, program_b, pairs)
    SELECT a.org_id, a.program_id, b.program_id, count(*) FROM home_program_courses a
      JOIN home_program_courses b ON b.org_id = a.org_id AND b.user_id = a.user_id AND b.course_id = a.course_id
       AND a.program_id < b.program_id
     GROUP BY a.org_id, a.program_id, b.program_id""")


def downgrade():
    op.drop_table("home_program_overlaps")
    op.drop_table("home_program_days")
    op.drop_table("home_program_courses")
