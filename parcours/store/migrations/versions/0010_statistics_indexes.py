"""statistics indexes (issue 18): a holder's files by training and opening time

``ix_enrolments_holder_id_training_id_created_at``: the statistics' follow-up of an impression asks whether the
holder opened a file for the training after it was shown; on SQLite each impression probes this index (covering:
no table read), on PostgreSQL the holders' last file per training is grouped from it. On the large world's
900,000 impressions it took the follow-up table from 2.3 to 2.0 s of CPU on SQLite (docs/benchmarks.md, stats).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:40:00.000000
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrolments_holder_id_training_id_created_at", ["holder_id", "training_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_index("ix_enrolments_holder_id_training_id_created_at")
