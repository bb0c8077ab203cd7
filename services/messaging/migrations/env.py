from servicekit.alembic_env import run
from services.messaging.models import Base

run("messaging", Base.metadata)
