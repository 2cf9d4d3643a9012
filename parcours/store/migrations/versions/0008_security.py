"""security (issue 16): who may fund what, and tokens that end

- ``employments``: a holder's employment at an employer (a funder of kind ``employer``), from ``start_date`` to
  ``end_date`` (NULL while it lasts). The link that lets an employer — and the OPCO of its sector — top up the
  holder's files, and that a corrective top-up requires (``parcours.domain.funding_rights``);
- ``funders.opco_id``: the OPCO of an employer's sector; ``funders.region_code``: the INSEE region of a region
  funder (a region tops up its residents' files);
- ``users.token_version``: carried by every access token and compared at each request; bumped by a change of
  password, role or status. Existing users start at 1 (tokens issued before this migration carry no version and
  are refused anyway); new users start at a random value.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "employments",
        sa.Column("employment_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("holder_id", sa.String(length=64), nullable=False),
        sa.Column("employer_id", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name=op.f("ck_employments_dates_ordered")),
        sa.ForeignKeyConstraint(
            ["employer_id"], ["funders.funder_id"], name=op.f("fk_employments_employer_id_funders"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["holders.holder_id"], name=op.f("fk_employments_holder_id_holders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("employment_id", name=op.f("pk_employments")),
    )
    with op.batch_alter_table("employments", schema=None) as batch_op:
        batch_op.create_index("ix_employments_employer_id", ["employer_id"], unique=False)
        batch_op.create_index("ix_employments_holder_id", ["holder_id"], unique=False)

    with op.batch_alter_table("funders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opco_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("region_code", sa.String(length=8), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_funders_opco_id_funders"), "funders", ["opco_id"], ["funder_id"], ondelete="RESTRICT"
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_version", sa.Integer(), nullable=False, server_default=sa.text("1")))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("token_version", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_version")
    with op.batch_alter_table("funders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_funders_opco_id_funders"), type_="foreignkey")
        batch_op.drop_column("region_code")
        batch_op.drop_column("opco_id")
    with op.batch_alter_table("employments", schema=None) as batch_op:
        batch_op.drop_index("ix_employments_holder_id")
        batch_op.drop_index("ix_employments_employer_id")
    op.drop_table("employments")
