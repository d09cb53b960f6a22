"""Alarm definitions, as the pre-alembic ``alarms.sqlite`` had them."""

import sqlalchemy as sa
from alembic import op

from nephoscope.sql.types import TABLE_OPTIONS, double, key

revision = "definitions_0001"
down_revision = None
branch_labels = ("definitions",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarm_definitions",
        sa.Column("id", key(64), primary_key=True),
        sa.Column("tenant", key(255), nullable=False),
        sa.Column("name", key(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("expression", sa.Text, nullable=False),
        sa.Column("match_by", sa.Text, nullable=False),
        sa.Column("severity", key(16), nullable=False),
        sa.Column("alarm_actions", sa.Text, nullable=False),
        sa.Column("ok_actions", sa.Text, nullable=False),
        sa.Column("undetermined_actions", sa.Text, nullable=False),
        sa.Column("actions_enabled", sa.Integer, nullable=False),
        sa.Column("created_at", double, nullable=False),
        sa.Column("updated_at", double, nullable=False),
        sa.UniqueConstraint("tenant", "name"),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("alarm_definitions")
