"""The body of Alembic's env.py for every service (`servicekit/alembic/env.py`).

The service comes from the Alembic config (`servicekit.migrations.alembic_config`).
Autogenerate compares its models (`services.<name>.models.Base.metadata`) and the
kit's tables (servicekit.kit_tables). `UNMANAGED_DB_OBJECTS` in the service's
models module names the database objects its migrations create by hand that no
model can declare (e.g. programs' trigram expression index `memberships_search`):
autogenerate leaves them alone instead of proposing to drop them."""
import importlib

from alembic import context
from sqlalchemy import create_engine, pool

from servicekit import config, kit_tables


def object_filter(unmanaged=frozenset()):
    def include_object(obj, name, type_, reflected, compare_to):
        # A reflected object no model declares is a drop proposal: not for unmanaged ones.
        return not (reflected and compare_to is None and name in unmanaged)

    return include_object


def configure_options(target_metadata, unmanaged=frozenset()) -> dict:
    return {"target_metadata": [target_metadata, kit_tables.metadata], "compare_type": True,
            "include_object": object_filter(frozenset(unmanaged))}


def run_configured_service() -> None:
    service = context.config.attributes["service"]
    models = importlib.import_module(f"services.{service}.models")
    run(service, models.Base.metadata, getattr(models, "UNMANAGED_DB_OBJECTS", ()))


def run(service: str, target_metadata, unmanaged=frozenset()) -> None:
    cfg = context.config
    options = configure_options(target_metadata, unmanaged)
    directives_hook = cfg.attributes.get("process_revision_directives")
    if directives_hook is not None:
        options["process_revision_directives"] = directives_hook
    url = cfg.get_main_option("sqlalchemy.url") or config.database_url(service)
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
