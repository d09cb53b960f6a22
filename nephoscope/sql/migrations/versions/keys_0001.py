"""API keys: the table as the pre-alembic ``keys.sqlite`` had it."""

import sqlalchemy as sa
from alembic import op

from nephoscope.sql.types import TABLE_OPTIONS, double, key

revision = "keys_0001"
down_revision = None
branch_labels = ("keys",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", key(64), primary_key=True),
        sa.Column("token_hash", key(64), nullable=False, unique=True),
        sa.Column("project", key(255), nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", double, nullable=False),
        sa.Column("revoked_at", double),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("api_keys")
