"""the admin home's counters (funnel per program, enrollments per program and day, activity per day),
filled from the projection

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

UUID = sa.UUID(as_uuid=False)


def upgrade():
    op.create_table(
        "home_funnel",
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("program_id", UUID, nullable=False),
        sa.Column("invited", sa.Integer(), server_default="0", nullable=False),
        sa.Column("pending", sa.Integer(), server_default="0", nullable=False),
        sa.Column("joined", sa.Integer(), server_default="0", nullable=False),
        sa.Column("enrolled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("joined_not_enrolled", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("org_id", "program_id"),
    )
    op.create_table(
        "home_enrollment_days",
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("program_id", UUID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("course_enrollments", sa.Integer(), server_default="0", nullable=False),
        sa.Column("specialization_enrollments", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("org_id", "program_id", "day"),
    )
    op.create_table(
        "home_activity_days",
        sa.Column("org_id", UUID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("hours_us", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("lessons", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("org_id", "day", "shard"),
    )
    # the counters of what the projection already holds (as services/reporting/home.py's rebuild)
    op.execute("""
    INSERT INTO home_funnel (org_id, program_id, invited, pending, joined, enrolled, joined_not_enrolled)
    SELECT org_id, program_id, sum(invited), sum(pending), sum(joined), sum(enrolled), sum(jne) FROM (
      SELECT org_id, program_id, count(*) AS invited, count(*) FILTER (WHERE state = 'PENDING') AS pending,
             0 AS joined, 0 AS enrolled, 0 AS jne
      FROM invitations GROUP BY org_id, program_id
      UNION ALL
      SELECT m.org_id, m.program_id, 0, 0, count(*) FILTER (WHERE m.joined_at IS NOT NULL),
             count(*) FILTER (WHERE m.joined_at IS NOT NULL AND x.enrolled),
             count(*) FILTER (WHERE m.state = 'MEMBER' AND NOT x.enrolled)
      FROM memberships m
      CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM enrollments e WHERE e.org_id = m.org_id
                                         AND e.program_id = m.program_id AND e.user_id = m.user_id) AS enrolled) x
      GROUP BY m.org_id, m.program_id
    ) c GROUP BY org_id, program_id""")
    op.execute("""
    INSERT INTO home_enrollment_days (org_id, program_id, day, course_enrollments, specialization_enrollments)
    SELECT org_id, program_id, (enrolled_at AT TIME ZONE 'UTC')::date, count(*) FILTER (WHERE kind = 'COURSE'),
           count(*) FILTER (WHERE kind <> 'COURSE')
    FROM enrollments GROUP BY 1, 2, 3""")
    op.execute("""
    INSERT INTO home_activity_days (org_id, day, shard, hours_us, lessons)
    SELECT org_id, day, 0, sum(hours_us), sum(lessons) FROM (
      SELECT org_id, day, hours_us, 0 AS lessons FROM course_days
      UNION ALL
      SELECT org_id, (first_completed_at AT TIME ZONE 'UTC')::date, 0, 1 FROM learner_lessons
    ) a GROUP BY org_id, day""")


def downgrade():
    op.drop_table("home_activity_days")
    op.drop_table("home_enrollment_days")
    op.drop_table("home_funnel")
