from servicekit.alembic_env import run
from services.programs.models import Base

# memberships_search: the members search index, an expression index 0001 creates by hand
run("programs", Base.metadata, unmanaged={"memberships_search"})
