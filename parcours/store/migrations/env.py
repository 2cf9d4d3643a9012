"""Alembic environment: the URL comes from the config set by ``parcours.store.engine.alembic_config``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from parcours.store.models import Base

config = context.config
target_metadata = Base.metadata
# Tables that exist only in the database, not in the models (SQLite ledger guards of migration 0002):
# autogenerate must not propose to drop them.
DATABASE_ONLY_TABLES = {"ledger_balanced_transactions", "ledger_transaction_seals"}


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    return not (type_ == "table" and name in DATABASE_ONLY_TABLES)


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
