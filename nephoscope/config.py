"""One typed configuration: a TOML file overlaid by ``NEPHOSCOPE_*`` environment variables.

Every setting has a default, so ``nephoscope serve`` runs with no file at all. Naming: a TOML
section is a ``<Section>Settings`` dataclass, a whole file a ``Config`` (the agent's file is
``agent.config.AgentConfig``, built the same way).
The environment wins over the file: ``NEPHOSCOPE_<SECTION>_<KEY>`` (for example
``NEPHOSCOPE_SERVER_PORT=8070`` or ``NEPHOSCOPE_STORE_FLUSH_INTERVAL=2``), and the
top-level shortcuts ``NEPHOSCOPE_DATA_DIR``, ``NEPHOSCOPE_HOST``, ``NEPHOSCOPE_PORT``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from nephoscope.errors import unknown_names


# -- roles ----------------------------------------------------------------------------------------
# What a node runs (``[server] roles``, ``nephoscope serve --role``). ``all`` (the default) is the
# single process: every role, and with no ``[cluster]`` servers the embedded stores. A combination
# of the others is one node of a cluster: ``api`` (the HTTP API; writes published to JetStream, 2xx
# after its ack), ``ingester`` (leases metric partitions, builds their heads from the stream, writes
# blocks to S3, serves its heads to queriers), ``querier`` (reads from S3 blocks plus the owning
# ingesters' heads), ``evaluator`` (alarms), ``notifier`` (deliveries), ``consumer`` (RabbitMQ).

ROLES = ("api", "ingester", "querier", "evaluator", "notifier", "consumer")
ALL = "all"


def parse_roles(text: str | list[str]) -> frozenset[str]:
    """``"api,ingester"`` (or a list of names) as a set; ``all`` gives every role. Raises
    ``ValueError`` naming an unknown role."""
    names = [part.strip() for part in (text.split(",") if isinstance(text, str) else text)]
    names = [name for name in names if name]
    if not names:
        raise ValueError(f"no role given: one or more of {', '.join(ROLES)} (comma-separated), or {ALL}")
    unknown = [name for name in names if name not in (*ROLES, ALL)]
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r}: one or more of {', '.join(ROLES)} (comma-separated), "
                         f"or {ALL}")
    return frozenset(ROLES) if ALL in names else frozenset(names)


def is_all(roles: frozenset[str]) -> bool:
    return roles == frozenset(ROLES)


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8070
    data_dir: str = "./var/nephoscope"
    region: str = "RegionOne"
    # Public base URL used in links; empty means "derive from the request".
    public_url: str = ""
    # What this node runs (nephoscope.cluster.roles): "all", or a comma-separated combination of
    # api, ingester, querier, evaluator, notifier, consumer (a node of a cluster).
    roles: str = "all"


@dataclass
class LimitsSettings:
    # Bodies above these sizes answer 413 before being read in full.
    max_body_bytes: int = 16 * 1024 * 1024
    max_decompressed_bytes: int = 256 * 1024 * 1024
    # Points waiting to be written to the WAL; above it ingest answers 503.
    max_pending_points: int = 4_000_000
    # Points held in memory (not yet flushed to the store); above it ingest answers 429.
    max_head_points: int = 8_000_000
    retry_after_seconds: int = 2
    page_limit: int = 10_000


@dataclass
class ArchivePolicy:
    """Retention per resolution for metric names matching ``pattern`` (fnmatch glob)."""

    pattern: str = "*"
    # Seconds of retention per resolution; resolution 0 is raw. A missing or zero
    # entry means that resolution is not kept for these metrics.
    raw: int = 86_400
    minute: int = 7 * 86_400
    hour: int = 90 * 86_400
    day: int = 730 * 86_400

    def retention(self, resolution: int) -> int:
        return {0: self.raw, 60: self.minute, 3600: self.hour, 86_400: self.day}[resolution]


MATERIALIZE_ROLLUPS = ("on_expiry", "on_compaction")


@dataclass
class StoreSettings:
    # Seconds between flushes of the in-memory head into the store.
    flush_interval: float = 1.0
    # Seconds between compaction passes; windows are compacted once closed for `grace`.
    compaction_interval: float = 30.0
    compaction_grace: float = 300.0
    # Width of a raw-data window (one compressed chunk per series per window).
    raw_window: int = 7200
    # Samples older than the raw retention are refused: roll-ups stay exact.
    max_future_seconds: int = 600
    memory_limit: str = "512MB"
    # Decoded chunks kept in memory for repeated queries (dashboards refresh every few seconds).
    chunk_cache_bytes: int = 256 * 1024 * 1024
    # When 1-minute and 1-hour roll-ups are written: "on_expiry" (when raw data leaves its retention;
    # until then queries compute them from raw, exactly, and they cost no disk) or "on_compaction"
    # (as soon as a raw window is compacted: more disk, coarse queries read fewer points).
    materialize_rollups: str = "on_expiry"
    policies: list[ArchivePolicy] = field(default_factory=lambda: [ArchivePolicy()])


AUTH_STRATEGIES = ("keys", "keystone")


@dataclass
class AuthSettings:
    """Who may call (section ``[auth]``; docs/keystone.md)."""
    # "keys": API keys only (the embedded mode). "keystone": Keystone tokens too, validated with the
    # [keystone_authtoken] credentials; API keys keep working beside them.
    strategy: str = "keys"
    # Accepted as an admin key of project `admin` when set (env NEPHOSCOPE_ADMIN_TOKEN).
    admin_token: str = ""
    # An operator's oslo.policy file (YAML or JSON) overriding the rules' defaults; re-read when it changes.
    policy_file: str = ""


@dataclass
class KeystoneAuthtokenSettings:
    """Validating Keystone tokens (section ``[keystone_authtoken]``), with keystonemiddleware's option names."""
    # Where clients are told to authenticate (the WWW-Authenticate of a 401); default: auth_url.
    www_authenticate_uri: str = ""
    # Keystone's identity endpoint, used to validate tokens (e.g. http://keystone:5000/v3).
    auth_url: str = ""
    auth_type: str = "password"
    # The service user that validates tokens (Keystone's policy: the `service` or `admin` role).
    username: str = ""
    password: str = ""
    project_name: str = "service"
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    region_name: str = ""
    # Seconds a validated token is trusted without asking Keystone again (never past its expiry).
    token_cache_time: int = 300
    # Validated tokens kept in memory (least recently used dropped first).
    token_cache_size: int = 10_000
    # Shared cache for several servers ("host:port" each); empty: memory only.
    memcached_servers: list[str] = field(default_factory=list)
    # Mixed into memcached entries' MAC, so only servers knowing it trust them (optional).
    memcache_secret_key: str = ""
    # Seconds to wait for Keystone before answering 503.
    http_connect_timeout: float = 5.0
    http_request_max_retries: int = 1
    # TLS: a CA bundle to verify Keystone with, or insecure = true to not verify (tests only).
    cafile: str = ""
    insecure: bool = False


@dataclass
class SecuritySettings:
    """Monasca's roles (section ``[security]``): the policy's defaults are built from them."""
    # Full access to the project's data: read, write, alarms, notification methods.
    default_authorized_roles: list[str] = field(default_factory=lambda: ["monasca-user"])
    # May only post metrics and logs (monasca-agent, Ceilometer).
    agent_authorized_roles: list[str] = field(default_factory=lambda: ["monasca-agent"])
    # May only read.
    read_only_authorized_roles: list[str] = field(default_factory=lambda: ["monasca-read-only-user"])
    # May act for another project with tenant_id (post, and read).
    # Monasca's default is ["admin"]; "monasca-delegate" is the embedded mode's delegate key role.
    delegate_authorized_roles: list[str] = field(default_factory=lambda: ["admin", "monasca-delegate"])
    # May do everything, in every project (tenant_id=* reads all of them).
    admin_roles: list[str] = field(default_factory=lambda: ["admin"])

    def all_roles(self) -> list[str]:
        """Every role named here, each once, in order."""
        lists = (self.admin_roles, self.default_authorized_roles, self.agent_authorized_roles,
                 self.read_only_authorized_roles, self.delegate_authorized_roles)
        return list(dict.fromkeys(role for roles in lists for role in roles))


@dataclass
class DemoSettings:
    enabled: bool = False
    hypervisors: int = 20
    instances_per_hypervisor: int = 10
    interval: float = 10.0
    backfill_minutes: int = 60
    # Besides metrics, the services' log lines and notifications (docs/configuration.md, [demo]).
    logs_and_events: bool = True


@dataclass
class TelemetrySettings:
    # Seconds between self-metric samples (nephoscope.* metrics of project admin).
    interval: float = 10.0
    enabled: bool = True


@dataclass
class NotifySettings:
    """Notification methods and their delivery (section ``[notify]``)."""

    # Periods (seconds) a method may have; 0 means "send once per transition".
    valid_periods: tuple[int, ...] = (0, 60)
    types: tuple[str, ...] = ("EMAIL", "PAGERDUTY", "WEBHOOK", "SLACK")
    # Seconds to wait for a webhook, Slack or PagerDuty endpoint (Monasca: 5).
    webhook_timeout: float = 5.0
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "nephoscope@localhost"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout: float = 15.0
    # Attempts per delivery before it becomes a dead letter.
    max_attempts: int = 8
    # Retry n waits min(backoff_max, backoff_base * 2**(n-1)) seconds, shortened by up to `jitter` (a fraction).
    backoff_base: float = 2.0
    backoff_max: float = 600.0
    jitter: float = 0.2
    # Longest idle sleep of the worker between looks at the outbox (it is also woken on enqueue).
    poll_interval: float = 1.0
    # Deliveries sent at the same time.
    concurrency: int = 16
    # A claimed delivery not finished within this many seconds is tried again (crash mid-send).
    lease_seconds: float = 120.0


@dataclass
class AlarmsSettings:
    """The alarm engine (docs/alarm-evaluation.md)."""
    # Seconds after a period closes before it is evaluated, so late points still count (Monasca: 30).
    grace_seconds: float = 30.0
    # A batch whose newest point is older than this is backlog (an agent replaying its spool):
    # while backlog arrives, empty periods do not count toward UNDETERMINED.
    lag_seconds: float = 120.0
    # ... but for at most this long in a row, so a dead source still goes UNDETERMINED.
    max_catch_up_seconds: float = 600.0


@dataclass
class RabbitmqSettings:
    """Consuming OpenStack notifications (docs/events.md). Off unless ``enabled``."""
    enabled: bool = False
    # One broker per URL (e.g. one per Nova cell); ``names`` labels them (default cell0, cell1, ...).
    urls: list[str] = field(default_factory=lambda: ["amqp://guest:guest@127.0.0.1:5672/"])
    names: list[str] = field(default_factory=list)
    exchanges: list[str] = field(default_factory=lambda: [
        "nova", "neutron", "cinder", "glance", "heat", "keystone", "openstack", "ironic", "magnum",
        "octavia", "designate", "manila", "sahara", "trove", "aodh", "swift"])
    topics: list[str] = field(default_factory=lambda: ["notifications", "versioned_notifications"])
    queue_prefix: str = "nephoscope"
    # The window holds four batches: two in the store, one filling, one arriving. A smaller window
    # costs the broker less per delivery (docs/benchmarks.md).
    prefetch: int = 1000
    batch_size: int = 250
    batch_seconds: float = 0.2
    # Consumer processes per broker: each reads, parses and catalogues, the server stores. 0 runs the
    # consumer inside the server process (small clouds, tests).
    workers: int = 2
    # Extra queue arguments, e.g. {"x-queue-mode" = "lazy"} on RabbitMQ < 3.12.
    queue_arguments: dict[str, str] = field(default_factory=dict)


@dataclass
class EventsSettings:
    """The events store and what is derived from it (docs/events.md)."""
    # Event definition files or folders used instead of the shipped catalog (empty: the shipped one).
    definitions: list[str] = field(default_factory=list)
    # DuckDB buffer pool of events.duckdb: bounds the server's memory while a backlog drains.
    memory_limit: str = "512MB"
    # Message ids remembered to store each notification once (8 bytes each).
    dedupe_ids: int = 4_000_000
    # Seconds between lifecycle metrics (openstack.instances, openstack.volumes.gb, ...); 0 = off.
    metrics_interval: float = 60.0
    # Events are kept this many days (whole Parquet parts are dropped; from their arrival for events
    # stamped long ago); 0 keeps them forever.
    retention_days: float = 90.0
    # Events held in memory (and in the log) before they are written as a Parquet part.
    flush_events: int = 100_000
    flush_seconds: float = 300.0


@dataclass
class LogsSettings:
    """Log ingest, processing and retention (docs/logs.md)."""
    # Operator rules files, tried before the shipped rules (first match decides).
    rules: list[str] = field(default_factory=list)
    retention_days: float = 30.0
    memory_limit: str = "512MB"  # DuckDB's buffer pool for log searches
    metrics_window: float = 60.0  # seconds per log.records / log.http.* point
    # Syslog (RFC 5424 and 3164) for rsyslog and friends; 0 turns a listener off.
    syslog_host: str = "127.0.0.1"
    syslog_tcp_port: int = 0
    syslog_udp_port: int = 0
    syslog_project: str = "admin"  # the project syslog lines are stored for (lines name their own too)
    # What a project may read of the lines about its own resources (operators see everything).
    user_visible_categories: list[str] = field(default_factory=lambda: ["error", "info", "audit"])
    user_hidden_loggers: list[str] = field(default_factory=lambda: [
        "oslo_messaging", "oslo.messaging", "keystonemiddleware", "keystoneauth", "sqlalchemy", "urllib3",
        "oslo_db", "oslo_concurrency"])


@dataclass
class AuditSettings:
    """The audit trail (docs/audit.md). It is never trimmed by any retention."""
    # Distinct refusals (client address, who, status, rule, reason) recorded one by one in a minute;
    # refusals beyond them are counted in one record per minute, so a flood cannot fill the disk.
    refusal_keys_per_minute: int = 1000
    # OpenStack's CADF notifications (from the events store) shown beside Nephoscope's own records:
    # event types, exact or a prefix ending in "*".
    openstack_event_types: list[str] = field(default_factory=lambda: ["identity.*", "audit.http.response"])


@dataclass
class PrometheusSettings:
    """Prometheus remote write, OTLP and the PromQL API (docs/prometheus.md)."""
    # A writer with the delegate rule (monasca-delegate or admin, e.g. Ceilometer's service user) may
    # assign each series to the project this label names; the label stays a label.
    project_label: str = "project"
    # OTLP names as Prometheus's OTLP receiver translates them: UnderscoreEscapingWithSuffixes,
    # UnderscoreEscapingWithoutSuffixes, NoUTF8EscapingWithSuffixes or NoTranslation.
    otlp_translation_strategy: str = "UnderscoreEscapingWithSuffixes"
    # OTLP resource attributes copied onto every series of the resource (besides job and instance).
    promote_resource_attributes: list[str] = field(default_factory=list)
    # Also keep service.name, service.namespace and service.instance.id on target_info.
    keep_identifying_resource_attributes: bool = False
    # Seconds an instant selector looks back for a sample; a series silent that long is stale.
    lookback_delta: float = 300.0
    # Points a range query may return per series (Prometheus: 11,000).
    max_points_per_series: int = 11_000
    # Samples a query may hold in memory at once (loaded points and result cells).
    max_samples: int = 50_000_000
    # Seconds a query may run; a request's `timeout` can only shorten it.
    query_timeout: float = 120.0
    # Step of a subquery written without one (`x[1h:]`); Prometheus uses its evaluation interval.
    subquery_step: float = 60.0
    # Seconds without a point after which an agent host is no longer an active target.
    targets_window: float = 600.0


@dataclass
class ClusterSettings:
    """``[cluster]``: where a clustered deployment's engines are and how its data is cut.

    With ``servers`` empty (the default) Nephoscope is the embedded single process and nothing here
    is used. Clustered, every node reads the same section: the JetStream servers (replication and
    leases), the S3-compatible object store (blocks), the SQL database (metadata) and the partition
    count, which is fixed for a stream's life.
    """

    # JetStream: any of the cluster's client URLs (the client fails over between them). Empty: embedded.
    servers: list[str] = field(default_factory=list)
    stream: str = "NEPHOSCOPE_METRICS"
    subject_prefix: str = "nephoscope.metrics"
    replicas: int = 3
    # Series are spread over this many partitions by their id (a hash); fixed for a stream's life.
    partitions: int = 8
    # A client's retry within this window is stored once (JetStream's duplicate window).
    duplicate_window_seconds: float = 120.0
    # Seconds JetStream may take to acknowledge a publish (a leader election takes a few); past
    # them the write is refused as Overloaded (503 + Retry-After), never lost silently.
    publish_timeout_seconds: float = 10.0
    # Bytes the stream may hold (per replica) while blocks cannot be written (object storage away):
    # beyond them JetStream refuses new messages and writes are refused as Overloaded.
    stream_max_bytes: int = 8 * 2**30
    # S3-compatible object storage (Ceph RGW, Swift s3api, SeaweedFS).
    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    bucket: str = "nephoscope"
    prefix: str = "metrics"
    # Seconds between flushes of the head into blocks (each flush rewrites the touched windows' blocks).
    flush_interval: float = 10.0
    # Block bytes read from S3 kept in memory (queries of the same windows repeat).
    block_cache_bytes: int = 256 * 2**20
    # SQLAlchemy URL of the metadata database (postgresql+psycopg://…, mysql+pymysql://…); empty:
    # the embedded SQLite files under the data directory.
    sql_url: str = ""
    # Events (OpenStack notifications) and log records: their own streams, subjects and object prefix
    # (Parquet files), cut into the same number of partitions (events by resource, logs by project).
    events_stream: str = "NEPHOSCOPE_EVENTS"
    events_subject_prefix: str = "nephoscope.events"
    events_prefix: str = "events"
    logs_stream: str = "NEPHOSCOPE_LOGS"
    logs_subject_prefix: str = "nephoscope.logs"
    logs_prefix: str = "logs"
    # Seconds a member's lease on its partitions lasts without renewal: a dead member's partitions
    # are taken over after at most this long.
    lease_seconds: float = 5.0
    # The URL the other nodes reach this one at (a querier asks an ingester for its heads there);
    # empty: http://<[server] host>:<port>.
    advertise_url: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.servers)


@dataclass
class Config:
    server: ServerSettings = field(default_factory=ServerSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    keystone_authtoken: KeystoneAuthtokenSettings = field(default_factory=KeystoneAuthtokenSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    alarms: AlarmsSettings = field(default_factory=AlarmsSettings)
    rabbitmq: RabbitmqSettings = field(default_factory=RabbitmqSettings)
    events: EventsSettings = field(default_factory=EventsSettings)
    logs: LogsSettings = field(default_factory=LogsSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir).expanduser().resolve()


class ConfigError(ValueError):
    """A configuration file or variable that cannot be used; the message says which and why."""


_SHORTCUTS = {
    "NEPHOSCOPE_DATA_DIR": ("server", "data_dir"),
    "NEPHOSCOPE_HOST": ("server", "host"),
    "NEPHOSCOPE_PORT": ("server", "port"),
    "NEPHOSCOPE_ADMIN_TOKEN": ("auth", "admin_token"),
}


def _coerce(value: object, target: type, where: str) -> object:
    origin = typing.get_origin(target)
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(f"expected true or false, got {value!r}")
        if target is int:
            if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().lstrip(
                    "+-").isdigit():
                raise ValueError(f"expected a whole number, got {value!r}")
            return int(value)
        if target is float:
            if isinstance(value, bool):
                raise ValueError(f"expected a number, got {value!r}")
            try:
                return float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ValueError(f"expected a number, got {value!r}") from None
        if target is str:
            if not isinstance(value, (str, int, float)):
                raise ValueError(f"expected a string, got {type(value).__name__}")
            return str(value)
        if origin in (list, tuple):
            item_type = typing.get_args(target)[0]
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)):
                raise ValueError(f"expected a list, got {type(value).__name__}")
            converted = [item_type(item.strip() if isinstance(item, str) else item) for item in items
                         if not (isinstance(item, str) and not item.strip())]
            return tuple(converted) if origin is tuple else converted
        if origin is dict:  # a TOML inline table, or "key=value,key=value" in the environment
            if isinstance(value, str):
                pairs = [item.partition("=") for item in value.split(",") if item.strip()]
                if any(not sep for _, sep, _ in pairs):
                    raise ValueError(f"expected key=value pairs separated by commas, got {value!r}")
                value = {key.strip(): item.strip() for key, _, item in pairs}
            if not isinstance(value, dict):
                raise ValueError(f"expected a table, got {type(value).__name__}")
            return {str(key): str(item) for key, item in value.items()}
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from None
    return value


Where = typing.Callable[[str], str]
"""Names a setting in an error message: its section and key, and where it was set (file or variable)."""


def _in_file(path: object, section: str) -> Where:
    return lambda key: f"{path}: [{section}] {key}"


def _in_variable(variable: str, section: str) -> Where:
    return lambda key: f"{variable}: [{section}] {key}"


def _apply(section: object, values: dict, where: Where) -> None:
    hints = typing.get_type_hints(type(section))
    names = [f.name for f in dataclasses.fields(section)]
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"{where(key)}: {unknown_names('setting', [key], names)}")
        item_type = _table_list_item(hints[key])
        if item_type is not None:  # an array of tables: [[store.policies]], [[http_check]]
            if not isinstance(value, list):
                raise ConfigError(f"{where(key)}: expected an array of tables ([[section.{key}]])")
            setattr(section, key, [_table(item_type, item, where, key, i)
                                   for i, item in enumerate(value)])
            continue
        setattr(section, key, _coerce(value, hints[key], where(key)))


def _table_list_item(hint: object) -> type | None:
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        if dataclasses.is_dataclass(item):
            return item
    return None


def _table(item_type: type, values: object, where: Where, name: str, index: int) -> object:
    label = f"{name}[{index}]"
    if not isinstance(values, dict):
        raise ConfigError(f"{where(label)}: expected a table")
    item = item_type()
    _apply(item, values, lambda key: f"{where(label)}.{key}")
    return item


def load_sections(root: object, path: str | os.PathLike | None, environ: dict[str, str], prefix: str,
                  shortcuts: dict[str, tuple[str, str]] | None = None, file_only: tuple[str, ...] = ()) -> None:
    """Overlay ``root`` (a dataclass of section dataclasses) with the TOML file, then with
    ``<prefix><SECTION>_<KEY>`` environment variables (``shortcuts``: other names for some keys;
    ``file_only``: keys that can only be set in the file). Shared by the server and the agent.
    Every error names the file or the variable, the section and the key."""
    shortcuts = shortcuts or {}
    sections = [f.name for f in dataclasses.fields(root) if dataclasses.is_dataclass(getattr(root, f.name))]
    if path:
        try:
            with open(path, "rb") as handle:
                document = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"configuration file {path}: {error}") from None
        root_hints = typing.get_type_hints(type(root))
        for section_name, values in document.items():
            if isinstance(values, list) and _table_list_item(root_hints.get(section_name)) is not None:
                _apply(root, {section_name: values}, lambda key: f"{path}: {key}")  # a top-level array of tables
                continue
            section = getattr(root, section_name, None)
            if section is None or not dataclasses.is_dataclass(section):
                raise ConfigError(f"{path}: {unknown_names('section', [section_name], sections)}")
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: [{section_name}] must be a table")
            _apply(section, values, _in_file(path, section_name))
    for variable, (section_name, key) in shortcuts.items():
        if variable in environ:
            _apply(getattr(root, section_name), {key: environ[variable]}, _in_variable(variable, section_name))
    for variable, value in environ.items():
        if not variable.startswith(prefix) or variable in shortcuts:
            continue
        section_name, key = _section_and_key(root, variable[len(prefix):].lower())
        section = getattr(root, section_name, None) if section_name else None
        if section is None or not dataclasses.is_dataclass(section) or not key:
            continue  # other tools' variables share the prefix (e.g. NEPHOSCOPE_URL for the CLI)
        if key in file_only:
            raise ConfigError(f"{variable}: [{section_name}] {key} can only be set in the configuration file")
        _apply(section, {key: value}, _in_variable(variable, section_name))


def _section_and_key(root: object, name: str) -> tuple[str, str]:
    """``keystone_authtoken_auth_url`` -> (``keystone_authtoken``, ``auth_url``): the longest section
    name that prefixes the variable, since section names may contain ``_`` too."""
    sections = sorted((f.name for f in dataclasses.fields(root)), key=len, reverse=True)
    for section in sections:
        if name.startswith(section + "_"):
            return section, name[len(section) + 1:]
    return "", ""


def load_config(path: str | os.PathLike | None = None, environ: dict[str, str] | None = None) -> Config:
    """Build the configuration: defaults, then the TOML file, then the environment."""
    environ = dict(os.environ if environ is None else environ)
    config = Config()
    path = path or environ.get("NEPHOSCOPE_CONFIG")
    environ.pop("NEPHOSCOPE_CONFIG", None)
    load_sections(config, path, environ, "NEPHOSCOPE_", _SHORTCUTS, file_only=("policies",))
    _check(config)
    return config


def _check(config: Config) -> None:
    if not 0 < config.server.port < 65536:
        raise ConfigError(f"[server] port: {config.server.port} is not a TCP port (1 to 65535)")
    if config.store.raw_window % 3600 or config.store.raw_window <= 0 or 86_400 % config.store.raw_window:
        raise ConfigError("[store] raw_window: must be a whole number of hours that divides a day (in seconds)")
    if not config.store.policies:
        raise ConfigError("[store] policies: at least one archive policy is needed (pattern '*')")
    if config.store.materialize_rollups not in MATERIALIZE_ROLLUPS:
        raise ConfigError(f"[store] materialize_rollups: {config.store.materialize_rollups!r} is not one of "
                          f"{', '.join(MATERIALIZE_ROLLUPS)}")
    if 0 not in config.notify.valid_periods:
        config.notify.valid_periods = (0, *config.notify.valid_periods)  # "once per transition" is always valid
    config.notify.types = tuple(t.upper() for t in config.notify.types)
    if config.audit.refusal_keys_per_minute < 1:
        raise ConfigError("[audit] refusal_keys_per_minute: at least 1 (refusals beyond it are counted, not itemized)")
    if config.prometheus.lookback_delta <= 0 or config.prometheus.subquery_step <= 0:
        raise ConfigError("[prometheus] lookback_delta and subquery_step: must be positive seconds")
    for index, policy in enumerate(config.store.policies):
        if policy.raw <= 0:
            raise ConfigError(f"[store] policies[{index}].raw: raw data must be kept for some time")
    strategies = ("UnderscoreEscapingWithSuffixes", "UnderscoreEscapingWithoutSuffixes", "NoUTF8EscapingWithSuffixes",
                  "NoTranslation")
    if config.prometheus.otlp_translation_strategy not in strategies:
        raise ConfigError(f"[prometheus] otlp_translation_strategy: {config.prometheus.otlp_translation_strategy!r} "
                          f"is not one of {', '.join(strategies)}")
    if not config.prometheus.project_label:
        raise ConfigError("[prometheus] project_label: must name a label")
    _check_cluster(config.cluster)
    check_roles(config)
    _check_auth(config)


def _check_cluster(cluster: ClusterSettings) -> None:
    if cluster.partitions < 1:
        raise ConfigError("[cluster] partitions: at least 1")
    if cluster.replicas not in (1, 3, 5):
        raise ConfigError("[cluster] replicas: 1, 3 or 5 (a JetStream stream's replicas form a Raft group)")
    if cluster.lease_seconds <= 0 or cluster.flush_interval <= 0:
        raise ConfigError("[cluster] lease_seconds and flush_interval: must be positive seconds")
    bad = [server for server in cluster.servers if not server.startswith(("nats://", "tls://"))]
    if bad:
        raise ConfigError(f"[cluster] servers: {bad[0]!r} is not a nats:// or tls:// URL")
    if cluster.sql_url:
        _check_sql_url(cluster.sql_url)


_SQL_DRIVERS = {"postgresql": ("psycopg", "postgresql+psycopg://"), "mysql": ("pymysql", "mysql+pymysql://")}


def _check_sql_url(url: str) -> None:
    """A metadata database URL SQLAlchemy can open with a driver that is installed."""
    import importlib.util

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("[cluster] sql_url: not a database URL such as postgresql+psycopg://user:password@host/db"
                          " or mysql+pymysql://user:password@host/db") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend not in _SQL_DRIVERS and backend != "sqlite":
        raise ConfigError(f"[cluster] sql_url: {backend!r} is not PostgreSQL, MariaDB/MySQL or SQLite")
    if backend in _SQL_DRIVERS:
        module, example = _SQL_DRIVERS[backend]
        if driver != module or importlib.util.find_spec(module) is None:
            raise ConfigError(f"[cluster] sql_url: use the {module} driver ({example}…, "
                              "pip install 'nephoscope[cluster]')")


def check_roles(config: Config) -> None:
    """``[server] roles`` names known roles, and a split of the work has a cluster to work on."""
    try:
        roles = parse_roles(config.server.roles)
    except ValueError as error:
        raise ConfigError(f"[server] roles: {error}") from None
    if not is_all(roles) and not config.cluster.enabled:
        raise ConfigError(f"[server] roles: {config.server.roles!r} splits the work over nodes, which needs a "
                          "cluster: set [cluster] servers (NEPHOSCOPE_CLUSTER_SERVERS)")


def _check_auth(config: Config) -> None:
    if config.auth.strategy not in AUTH_STRATEGIES:
        raise ConfigError(f"[auth] strategy: {config.auth.strategy!r} is not one of {', '.join(AUTH_STRATEGIES)}")
    if config.auth.policy_file and not Path(config.auth.policy_file).expanduser().is_file():
        raise ConfigError(f"[auth] policy_file: {config.auth.policy_file} does not exist")
    security = config.security
    for key in ("default_authorized_roles", "agent_authorized_roles", "read_only_authorized_roles",
                "delegate_authorized_roles", "admin_roles"):
        roles = getattr(security, key)
        bad = [role for role in roles if not role or role != role.strip() or any(c in role for c in "():'\" ")]
        if bad:
            raise ConfigError(f"[security] {key}: {bad[0]!r} is not a role name")
    if not security.admin_roles:
        raise ConfigError("[security] admin_roles: at least one role must be allowed everything")
    if config.auth.strategy != "keystone":
        return
    keystone = config.keystone_authtoken
    if keystone.auth_type != "password":
        raise ConfigError(f"[keystone_authtoken] auth_type: only 'password' is supported, not {keystone.auth_type!r}")
    for key in ("auth_url", "username", "password", "project_name"):
        if not getattr(keystone, key):
            raise ConfigError(f"[keystone_authtoken] {key}: needed when [auth] strategy = \"keystone\"")
    for key in ("auth_url", "www_authenticate_uri"):
        url = getattr(keystone, key)
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"[keystone_authtoken] {key}: {url!r} is not an http(s) URL")
    if keystone.token_cache_time < 0:
        raise ConfigError("[keystone_authtoken] token_cache_time: must be 0 (no cache) or more seconds")
    if keystone.token_cache_size < 1:
        raise ConfigError("[keystone_authtoken] token_cache_size: must be at least 1")
    if keystone.http_connect_timeout <= 0:
        raise ConfigError("[keystone_authtoken] http_connect_timeout: must be more than 0 seconds")
    for server in keystone.memcached_servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"[keystone_authtoken] memcached_servers: {server!r} is not host:port")
