"""database identity (issue 17): the index and the registered model belong to one database

- ``database_identity``: one row (``singleton = 1``) holding a random UUID written here, at the first migration
  of every database (new or upgraded). ``parcours index build`` and ``parcours train`` record it; the server
  refuses an index or a champion recorded with another one (``recommender/provenance.py``);
- ``ix_trainings_updated_at`` and ``ix_training_sessions_start_date``: the catalogue fingerprint reads the
  latest stamp and the first and last session dates through them instead of scanning the tables.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 01:40:00.000000
"""

import datetime as dt
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "database_identity",
        sa.Column("singleton", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("database_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("singleton = 1", name=op.f("ck_database_identity_one_row")),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_database_identity")),
    )
    with op.batch_alter_table("trainings", schema=None) as batch_op:
        batch_op.create_index("ix_trainings_updated_at", ["updated_at"], unique=False)
    with op.batch_alter_table("training_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_training_sessions_start_date", ["start_date"], unique=False)
    op.bulk_insert(table, [{"singleton": 1, "database_id": str(uuid.uuid4()), "created_at": dt.datetime.now(dt.UTC)}])


def downgrade() -> None:
    with op.batch_alter_table("training_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_training_sessions_start_date")
    with op.batch_alter_table("trainings", schema=None) as batch_op:
        batch_op.drop_index("ix_trainings_updated_at")
    op.drop_table("database_identity")
