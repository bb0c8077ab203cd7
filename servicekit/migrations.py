"""Alembic helpers shared by every service's migration history.

Convention: a service named `<name>` is the folder `services/<name>/`; if it
has a database, its revisions are in `services/<name>/migrations/versions/` and
its models in `services/<name>/models.py` (`Base`). Alembic's `env.py` and
revision template are the kit's, one for all (`servicekit/alembic/`). Its
`alembic_version` table lives in its own database.

The kit's tables (servicekit.kit_tables) are versioned once, in the kit's own
Alembic branch (`servicekit/kit_migrations/`, label `kit`), which is a
version location of every service's history: `upgrade heads` brings both the
service's branch and the kit's up to date.

    python -m servicekit.migrations                      # create + migrate every service database
    python -m servicekit.migrations programs             # one
    python -m servicekit.migrations revision programs "add a column"   # autogenerate into the service's versions/
"""
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from servicekit import config

KIT_ALEMBIC = Path(__file__).resolve().parent / "alembic"  # env.py and the revision template
KIT_VERSIONS = Path(__file__).resolve().parent / "kit_migrations"


def services_root() -> Path:
    return Path(__file__).resolve().parent.parent / "services"


def ensure_database(service: str) -> None:
    """Create the service's database if it does not exist (local/dev/test)."""
    url = make_url(config.database_url(service))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()


def drop_database(service: str) -> None:
    url = make_url(config.database_url(service))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def versions_folder(service: str) -> Path:
    return services_root() / service / "migrations" / "versions"


def alembic_config(service: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(KIT_ALEMBIC))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join([str(versions_folder(service)), str(KIT_VERSIONS)]))
    cfg.set_main_option("sqlalchemy.url", config.database_url(service).replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def migrate(service: str, revision: str = "heads") -> None:
    ensure_database(service)
    command.upgrade(alembic_config(service), revision)


def new_revision(service: str, message: str) -> None:
    """Autogenerate the next revision of the service's own branch (`0003` after
    `0002`) into its `versions/`."""
    cfg = alembic_config(service)
    # The service's numbered branch (`kit…` is the kit's; a service may keep a labelled branch of its own,
    # e.g. reporting's `reports…`).
    (head,) = [head for head in ScriptDirectory.from_config(cfg).get_heads() if head.isdigit()]
    command.revision(cfg, message=message, autogenerate=True, head=head, version_path=str(versions_folder(service)),
                     rev_id=f"{int(head) + 1:04d}" if head.isdigit() else None)


def service_names_with_migrations() -> list[str]:
    return [name for name in config.service_names() if versions_folder(name).is_dir()]


def main(argv: list[str]) -> None:
    if argv[:1] == ["revision"]:
        new_revision(argv[1], argv[2])
        return
    for name in argv or service_names_with_migrations():
        migrate(name)
        print(f"migrated {name} ({config.database_name(name)})")


if __name__ == "__main__":
    main(sys.argv[1:])
