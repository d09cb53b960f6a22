"""The metadata schemas before the migrations (as of commit a7cb3d2), file by file: what an
existing data dir holds, for the migration tests."""

PRE_ALEMBIC = {
    "keys.sqlite": """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    roles TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    revoked_at REAL
);
""",
    "audit.sqlite": """
CREATE TABLE IF NOT EXISTS audit_records (
    seq INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    project TEXT NOT NULL,
    initiator_project TEXT NOT NULL,
    initiator TEXT NOT NULL,
    initiator_name TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    record TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records (time_ms, seq);
CREATE INDEX IF NOT EXISTS audit_records_project ON audit_records (project, time_ms);
CREATE INDEX IF NOT EXISTS audit_records_initiator_project ON audit_records (initiator_project, time_ms);
CREATE TABLE IF NOT EXISTS audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
""",
    "prometheus_metadata.sqlite": """
CREATE TABLE IF NOT EXISTS metric_metadata (
    scope TEXT NOT NULL,
    family TEXT NOT NULL,
    type TEXT NOT NULL,
    help TEXT NOT NULL,
    unit TEXT NOT NULL,
    PRIMARY KEY (scope, family)
);
""",
    "alarms.sqlite": """
CREATE TABLE IF NOT EXISTS alarm_definitions (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    expression TEXT NOT NULL,
    match_by TEXT NOT NULL,
    severity TEXT NOT NULL,
    alarm_actions TEXT NOT NULL,
    ok_actions TEXT NOT NULL,
    undetermined_actions TEXT NOT NULL,
    actions_enabled INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (tenant, name)
);
CREATE TABLE IF NOT EXISTS alarms (
    id TEXT PRIMARY KEY,
    definition_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    instance TEXT NOT NULL,
    state TEXT NOT NULL,
    sub_states TEXT NOT NULL,
    lifecycle_state TEXT,
    link TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    state_updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alarms_definition ON alarms (definition_id);
CREATE INDEX IF NOT EXISTS alarms_tenant_state ON alarms (tenant, state);
CREATE TABLE IF NOT EXISTS alarm_metrics (
    alarm_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    PRIMARY KEY (alarm_id, name, dimensions)
);
CREATE INDEX IF NOT EXISTS alarm_metrics_name ON alarm_metrics (name);
CREATE TABLE IF NOT EXISTS alarm_state_history (
    alarm_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    old_state TEXT NOT NULL,
    new_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    reason_data TEXT NOT NULL,
    metrics TEXT NOT NULL,
    sub_alarms TEXT NOT NULL,
    link TEXT,
    lifecycle_state TEXT,
    PRIMARY KEY (alarm_id, timestamp_ms)
);
CREATE INDEX IF NOT EXISTS alarm_state_history_tenant_time ON alarm_state_history (tenant, timestamp_ms);
CREATE TABLE IF NOT EXISTS notification_methods (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    address TEXT NOT NULL,
    period INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (tenant, name)
);
CREATE TABLE IF NOT EXISTS notification_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    alarm_id TEXT NOT NULL,
    method_id TEXT NOT NULL,
    method_name TEXT NOT NULL,
    method_type TEXT NOT NULL,
    address TEXT NOT NULL,
    transition TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claimed_until REAL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    delivered_at REAL,
    periodic INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS notification_deliveries_due ON notification_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS notification_deliveries_tenant ON notification_deliveries (tenant, status);
CREATE TABLE IF NOT EXISTS notification_periodic (
    alarm_id TEXT NOT NULL,
    method_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    period INTEGER NOT NULL,
    transition TEXT NOT NULL,
    transition_key TEXT NOT NULL,
    next_due REAL NOT NULL,
    PRIMARY KEY (alarm_id, method_id)
);
""",
}
