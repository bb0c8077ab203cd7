"""Shared body of every service's `migrations/env.py`:

    from servicekit.alembic_env import run
    from services.programs.models import Base

    run("programs", Base.metadata, unmanaged={"memberships_search"})

Autogenerate compares the service's models and the kit's tables
(servicekit.kit_tables). `unmanaged` names the database objects a service's
migrations create by hand and no model declares (e.g. an expression index);
autogenerate leaves them alone instead of proposing to drop them."""
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
