# Cooperative I/O must be in place before anything else is imported (nameko, psycopg2).
from servicekit import green

green.patch()

import os

# Tests use their own databases (test_<service>) and free ports.
os.environ.setdefault("DATABASE_PREFIX", "test_")
os.environ.setdefault("OPS_PORT", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")
