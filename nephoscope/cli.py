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
from rich.markup import escape
from rich.table import Table

from nephoscope.config import ConfigError, load_config

app = typer.Typer(
    help="Nephoscope: monitoring, logging and alarming for large OpenStack clouds (Monasca-compatible).\n\n"
         "Start with `nephoscope serve --demo` and open the URL it prints.",
    no_args_is_help=True, rich_markup_mode="markdown", add_completion=False)
keys_app = typer.Typer(help="Manage API keys (tokens bound to one project and a set of roles).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
policy_app = typer.Typer(help="The access policy: oslo.policy rules with their defaults (docs/keystone.md).",
                         no_args_is_help=True)
app.add_typer(policy_app, name="policy")
from nephoscope.logs.cli.command import logs_app  # noqa: E402 - beside the other sub-apps
from nephoscope.logs.cli.trace_command import trace_command  # noqa: E402

app.add_typer(logs_app, name="logs")
app.command("trace")(trace_command)
console = Console(soft_wrap=True)  # URLs and tokens must stay whole for copy and paste
error_console = Console(stderr=True, soft_wrap=True)  # one-line errors, whatever the width


def _config(config_file: Optional[Path], data_dir: Optional[Path], host: Optional[str] = None,
            port: Optional[int] = None):  # noqa: ANN202
    try:
        config = load_config(config_file)
    except ConfigError as error:
        error_console.print(f"[red]configuration error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    if data_dir is not None:
        config.server.data_dir = str(data_dir)
    if host is not None:
        config.server.host = host
    if port is not None:
        config.server.port = port
    return config


ConfigOption = typer.Option(None, "--config", "-c", help="TOML configuration file (also NEPHOSCOPE_CONFIG). "
                            "Any setting can be overridden by environment variables named NEPHOSCOPE_SECTION_KEY, e.g. NEPHOSCOPE_SERVER_PORT.")
DataDirOption = typer.Option(None, "--data-dir", "-d", help="Where the store, WAL and keys live "
                             "(default ./var/nephoscope, or NEPHOSCOPE_DATA_DIR).")


@app.command()
def serve(
    config_file: Optional[Path] = ConfigOption,
    host: Optional[str] = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", "-p", help="TCP port (default 8070, Monasca's)."),
    data_dir: Optional[Path] = DataDirOption,
    demo: bool = typer.Option(False, "--demo", help="Also run a simulated cloud (20 hypervisors x 10 instances) "
                              "that pushes live metrics through the HTTP API."),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run the server: Monasca v2.0 API under /v2.0, native API under /v1, docs at /docs.

    One process holds everything (API, write-ahead log, DuckDB store, compaction).
    Ready when GET /healthz answers 200.
    """
    import uvicorn

    from nephoscope.api.app import create_app
    from nephoscope.auth.keys import KeyStore
    from nephoscope.logsetup import setup_logging

    config = _config(config_file, data_dir, host, port)
    if demo:
        config.demo.enabled = True
    _check_policy_file(config)
    setup_logging(log_level.upper())
    keys = KeyStore(config.data_path, config.security.all_roles())
    admin_token = config.auth.admin_token
    created_token = None
    if not admin_token and not any("admin" in k.roles for k in keys.list()):
        _, created_token = keys.create("admin", ["admin"], "first admin key, created at first start")
    demo_token = None
    if config.demo.enabled:
        _, demo_token = keys.create("admin", ["admin", "monasca-delegate"], "demo cloud pusher")
    base = f"http://{config.server.host}:{config.server.port}"
    console.print(f"[bold]Nephoscope[/bold] starting on {base} (data in {config.data_path})")
    console.print(f"  Monasca endpoint: {base}/v2.0    API docs: {base}/docs    dashboard: {base}/ui/")
    shown_token = created_token or (admin_token if config.demo.enabled else None)
    if created_token:
        console.print("  [yellow]First admin key created; it is shown only this once:[/yellow]")
    if shown_token:
        console.print(f"  admin token: {shown_token}")
    if config.demo.enabled:
        console.print(f"  Demo cloud: {config.demo.hypervisors} hypervisors x {config.demo.instances_per_hypervisor} "
                      f"instances pushing every {config.demo.interval:g} s.")
    if config.auth.strategy == "keystone":
        console.print(f"  Keystone tokens validated with {config.keystone_authtoken.auth_url} "
                      f"(service user {config.keystone_authtoken.username}); API keys work too.")
    console.print(f"  Try: monasca --os-auth-type admin_token --os-token {shown_token or 'TOKEN'} "
                  f"--os-endpoint {base}/v2.0 metric-list")
    application = create_app(config, demo_token)
    uvicorn.run(application, host=config.server.host, port=config.server.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=30, loop="uvloop" if _has("uvloop") else "asyncio",
                http="httptools" if _has("httptools") else "h11")


def _check_policy_file(config) -> None:  # noqa: ANN001 - a Config
    if not config.auth.policy_file:
        return
    from nephoscope.auth.policy import PolicyFileError, check_policy_file

    try:
        check_policy_file(config.auth.policy_file)
    except PolicyFileError as error:
        error_console.print(f"[red]configuration error:[/red] {escape('[auth].policy_file')}: {escape(str(error))}")
        raise typer.Exit(2) from None


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@keys_app.command("create")
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

    Works while the server runs on the same data dir: the server honours it at once.
    """
    from nephoscope.auth.keys import KeyError_, KeyStore

    config = _config(config_file, data_dir)
    try:
        record, token = KeyStore(config.data_path, config.security.all_roles()).create(project, role, description)
    except KeyError_ as error:
        error_console.print(f"[red]cannot create the key:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    print(f"created key {record.id} for project {record.project} with roles {', '.join(record.roles)}")
    print(token)


@keys_app.command("list")
def keys_list(
    include_revoked: bool = typer.Option(False, "--all", help="Also show revoked keys."),
    config_file: Optional[Path] = ConfigOption,
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """List keys (ids, projects, roles; never tokens)."""
    from datetime import datetime, timezone

    from nephoscope.auth.keys import KeyStore

    config = _config(config_file, data_dir)
    columns = ("id", "project", "roles", "created", "status", "description")
    rows = []
    for record in KeyStore(config.data_path).list(include_revoked):
        created = datetime.fromtimestamp(record.created_at, timezone.utc).strftime("%Y-%m-%d %H:%M")
        rows.append((record.id, record.project, ",".join(record.roles), created,
                     "active" if record.active else "revoked", record.description))
    if not console.is_terminal:
        # Piped or captured: tab-separated lines that scripts can cut, never truncated.
        print("\t".join(columns))
        for row in rows:
            print("\t".join(row))
        return
    table = Table(title=f"API keys in {config.data_path}")
    for column in columns:
        table.add_column(column, no_wrap=column in ("id", "created"))
    for row in rows:
        table.add_row(*row[:4], row[4] if row[4] == "active" else f"[red]{row[4]}[/red]", row[5])
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="The key id (from `nephoscope keys list`)."),
    config_file: Optional[Path] = ConfigOption,
    data_dir: Optional[Path] = DataDirOption,
) -> None:
    """Revoke a key; a running server refuses it from the next request on."""
    from nephoscope.auth.keys import KeyStore

    config = _config(config_file, data_dir)
    if not KeyStore(config.data_path).revoke(key_id):
        error_console.print(f"[red]no active key with id {key_id}[/red]")
        raise typer.Exit(1)
    print(f"revoked key {key_id}")


@policy_app.command("sample")
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
        error_console.print(f"[red]cannot write {output}:[/red] {error.strerror or error}")
        raise typer.Exit(1) from None
    error_console.print(f"wrote {len(default_rules(config.security))} rules to {output}")


@app.command()
def agent(
    config_file: Optional[Path] = typer.Option(
        None, "--config", "-c", help="Agent TOML file (also NEPHOSCOPE_AGENT_CONFIG; sample: deploy/nephoscope-agent.toml). "
        "Any setting can be overridden by NEPHOSCOPE_AGENT_SECTION_KEY, e.g. NEPHOSCOPE_AGENT_PUSH_URL."),
    once: bool = typer.Option(False, "--once", help="Collect twice, one second apart, and stop (with --print: "
                              "show what would be sent; without: send it)."),
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
        error_console.print(f"[red]configuration error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
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
    table = Table(title=f"{len(summaries)} series — one window each (count, min, avg, max, last)")
    for column in ("name", "dimensions", "count", "min", "avg", "max", "last"):
        table.add_column(column, justify="right" if column not in ("name", "dimensions") else "left",
                         overflow="fold")
    for summary in sorted(summaries, key=lambda s: (s.name, sorted(s.dimensions.items()))):
        dimensions = ", ".join(f"{k}={v}" for k, v in sorted(summary.dimensions.items()) if k != "hostname")
        table.add_row(summary.name, dimensions, str(summary.count), f"{summary.min:.6g}",
                      f"{summary.average:.6g}", f"{summary.max:.6g}", f"{summary.last:.6g}")
    console.print(table)
    encoding = f", {batch.content_encoding}" if batch.content_encoding else ""
    console.print(f"would POST {batch.path} ({batch.content_type}{encoding}): {len(batch.body):,} bytes, "
                  f"{len(batch.body) / max(1, len(summaries)):.1f} bytes per point")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
