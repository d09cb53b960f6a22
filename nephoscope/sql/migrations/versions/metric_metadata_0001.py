"""Metric family metadata, as the pre-alembic ``prometheus_metadata.sqlite`` had it."""

import sqlalchemy as sa
from alembic import op

from nephoscope.sql.types import TABLE_OPTIONS, key

revision = "metric_metadata_0001"
down_revision = None
branch_labels = ("metric_metadata",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_metadata",
        sa.Column("scope", key(255), primary_key=True),
        sa.Column("family", key(500), primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("help", sa.Text, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("metric_metadata")
