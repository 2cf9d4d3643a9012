"""statistics: the impressions of the recommender (issue 18, purpose 5)

``impressions``: one row per training shown in a recommendations answer (holder, training, rank, model version,
time shown), so that statistics can count what the recommender showed, and what holders then viewed or enrolled
in. Indexed by (holder, training) for the follow-up lookups and by ``shown_at`` for the monthly aggregates.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "impressions",
        sa.Column(
            "impression_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("holder_id", sa.String(length=64), nullable=False),
        sa.Column("training_id", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_impressions_rank_positive")),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["holders.holder_id"], name=op.f("fk_impressions_holder_id_holders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["training_id"],
            ["trainings.training_id"],
            name=op.f("fk_impressions_training_id_trainings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("impression_id", name=op.f("pk_impressions")),
    )
    with op.batch_alter_table("impressions", schema=None) as batch_op:
        batch_op.create_index("ix_impressions_holder_id_training_id", ["holder_id", "training_id"], unique=False)
        batch_op.create_index("ix_impressions_shown_at", ["shown_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("impressions", schema=None) as batch_op:
        batch_op.drop_index("ix_impressions_shown_at")
        batch_op.drop_index("ix_impressions_holder_id_training_id")
    op.drop_table("impressions")
