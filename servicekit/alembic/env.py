"""Alembic's env.py for every service (servicekit.migrations points each
service's history here): see servicekit.alembic_env."""
from servicekit.alembic_env import run_configured_service

run_configured_service()
