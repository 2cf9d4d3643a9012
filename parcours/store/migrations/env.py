"""Alembic environment: the URL comes from the config set by ``parcours.store.engine.alembic_config``, or from
``alembic -x url=...`` on the command line (else ``sqlalchemy.url`` of alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from parcours.store.schema import COMPARE_OPTIONS, target_metadata

config = context.config
cli_url = context.get_x_argument(as_dictionary=True).get("url")
if cli_url:
    config.set_main_option("sqlalchemy.url", cli_url.replace("%", "%%"))


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, **COMPARE_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          **COMPARE_OPTIONS)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
