from servicekit.alembic_env import run
from services.programs.models import Base

run("programs", Base.metadata)
