"""Every metadata table, as SQLAlchemy Core sees it, grouped by owner (``OWNERS``: the owner's
alembic branch and its tables). The migrations (``migrations/versions``) create them; a change
here comes with a new revision there.
"""

from __future__ import annotations

import sqlalchemy as sa

from nephoscope.sql.types import TABLE_OPTIONS, big_integer, double, key, long_text

metadata = sa.MetaData()

# -- API keys (nephoscope.auth.keys) ----------------------------------------------------------------
api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", key(64), primary_key=True),
    sa.Column("token_hash", key(64), nullable=False, unique=True),
    sa.Column("project", key(255), nullable=False),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", double, nullable=False),
    sa.Column("revoked_at", double),
    **TABLE_OPTIONS,
)

# -- audit trail (nephoscope.audit.store) -----------------------------------------------------------
audit_records = sa.Table(
    "audit_records", metadata,
    sa.Column("seq", big_integer, primary_key=True, autoincrement=False),
    sa.Column("time_ms", big_integer, nullable=False),
    sa.Column("project", key(255), nullable=False),
    sa.Column("initiator_project", key(255), nullable=False),
    sa.Column("initiator", sa.Text, nullable=False),
    sa.Column("initiator_name", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("target_type", sa.Text, nullable=False),
    sa.Column("target_id", sa.Text, nullable=False),
    sa.Column("record", long_text, nullable=False),
    sa.Column("hash", key(64), nullable=False),
    sa.Index("audit_records_time", "time_ms", "seq"),
    sa.Index("audit_records_project", "project", "time_ms"),
    sa.Index("audit_records_initiator_project", "initiator_project", "time_ms"),
    **TABLE_OPTIONS,
)
audit_head = sa.Table(
    "audit_head", metadata,
    sa.Column("one", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", big_integer, nullable=False),
    sa.Column("hash", key(64), nullable=False),
    sa.CheckConstraint("one = 1", name="audit_head_one"),
    **TABLE_OPTIONS,
)

# -- metric metadata (nephoscope.metrics.metadata) ----------------------------------------------------
metric_metadata = sa.Table(
    "metric_metadata", metadata,
    sa.Column("scope", key(255), primary_key=True),
    sa.Column("family", key(500), primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("help", sa.Text, nullable=False),
    sa.Column("unit", sa.Text, nullable=False),
    **TABLE_OPTIONS,
)

# -- alarm definitions (nephoscope.alarms.definitions) ------------------------------------------------
alarm_definitions = sa.Table(
    "alarm_definitions", metadata,
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

# -- alarms and their history (nephoscope.alarms.repository) -------------------------------------------
alarms = sa.Table(
    "alarms", metadata,
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
    sa.Index("alarms_definition", "definition_id"),
    sa.Index("alarms_tenant_state", "tenant", "state"),
    **TABLE_OPTIONS,
)
# MariaDB cannot make a primary key of a TEXT column (the dimensions): there the migration
# makes the same three columns a UNIQUE key (MariaDB hashes long unique keys), which is what
# "insert if absent" needs.
alarm_metrics = sa.Table(
    "alarm_metrics", metadata,
    sa.Column("alarm_id", key(64), primary_key=True),
    sa.Column("name", key(255), primary_key=True),
    sa.Column("dimensions", sa.Text, primary_key=True),
    sa.Index("alarm_metrics_name", "name"),
    **TABLE_OPTIONS,
)
alarm_state_history = sa.Table(
    "alarm_state_history", metadata,
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
    sa.Index("alarm_state_history_tenant_time", "tenant", "timestamp_ms"),
    **TABLE_OPTIONS,
)

# -- notifications (nephoscope.notify.repository) ------------------------------------------------------
notification_methods = sa.Table(
    "notification_methods", metadata,
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
notification_deliveries = sa.Table(
    "notification_deliveries", metadata,
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
    sa.Index("notification_deliveries_due", "status", "next_attempt_at"),
    sa.Index("notification_deliveries_tenant", "tenant", "status"),
    sqlite_autoincrement=True,
    **TABLE_OPTIONS,
)
notification_periodic = sa.Table(
    "notification_periodic", metadata,
    sa.Column("alarm_id", key(64), primary_key=True),
    sa.Column("method_id", key(64), primary_key=True),
    sa.Column("tenant", key(255), nullable=False),
    sa.Column("period", sa.Integer, nullable=False),
    sa.Column("transition", long_text, nullable=False),
    sa.Column("transition_key", key(255), nullable=False),
    sa.Column("next_due", double, nullable=False),
    **TABLE_OPTIONS,
)

OWNERS: dict[str, tuple[sa.Table, ...]] = {
    "keys": (api_keys,),
    "audit": (audit_records, audit_head),
    "metric_metadata": (metric_metadata,),
    "definitions": (alarm_definitions,),
    "alarms": (alarms, alarm_metrics, alarm_state_history),
    "notify": (notification_methods, notification_deliveries, notification_periodic),
}
"""Each owner's migration branch and the tables it creates."""
