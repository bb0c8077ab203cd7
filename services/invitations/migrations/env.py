from servicekit.alembic_env import run
from services.invitations.models import Base

run("invitations", Base.metadata)
