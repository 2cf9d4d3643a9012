"""merge heads 0002 (supporting services) and 0004 (skills profile)

Both follow 0001, so the history had two heads (there is no 0003). Databases already upgraded with
``upgrade heads`` carry both; this merge revision joins them without changing the schema, so the history has one
head again and ``migrate`` upgrades to ``head``. New revisions follow this one.

Revision ID: 0005
Revises: 0002, 0004
Create Date: 2026-11-27 09:00:00.000000
"""

revision = "0005"
down_revision = ("0002", "0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
