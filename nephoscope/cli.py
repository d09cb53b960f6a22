"""The ``nephoscope`` command: run the server or the edge agent, manage API keys.

Run ``nephoscope --help`` or ``nephoscope COMMAND --help``: every option explains itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from nephoscope import __version__
from nephoscope.config import ConfigError, load_config
from nephoscope.terminal import Command, Group, fail, table

app = typer.Typer(
    cls=Group,
    help="Nephoscope: monitoring, logging and alarming for large OpenStack clouds (Monasca-compatible).\n\n"
         "Start with `nephoscope serve --demo` and open the URL it prints.",
    no_args_is_help=True, rich_markup_mode="markdown", add_completion=False)
keys_app = typer.Typer(cls=Group, help="Manage API keys (tokens bound to one project and a set of roles).",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")
from nephoscope.audit.command import audit_app  # noqa: E402
policy_app = typer.Typer(cls=Group, help="The access policy: oslo.policy rules with their defaults (docs/keystone.md).",
                         no_args_is_help=True)
app.add_typer(policy_app, name="policy")
from nephoscope.logs.cli.command import logs_app  # noqa: E402 - beside the other sub-apps
from nephoscope.logs.cli.trace_command import trace_command  # noqa: E402

app.add_typer(logs_app, name="logs")
app.command("trace", cls=Command)(trace_command)
app.add_typer(audit_app, name="audit")
console = Console(soft_wrap=True)  # URLs and tokens must stay whole for copy and paste
error_console = Console(stderr=True, soft_wrap=True)


def _version(show: bool) -> None:
    if show:
        print(f"nephoscope {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Nephoscope: monitoring, logging and alarming for large OpenStack clouds (Monasca-compatible).

    Start with `nephoscope serve --demo` and open the URL it prints.
    """


def _config(config_file: Optional[Path], data_dir: Optional[Path], host: Optional[str] = None,
            port: Optional[int] = None):  # noqa: ANN202
    try:
        config = load_config(config_file)
    except ConfigError as error:
        fail(f"configuration error: {error}", 2)
    if data_dir is not None:
        config.server.data_dir = str(data_dir)
    if host is not None:
        config.server.host = host
    if port is not None:
        config.server.port = port
    from nephoscope.sql import bind

    bind(config.data_path, config.cluster.sql_url)  # keys and audit commands: the cluster's database
    return config


ConfigOption = typer.Option(None, "--config", "-c", help="TOML configuration file (also NEPHOSCOPE_CONFIG). "
                            "Any setting can be overridden by environment variables named NEPHOSCOPE_SECTION_KEY, e.g. NEPHOSCOPE_SERVER_PORT.")
DataDirOption = typer.Option(None, "--data-dir", "-d", help="Where the store, WAL and keys live "
                             "(default ./var/nephoscope, or NEPHOSCOPE_DATA_DIR).")


@app.command(cls=Command)
def serve(
    config_file: Optional[Path] = ConfigOption,
    host: Optional[str] = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", "-p", help="TCP port (default 8070, Monasca's)."),
    data_dir: Optional[Path] = DataDirOption,
    demo: bool = typer.Option(False, "--demo", help="Also run a simulated cloud (20 hypervisors x 10 instances) "
                              "that sends its metrics, its services' log lines and their notifications through "
                              "the HTTP API; restarted, it goes on from the history it wrote."),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
    role: Optional[str] = typer.Option(None, "--role", help="What this node runs: all (the default: one process, "
                                       "everything), or a comma-separated combination of api, ingester, querier, "
                                       "evaluator, notifier, consumer (a node of a cluster: needs [cluster] servers)."),
) -> None:
    """Run the server: Monasca v2.0 API under /v2.0, native API under /v1, docs at /docs.

    By default one process holds everything (API, write-ahead log, DuckDB store, compaction); with
    [cluster] servers and --role, this node's share of a cluster. Ready when GET /healthz answers 200.
    """
    import uvicorn

    from nephoscope.api.app import create_app
    from nephoscope.auth.keys import KeyStore
    from nephoscope.logsetup import setup_logging

    config = _config(config_file, data_dir, host, port)
    if role is not None:
        _set_roles(config, role)
    if demo:
        config.demo.enabled = True
    _check_policy_file(config)
    setup_logging(log_level.upper())
    keys = KeyStore(config.data_path, config.security.all_roles())
    admin_token = config.auth.admin_token
    created_token = None
    if not admin_token and not any("admin" in k.roles for k in keys.list()):
        record, created_token = keys.create("admin", ["admin"], "first admin key, created at first start")
        _audit_key(config, record, created=True)
    demo_token = _demo_token(config, keys) if config.demo.enabled else None
    base = f"http://{config.server.host}:{config.server.port}"
    console.print(f"[bold]Nephoscope[/bold] starting on {base} (data in {config.data_path})")
    console.print(f"  Monasca endpoint: {base}/v2.0    API docs: {base}/docs    dashboard: {base}/ui/")
    shown_token = created_token or (admin_token if config.demo.enabled else None)
    if created_token:
        console.print("  [yellow]First admin key created; it is shown only this once:[/yellow]")
    if shown_token:
        console.print(f"  admin token: {shown_token}")
    if config.demo.enabled:
        sends = "metrics, log lines and notifications" if config.demo.logs_and_events else "metrics"
        console.print(f"  Demo cloud: {config.demo.hypervisors} hypervisors x {config.demo.instances_per_hypervisor} "
                      f"instances sending {sends} every {config.demo.interval:g} s.")
    if config.auth.strategy == "keystone":
        console.print(f"  Keystone tokens validated with {config.keystone_authtoken.auth_url} "
                      f"(service user {config.keystone_authtoken.username}); API keys work too.")
    console.print(f"  Try: monasca --os-auth-type admin_token --os-token {shown_token or 'TOKEN'} "
                  f"--os-endpoint {base}/v2.0 metric-list")
    application = create_app(config, demo_token)
    uvicorn.run(application, host=config.server.host, port=config.server.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=30, loop="uvloop" if _has("uvloop") else "asyncio",
                http="httptools" if _has("httptools") else "h11")


def _set_roles(config, text: str) -> None:  # noqa: ANN001 - Config
    from nephoscope.config import check_roles

    config.server.roles = text
    try:
        check_roles(config)
    except ConfigError as error:
        fail(f"--role: {error}", 2)


def _audit_key(config, record, created: bool) -> bool:  # noqa: ANN001 - Config, KeyRecord
    """Keys made or revoked here are changes too: into the audit trail, as this OS user on this host.
    False (and a line on stderr) when the trail could not be written."""
    import getpass
    import socket

    from nephoscope.audit import API_KEY, REVOKE, SUCCESS, AuditTrail, Entry, Initiator, Target

    try:
        trail = AuditTrail.open(config.data_path, config.audit)
    except Exception as error:  # noqa: BLE001 - one line, not a traceback
        error_console.print(f"[red]the audit trail could not be written:[/red] {error}")
        return False
    try:
        trail.record(Entry(
            action="create" if created else REVOKE, outcome=SUCCESS, project=record.project,
            initiator=Initiator(f"os-user:{getpass.getuser()}", name="nephoscope command line",
                                address=socket.gethostname(), agent="nephoscope-cli"),
            target=Target(API_KEY, record.id, record.description),
            details={"project": record.project, "roles": list(record.roles), "description": record.description},
            name="create API key" if created else "revoke API key"))
    except Exception as error:  # noqa: BLE001 - one line, not a traceback
        error_console.print(f"[red]the audit trail could not be written:[/red] {error}")
        return False
    finally:
        trail.close()
    return True


def _demo_token(config, keys) -> str:  # noqa: ANN001 - Config, KeyStore
    """What the demo cloud pushes with: the configured admin token when there is one (``make run``
    sets it), else a key of its own — created once, its token kept beside the keys (``demo-token``,
    readable by the server's user only), so restarting the demo adds no key."""
    if config.auth.admin_token:
        return config.auth.admin_token
    path = config.data_path / "demo-token"
    if path.exists():
        token = path.read_text().strip()
        if keys.lookup(token) is not None:
            return token
    record, token = keys.create("admin", ["monasca-user", "monasca-delegate"],
                                "the demo cloud's pusher (token in the data dir's demo-token)")
    _audit_key(config, record, created=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token


def _check_policy_file(config) -> None:  # noqa: ANN001 - a Config
    if not config.auth.policy_file:
        return
    from nephoscope.auth.policy import PolicyFileError, check_policy_file

    try:
        check_policy_file(config.auth.policy_file)
    except PolicyFileError as error:
        fail(f"configuration error: [auth] policy_file: {error}", 2)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@keys_app.command("create", cls=Command)
def keys_create(
    project: str = typer.Option(..., "--project", "-P", help="The project (tenant) id the key acts for."),
    role: list[str] = typer.Option(..., "--role", "-r", help="A role; repeat for several. One of: admin, "
                                   "monasca-user, monasca-agent (write only), monasca-read-only-user, "
                                   "monasca-delegate (may post for other projects with tenant_id), or any "
                                   "role named in the [security] section."),
    description: str = typer.Option("", "--description", help="What the key is for."),
    config_file: Optional[Path] = ConfigOption,
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Create a key; prints its id and, alone on the last line, the token (shown only once).

    Works while the server runs on the same data dir: the server honours it at once. The key's
    creation goes to the audit trail (as this OS user on this host); exit 1 if it could not.
    """
    from nephoscope.auth.keys import KeyError_, KeyStore

    config = _config(config_file, data_dir)
    try:
        record, token = KeyStore(config.data_path, config.security.all_roles()).create(project, role, description)
    except KeyError_ as error:
        fail(f"cannot create the key: {error}", 2)
    audited = _audit_key(config, record, created=True)
    print(f"created key {record.id} for project {record.project} with roles {', '.join(record.roles)}")
    print(token)
    if not audited:
        raise typer.Exit(1)


@keys_app.command("list", cls=Command)
def keys_list(
    include_revoked: bool = typer.Option(False, "--all", help="Also show revoked keys."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document (for scripts) instead of the table."),
    config_file: Optional[Path] = ConfigOption,
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """List keys: ids (to revoke), projects, roles, when created; never tokens."""
    from datetime import datetime, timezone

    from nephoscope.auth.keys import KeyStore

    config = _config(config_file, data_dir)
    records = KeyStore(config.data_path).list(include_revoked)
    if as_json:
        import orjson

        print(orjson.dumps([{"id": r.id, "project": r.project, "roles": list(r.roles), "description": r.description,
                             "created_at": r.created_at, "revoked_at": r.revoked_at} for r in records],
                           option=orjson.OPT_INDENT_2).decode())
        return
    if not records:
        console.print(f"no {'' if include_revoked else 'active '}API key in {config.data_path}")
        return
    # An id is copied whole; a project and its roles one a line; the description wraps between words.
    # the key (12), the date (10), at least 12 of description and the gaps (6) take 40 columns
    project = min(max(len("project / roles"), *(len(text) for r in records
                                                for text in (r.project, *(f"  {role}" for role in r.roles)))),
                  max(24, console.width - 40))
    described = max(12, console.width - 12 - project - 10 - 3 * 2)  # what is left of the terminal's width
    listing = table("key", "project / roles", "created", "description", whole=("key",),
                    widths={"created": (10, 10), "project / roles": (project, project),
                            "description": (described, described)},
                    title=f"{len(records)} API key{'s' * (len(records) != 1)} in {config.data_path}")
    for record in records:
        created = datetime.fromtimestamp(record.created_at, timezone.utc)
        state = "active" if record.active else "[red]revoked[/red]"
        listing.add_row(f"{record.id}\n{state}", "\n".join((record.project, *(f"  {role}" for role in record.roles))),
                        created.strftime("%Y-%m-%d\n%H:%M UTC"), record.description)
    console.print(listing, soft_wrap=False)


@keys_app.command("revoke", cls=Command)
def keys_revoke(
    key_id: str = typer.Argument(..., help="The key id (from `nephoscope keys list`)."),
    config_file: Optional[Path] = ConfigOption,
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Revoke a key; a running server refuses it from the next request on. Recorded in the audit trail."""
    from nephoscope.auth.keys import KeyStore

    config = _config(config_file, data_dir)
    keys = KeyStore(config.data_path)
    if not keys.revoke(key_id):
        fail(f"no active key with id {key_id} (`nephoscope keys list` shows them)")
    audited = _audit_key(config, keys.get(key_id), created=False)
    print(f"revoked key {key_id}")
    if not audited:
        raise typer.Exit(1)


@policy_app.command("sample", cls=Command)
def policy_sample(
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of the "
                                          "standard output."),
    config_file: Optional[Path] = ConfigOption,
) -> None:
    """Write every policy rule with its documented default, commented out (oslo.policy's YAML format).

    The defaults are built from the [security] role lists of the configuration. Uncomment and change
    the rules you want to override, then point `[auth] policy_file` at the file; the server re-reads
    it when it changes. A refused request answers 403 naming its rule.
    """
    from nephoscope.auth.policy import sample
    from nephoscope.auth.rules import default_rules

    config = _config(config_file, None)
    text = sample(config.security)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror or error}")
    error_console.print(f"wrote {len(default_rules(config.security))} rules to {output}")


@app.command(cls=Command)
def agent(
    config_file: Optional[Path] = typer.Option(
        None, "--config", "-c", help="Agent TOML file (also NEPHOSCOPE_AGENT_CONFIG; sample: deploy/nephoscope-agent.toml). "
        "Any setting can be overridden by NEPHOSCOPE_AGENT_SECTION_KEY, e.g. NEPHOSCOPE_AGENT_PUSH_URL."),
    once: bool = typer.Option(False, "--once", help="Take a baseline, collect twice a second apart, and stop "
                              "(with --print: show what would be sent; without: send it)."),
    print_only: bool = typer.Option(False, "--print", help="Print the summary points instead of sending them."),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run the edge agent: collect on this host, summarise per window, push to Nephoscope or Monasca.

    Every `interval` (10 s) it samples the host (psutil), instances (libvirt, when libvirt-python
    imports), HTTP endpoints and processes; every `window` (60 s) one summary point per series
    (count, sum, min, max, last) goes to the spool on disk and from there to the server — kept
    until acknowledged, resent in order after an outage, the oldest dropped (and counted) only
    when the spool is full. Log files listed under [logs] are tailed and shipped too.

    Try `nephoscope agent --once --print` to see what this host would send.
    """
    from nephoscope.agent.config import load_agent_config
    from nephoscope.agent.push import Outcome
    from nephoscope.agent.runner import Agent
    from nephoscope.logsetup import setup_logging

    setup_logging(log_level.upper())
    try:
        config = load_agent_config(config_file)
    except ConfigError as error:
        fail(f"configuration error: {error}", 2)
    if print_only or once:
        if print_only and config.agent.spool_dir == "/var/lib/nephoscope-agent" and not os.access(
                "/var/lib", os.W_OK):
            config.agent.spool_dir = str(Path.home() / ".nephoscope-agent")
        runner = Agent(config)
        summaries = runner.once()
        if print_only:
            _print_summaries(summaries, runner.encode(summaries))
            return
        answer = runner.sender.send(runner.encode(summaries))
        console.print(f"sent {len(summaries)} points to {config.push.url}: {answer.outcome.value} ({answer.detail})")
        raise typer.Exit(0 if answer.outcome is Outcome.SENT else 1)
    Agent(config).run_forever()


def _print_summaries(summaries: list, batch) -> None:  # noqa: ANN001
    numbers = ("count", "min", "avg", "max", "last")
    listing = table("series", *numbers, right=numbers, whole=numbers, widths={"series": (24, None)},
                    title=f"{len(summaries)} series, one window each")
    for summary in sorted(summaries, key=lambda s: (s.name, sorted(s.dimensions.items()))):
        dimensions = "".join(f"\n  {k}={v}" for k, v in sorted(summary.dimensions.items()) if k != "hostname")
        listing.add_row(summary.name + (f"[dim]{dimensions}[/dim]" if dimensions else ""), str(summary.count),
                        *(_compact(value) for value in (summary.min, summary.average, summary.max, summary.last)))
    console.print(listing, soft_wrap=False)
    encoding = f", {batch.content_encoding}" if batch.content_encoding else ""
    console.print(f"would POST {batch.path} ({batch.content_type}{encoding}): {len(batch.body):,} bytes, "
                  f"{len(batch.body) / max(1, len(summaries)):.1f} bytes per point")


def _compact(value: float) -> str:
    """At most nine characters: six significant digits when they fit (258020, 27139.6), else three
    (1.22e6, 0.00172)."""
    text = f"{value:.6g}"
    if len(text) > 9:
        text = f"{value:.3g}"
    return text.replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
