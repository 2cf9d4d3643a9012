"""The whole schema as the models describe it, and how it is compared with a database.

``target_metadata`` holds every table: importing this module imports both table modules, which register their
tables on ``Base.metadata``. Alembic's ``env.py`` (autogenerate) and the drift test (``tests/test_migrations.py``)
both compare a database with it through ``COMPARE_OPTIONS``, so they agree on what counts as a difference.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData

from parcours.store import models, supporting_models
from parcours.store.base import Base

# The modules that declare tables; each registers its tables on Base.metadata when imported.
TABLE_MODULES = (models, supporting_models)

target_metadata: MetaData = Base.metadata

# Tables that exist only in the database, not in the models (the SQLite ledger guards of migration 0002):
# autogenerate must not propose to drop them, and they are no drift.
DATABASE_ONLY_TABLES = frozenset({"ledger_balanced_transactions", "ledger_transaction_seals"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: leave out the database-only tables."""
    return not (type_ == "table" and name in DATABASE_ONLY_TABLES)


# Options of alembic's MigrationContext for autogenerate and compare_metadata: column types and server defaults
# are compared too, so a change of either is a difference (and autogenerate writes a migration for it).
COMPARE_OPTIONS: dict[str, Any] = {
    "include_object": include_object,
    "compare_type": True,
    "compare_server_default": True,
}
