"""holder preferences (issue 14)

The holder's own preferences, on the ``holders`` row next to ``target_occupation``, ``preferred_modality`` and
``personalisation_enabled`` (which the recommendations already read from it, so a change is seen at the next
request without a profile recompute):

- ``preferred_region_code``: INSEE region code of the region the holder would rather train in;
- ``max_out_of_pocket_cents``: the most the holder is willing to pay beyond their rights, integer cents, >= 0;
- ``target_occupation_text`` / ``target_occupation_score``: when the target occupation was given as free text,
  that text and the score of the ESCO match chosen (both NULL when an ESCO URI was given).

On SQLite the CHECK constraint needs a table rebuild (batch mode); migrations run with foreign keys off (``env.py``
does not set the pragma), so rebuilding ``holders`` leaves the rows that reference it untouched.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("holders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preferred_region_code", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("max_out_of_pocket_cents", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("target_occupation_text", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("target_occupation_score", sa.Float(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_holders_out_of_pocket_not_negative"), "max_out_of_pocket_cents IS NULL OR max_out_of_pocket_cents >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("holders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_holders_out_of_pocket_not_negative"), type_="check")
        batch_op.drop_column("target_occupation_score")
        batch_op.drop_column("target_occupation_text")
        batch_op.drop_column("max_out_of_pocket_cents")
        batch_op.drop_column("preferred_region_code")
