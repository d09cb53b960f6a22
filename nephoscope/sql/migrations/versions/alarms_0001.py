"""Alarms, their metrics and state history, as the pre-alembic ``alarms.sqlite`` had them."""

import sqlalchemy as sa
from alembic import op

from nephoscope.sql.types import TABLE_OPTIONS, big_integer, double, key, long_text

revision = "alarms_0001"
down_revision = None
branch_labels = ("alarms",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", key(64), primary_key=True),
        sa.Column("definition_id", key(64), nullable=False),
        sa.Column("tenant", key(255), nullable=False),
        sa.Column("instance", long_text, nullable=False),
        sa.Column("state", key(16), nullable=False),
        sa.Column("sub_states", sa.Text, nullable=False),
        sa.Column("lifecycle_state", sa.Text),
        sa.Column("link", sa.Text),
        sa.Column("created_at", double, nullable=False),
        sa.Column("updated_at", double, nullable=False),
        sa.Column("state_updated_at", double, nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_index("alarms_definition", "alarms", ["definition_id"])
    op.create_index("alarms_tenant_state", "alarms", ["tenant", "state"])
    # MariaDB makes no primary key of a TEXT column; a UNIQUE key of any length it hashes.
    identity = (sa.UniqueConstraint if op.get_bind().dialect.name == "mysql" else sa.PrimaryKeyConstraint)
    op.create_table(
        "alarm_metrics",
        sa.Column("alarm_id", key(64), nullable=False),
        sa.Column("name", key(255), nullable=False),
        sa.Column("dimensions", sa.Text, nullable=False),
        identity("alarm_id", "name", "dimensions"),
        **TABLE_OPTIONS,
    )
    op.create_index("alarm_metrics_name", "alarm_metrics", ["name"])
    op.create_table(
        "alarm_state_history",
        sa.Column("alarm_id", key(64), primary_key=True),
        sa.Column("tenant", key(255), nullable=False),
        sa.Column("timestamp_ms", big_integer, primary_key=True, autoincrement=False),
        sa.Column("old_state", sa.Text, nullable=False),
        sa.Column("new_state", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("reason_data", long_text, nullable=False),
        sa.Column("metrics", long_text, nullable=False),
        sa.Column("sub_alarms", long_text, nullable=False),
        sa.Column("link", sa.Text),
        sa.Column("lifecycle_state", sa.Text),
        **TABLE_OPTIONS,
    )
    op.create_index("alarm_state_history_tenant_time", "alarm_state_history", ["tenant", "timestamp_ms"])


def downgrade() -> None:
    op.drop_table("alarm_state_history")
    op.drop_table("alarm_metrics")
    op.drop_table("alarms")
