"""Drop and re-create every service database under DATABASE_PREFIX, migrated
to head (`--drop`: only drop them)."""
import sys

from servicekit.migrations import drop_database, migrate, service_names_with_migrations

if __name__ == "__main__":
    for name in service_names_with_migrations():
        drop_database(name)
        if "--drop" not in sys.argv:
            migrate(name)
