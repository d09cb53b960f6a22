"""Every policy rule the API enforces, with its default in code (oslo.policy ``RuleDefault``s).

Monasca's rule names where Monasca had them (``api:metrics:get``, ``api:alarms:definition:post``,
``api:delegate``, ...), new ``api:...`` names for Nephoscope's own endpoints. The defaults are
built from the role lists of ``[security]``, through named base rules (``default_authorized``,
``agent_authorized``, ``read_only_authorized``, ``delegate_authorized``, ``admin_required``)
and three composites (``reader``, ``writer``, ``ingest``), so an operator's policy file can
change one role list in one place, or any single rule. ``"@"`` allows anyone: on endpoints that
need no token (health checks, the dashboard's files, the login) it is checked without one.
"""

from __future__ import annotations

from oslo_policy.policy import DocumentedRuleDefault, RuleDefault

from nephoscope.config import SecuritySettings

ANYONE = "@"

ADMIN = "rule:admin_required"
READER = "rule:reader"
WRITER = "rule:writer"
INGEST = "rule:ingest"

DELEGATE = "api:delegate"
ALL_TENANTS = "api:tenants:all"
LOGS_OPERATOR = "api:logs:operator"
EVENTS_UNKNOWN_TYPES = "api:events:unknown_types"
QUERY = "telemetry:query"
QUERY_ALL_PROJECTS = "telemetry:query:all_projects"
"""Aetos's rule names, so an operator's Aetos policy carries over."""


def roles_check(roles: list[str]) -> str:
    """``["a", "b"]`` -> ``role:a or role:b`` (Monasca's ``roles_list_to_check_str``); no role: never."""
    return " or ".join(f"role:{role}" for role in roles) if roles else "!"


def _op(method: str, *paths: str) -> list[dict[str, str]]:
    return [{"method": method, "path": path} for path in paths]


def _rule(name: str, check: str, description: str, *operations: list[dict[str, str]]) -> RuleDefault:
    """A rule guarding endpoints (documented with them), or a decision inside handlers (no endpoint)."""
    if not operations:
        return RuleDefault(name, check, description)
    return DocumentedRuleDefault(name=name, check_str=check, description=description,
                                 operations=[op for group in operations for op in group])


def base_rules(security: SecuritySettings) -> list[RuleDefault]:
    """The role lists of ``[security]`` as named rules, and the three kinds of access built on them."""
    return [
        RuleDefault("admin_required", roles_check(security.admin_roles),
                    "[security] admin_roles: may do everything, in every project."),
        RuleDefault("default_authorized", roles_check(security.default_authorized_roles),
                    "[security] default_authorized_roles: full access to the project's data."),
        RuleDefault("agent_authorized", roles_check(security.agent_authorized_roles),
                    "[security] agent_authorized_roles: may only post metrics and logs."),
        RuleDefault("read_only_authorized", roles_check(security.read_only_authorized_roles),
                    "[security] read_only_authorized_roles: may only read."),
        RuleDefault("delegate_authorized", roles_check(security.delegate_authorized_roles),
                    "[security] delegate_authorized_roles: may act for another project with tenant_id."),
        RuleDefault("reader", "rule:admin_required or rule:default_authorized or rule:read_only_authorized "
                    "or rule:delegate_authorized", "Who may read a project's data."),
        RuleDefault("writer", "rule:admin_required or rule:default_authorized",
                    "Who may change a project's alarm definitions, alarms and notification methods."),
        RuleDefault("ingest", "rule:admin_required or rule:default_authorized or rule:agent_authorized "
                    "or rule:delegate_authorized", "Who may post metrics, logs and events."),
    ]


def _monasca_rules() -> list[RuleDefault]:
    v2 = "/v2.0"
    definition = f"{v2}/alarm-definitions/{{alarm_definition_id}}"
    alarm = f"{v2}/alarms/{{alarm_id}}"
    method = f"{v2}/notification-methods/{{notification_method_id}}"
    return [
        _rule("api:versions", ANYONE, "List the API versions, or get one (any valid token).",
              _op("GET", "/", v2)),
        _rule("api:healthcheck", ANYONE, "Check the server's health (no token needed).",
              _op("GET", "/healthcheck", f"{v2}/healthcheck", "/healthz")),
        _rule(DELEGATE, "rule:admin_required or rule:delegate_authorized",
              "Act for another project with tenant_id (post metrics, logs and events for it, read it)."),
        _rule("api:metrics:get", READER, "List metrics, measurements, statistics or metric names.",
              _op("GET", f"{v2}/metrics", f"{v2}/metrics/measurements", f"{v2}/metrics/statistics",
                  f"{v2}/metrics/names")),
        _rule("api:metrics:post", INGEST, "Create metrics (Monasca JSON, or native columns).",
              _op("POST", f"{v2}/metrics", "/v1/points")),
        _rule("api:metrics:dimension:values", READER, "List dimension values.",
              _op("GET", f"{v2}/metrics/dimensions/names/values")),
        _rule("api:metrics:dimension:names", READER, "List dimension names.",
              _op("GET", f"{v2}/metrics/dimensions/names")),
        _rule("api:alarms:definition:post", WRITER, "Create an alarm definition.",
              _op("POST", f"{v2}/alarm-definitions")),
        _rule("api:alarms:definition:get", READER, "List alarm definitions or get one.",
              _op("GET", f"{v2}/alarm-definitions", definition)),
        _rule("api:alarms:definition:put", WRITER, "Replace an alarm definition.", _op("PUT", definition)),
        _rule("api:alarms:definition:patch", WRITER, "Change some fields of an alarm definition.",
              _op("PATCH", definition)),
        _rule("api:alarms:definition:delete", WRITER, "Delete an alarm definition.", _op("DELETE", definition)),
        _rule("api:alarms:put", WRITER, "Replace an alarm's state, lifecycle state and link.", _op("PUT", alarm)),
        _rule("api:alarms:patch", WRITER, "Change an alarm's state, lifecycle state or link.", _op("PATCH", alarm)),
        _rule("api:alarms:delete", WRITER, "Delete an alarm.", _op("DELETE", alarm)),
        _rule("api:alarms:get", READER, "List alarms or get one.", _op("GET", f"{v2}/alarms", alarm)),
        _rule("api:alarms:count", READER, "Count alarms.", _op("GET", f"{v2}/alarms/count")),
        _rule("api:alarms:state_history", READER, "List the state history of alarms.",
              _op("GET", f"{v2}/alarms/state-history", f"{alarm}/state-history")),
        _rule("api:notifications:get", READER, "List notification methods or get one.",
              _op("GET", f"{v2}/notification-methods", method)),
        _rule("api:notifications:post", WRITER, "Create a notification method.",
              _op("POST", f"{v2}/notification-methods")),
        _rule("api:notifications:put", WRITER, "Replace a notification method.", _op("PUT", method)),
        _rule("api:notifications:patch", WRITER, "Change some fields of a notification method.",
              _op("PATCH", method)),
        _rule("api:notifications:delete", WRITER, "Delete a notification method.", _op("DELETE", method)),
        _rule("api:notifications:type", READER, "List the notification method types.",
              _op("GET", f"{v2}/notification-methods/types")),
        _rule("api:logs:post", INGEST, "Send log lines (monasca-log-api v3.0, Monasca's merged v2.0, native).",
              _op("POST", "/v3.0/logs", f"{v2}/logs", "/v1/logs")),
    ]


def _native_rules() -> list[RuleDefault]:
    return [
        _rule(ALL_TENANTS, ADMIN, "Read every project at once (tenant_id=*)."),
        _rule("api:whoami", ANYONE, "Say what the calling token is (project, roles, what it may do).",
              _op("GET", "/v1/whoami")),
        _rule("api:auth:info", ANYONE, "Say how to log in (API keys, or Keystone); no token needed.",
              _op("GET", "/v1/auth/info")),
        _rule("api:auth:login", ANYONE, "Log in with a Keystone user name and password; no token needed.",
              _op("POST", "/v1/auth/tokens")),
        _rule("api:dashboard", ANYONE, "Load the dashboard's page and files (they hold no data).",
              _op("GET", "/ui", "/ui/", "/ui/static/{name}")),
        _rule("api:docs", ANYONE, "Read the API's OpenAPI document and its browsable docs.",
              _op("GET", "/openapi.json", "/docs", "/docs/static/{name}")),
        _rule("api:events:get", READER, "Query a project's OpenStack events.", _op("GET", "/v1/events")),
        _rule("api:events:post", INGEST, "Post OpenStack notifications.", _op("POST", "/v1/events")),
        _rule("api:events:types", READER, "List the event catalog.", _op("GET", "/v1/events/types")),
        _rule(EVENTS_UNKNOWN_TYPES, ADMIN, "See the event types received that the catalog does not know."),
        _rule("api:failures:get", READER, "Read failure summaries of a project's resources.",
              _op("GET", "/v1/failures", "/v1/resources/{resource_id}/failures")),
        _rule("api:logs:get", READER, "Search log records, templates and log hygiene.",
              _op("GET", "/v1/logs", "/v1/logs/templates", "/v1/logs/hygiene")),
        _rule(LOGS_OPERATOR, ADMIN, "Read every log category and logger ([logs] user_visible_* limit the others)."),
        _rule("api:traces:get", READER, "Follow one request across services.", _op("GET", "/v1/traces/{request_id}")),
        _rule("api:scheduling:get", READER, "Explain an instance's scheduling.",
              _op("GET", "/v1/scheduling/{instance_id}")),
        _rule("api:notifications:deliveries:get", READER, "List notification deliveries or get one.",
              _op("GET", "/v1/notifications/deliveries", "/v1/notifications/deliveries/{delivery_id}")),
        _rule("api:notifications:deliveries:retry", WRITER, "Send a delivery again.",
              _op("POST", "/v1/notifications/deliveries/{delivery_id}/retry")),
        _rule("api:notifications:stats", ADMIN, "Read the delivery counters.", _op("GET", "/v1/notifications/stats")),
        _rule("api:keys:list", ADMIN, "List API keys.", _op("GET", "/v1/keys")),
        _rule("api:keys:create", ADMIN, "Create an API key.", _op("POST", "/v1/keys")),
        _rule("api:keys:revoke", ADMIN, "Revoke an API key.", _op("DELETE", "/v1/keys/{key_id}")),
        _rule("api:admin:compact", ADMIN, "Flush and compact the store now.", _op("POST", "/v1/admin/compact")),
        _rule("api:admin:storage", ADMIN, "See where the disk goes.", _op("GET", "/v1/admin/storage")),
        _rule("api:admin:alarm_engine", ADMIN, "See the alarm engine's state.", _op("GET", "/v1/admin/alarm-engine")),
        _rule("api:admin:events", ADMIN, "See the events pipeline's state.", _op("GET", "/v1/admin/events")),
        _rule("api:cluster:heads", f"{ADMIN} or role:service", "Read an ingester's unflushed points (a cluster's "
              "queriers, with the admin token).", _op("POST", "/v1/cluster/heads")),
        _rule("api:audit:get", READER, "Read the audit trail (a project its own records, an admin every one).",
              _op("GET", "/v1/audit")),
    ]


def _prometheus_rules() -> list[RuleDefault]:
    api = "/api/v1"
    return [
        _rule("api:prometheus:write", INGEST, "Send samples: Prometheus remote write, OTLP/HTTP metrics.",
              _op("POST", f"{api}/write", f"{api}/otlp/v1/metrics")),
        _rule(QUERY, f"{READER} or role:service", "Query with PromQL and list series, labels, metadata and "
              "targets (Aetos's rule; the services' own users, such as Aodh's and Watcher's, may read).",
              _op("GET", f"{api}/query", f"{api}/query_range", f"{api}/series", f"{api}/labels",
                  f"{api}/label/{{name}}/values", f"{api}/metadata", f"{api}/targets", f"{api}/status/buildinfo",
                  f"{api}/status/runtimeinfo", f"{api}/format_query", f"{api}/query_exemplars"),
              _op("POST", f"{api}/query", f"{api}/query_range", f"{api}/series", f"{api}/labels",
                  f"{api}/format_query", f"{api}/query_exemplars")),
        _rule(QUERY_ALL_PROJECTS, f"{ADMIN} or role:service", "Query every project's series at once, as Aetos's "
              "rule lets admins and the services' users; others see their project's only."),
    ]


def default_rules(security: SecuritySettings) -> list[RuleDefault]:
    """Every rule with its default: the base rules first, then Monasca's, then Nephoscope's."""
    return [*base_rules(security), *_monasca_rules(), *_native_rules(), *_prometheus_rules()]


def list_rules() -> list[RuleDefault]:
    """The defaults with ``[security]``'s default roles, for oslo.policy's own tools
    (``oslopolicy-sample-generator --namespace nephoscope``)."""
    return default_rules(SecuritySettings())
