"""Notification methods, deliveries and periodic re-sends, as the pre-alembic ``alarms.sqlite`` had them."""

import sqlalchemy as sa
from alembic import op

from nephoscope.sql.types import TABLE_OPTIONS, big_integer, double, key, long_text

revision = "notify_0001"
down_revision = None
branch_labels = ("notify",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_methods",
        sa.Column("id", key(64), primary_key=True),
        sa.Column("tenant", key(255), nullable=False),
        sa.Column("name", key(255), nullable=False),
        sa.Column("type", key(64), nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("period", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", double, nullable=False),
        sa.Column("updated_at", double, nullable=False),
        sa.UniqueConstraint("tenant", "name"),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", big_integer, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", key(255), nullable=False, unique=True),
        sa.Column("tenant", key(255), nullable=False),
        sa.Column("alarm_id", key(64), nullable=False),
        sa.Column("method_id", key(64), nullable=False),
        sa.Column("method_name", sa.Text, nullable=False),
        sa.Column("method_type", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("transition", long_text, nullable=False),
        sa.Column("status", key(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", double, nullable=False),
        sa.Column("claimed_until", double),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", double, nullable=False),
        sa.Column("updated_at", double, nullable=False),
        sa.Column("delivered_at", double),
        sa.Column("periodic", sa.Integer, nullable=False, server_default="0"),
        sqlite_autoincrement=True,
        **TABLE_OPTIONS,
    )
    op.create_index("notification_deliveries_due", "notification_deliveries", ["status", "next_attempt_at"])
    op.create_index("notification_deliveries_tenant", "notification_deliveries", ["tenant", "status"])
    op.create_table(
        "notification_periodic",
        sa.Column("alarm_id", key(64), primary_key=True),
        sa.Column("method_id", key(64), primary_key=True),
        sa.Column("tenant", key(255), nullable=False),
        sa.Column("period", sa.Integer, nullable=False),
        sa.Column("transition", long_text, nullable=False),
        sa.Column("transition_key", key(255), nullable=False),
        sa.Column("next_due", double, nullable=False),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("notification_periodic")
    op.drop_table("notification_deliveries")
    op.drop_table("notification_methods")
