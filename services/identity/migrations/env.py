from servicekit.alembic_env import run
from services.identity.models import Base

run("identity", Base.metadata)
