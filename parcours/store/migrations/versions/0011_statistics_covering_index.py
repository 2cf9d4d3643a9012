"""statistics covering index (issue 18): the follow-up of an impression without table reads

``ix_impressions_holder_id_training_id_shown_at`` replaces ``ix_impressions_holder_id_training_id`` (its
prefix): the follow-up of each of the large world's 900,000 impressions compares its ``shown_at`` with the
holder's later events and files for the training, and read the table row for it.

Figures: docs/benchmarks.md, section stats.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 03:30:00.000000
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("impressions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_impressions_holder_id_training_id_shown_at", ["holder_id", "training_id", "shown_at"], unique=False
        )
        batch_op.drop_index("ix_impressions_holder_id_training_id")


def downgrade() -> None:
    with op.batch_alter_table("impressions", schema=None) as batch_op:
        batch_op.create_index("ix_impressions_holder_id_training_id", ["holder_id", "training_id"], unique=False)
        batch_op.drop_index("ix_impressions_holder_id_training_id_shown_at")
