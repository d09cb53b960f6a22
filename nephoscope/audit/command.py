"""The ``nephoscope audit`` commands (registered by ``nephoscope.cli``): ``verify`` recomputes the
hash chain and names what was altered, removed or inserted; ``list`` shows the latest records.

Both read ``audit.sqlite`` read-only, so they run beside the server on the same data dir.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

audit_app = typer.Typer(
    help="The audit trail: every change, every notification sent and every refused request, chained by SHA-256.",
    no_args_is_help=True, rich_markup_mode="markdown")

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", "-d", help="The server's data dir (default: the configuration's, ./var/nephoscope or "
                             "NEPHOSCOPE_DATA_DIR).")]
ConfigFile = Annotated[Path | None, typer.Option(
    "--config", "-c", help="TOML configuration file (also NEPHOSCOPE_CONFIG), for its data dir.")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    print(message, file=sys.stderr)
    return typer.Exit(code)


def _reason(error: SQLAlchemyError) -> str:
    """The driver's own words, on one line (SQLAlchemy appends a statement and a link)."""
    return str(getattr(error, "orig", None) or error).splitlines()[0]


def _storage(data_dir: Path | None, config_file: Path | None):  # noqa: ANN202 - SqliteAuditStorage
    from nephoscope.audit.store import AuditFileMissing, SqliteAuditStorage
    from nephoscope.config import ConfigError, load_config

    from nephoscope.sql import bind

    try:
        config = load_config(config_file)
    except ConfigError as error:
        if data_dir is None or config_file is not None:
            raise _fail(f"configuration error: {error}", 2) from None
    else:
        data_dir = data_dir or config.data_path
        bind(data_dir, config.cluster.sql_url)  # [cluster] sql_url: the cluster's database holds the trail
    try:
        return SqliteAuditStorage(data_dir, read_only=True)
    except AuditFileMissing as error:
        raise _fail(str(error)) from None
    except SQLAlchemyError as error:
        raise _fail(f"cannot open the audit trail in {data_dir}: {_reason(error)}") from None


@audit_app.command("verify")
def verify_command(data_dir: DataDir = None, config_file: ConfigFile = None) -> None:
    """Recompute every record's SHA-256 and follow the chain from the first record to the head.

    Prints one line per finding — a record **altered** (its content or indexed fields changed, or
    replaced with a re-computed hash), **removed** (a gap, or missing at the end), or **inserted**
    (one the next record skips, or past the head) — first problem first, and exits 1; prints
    `intact: N records, head …` and exits 0 when nothing was touched.

    The head (last number and hash) is kept in the same file: note it elsewhere now and then
    (it is printed here) to also detect a wholesale rewrite of the file.

        nephoscope audit verify --data-dir /var/lib/nephoscope
    """
    storage = _storage(data_dir, config_file)
    from nephoscope.audit.verify import verify

    try:
        report = verify(storage.scan(), storage.head())
    except SQLAlchemyError as error:
        raise _fail(f"cannot read the audit trail in {storage.path}: {_reason(error)}") from None
    finally:
        storage.close()
    if report.intact:
        head = report.head
        print(f"intact: {report.records} records" + (f", head {head[0]} sha256:{head[1]}" if head else ""))
        return
    for finding in report.findings:
        print(finding.message)
    raise _fail(f"the audit trail in {storage.path} is NOT intact: {len(report.findings)} finding(s) in "
                f"{report.records} records")


@audit_app.command("list")
def list_command(
    data_dir: DataDir = None, config_file: ConfigFile = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10_000, help="How many records.")] = 20,
    initiator: Annotated[str | None, typer.Option(help="Only this initiator (its id, name, project or address).")]
    = None,
    action: Annotated[str | None, typer.Option(help="Only this action (create, update, delete, notify, read, ...; "
                                                    "a prefix with *).")] = None,
    outcome: Annotated[str | None, typer.Option(help="Only success, failure or denied.")] = None,
    target: Annotated[str | None, typer.Option(help="Only this target (its id, or type: alarm-definition, "
                                                    "notification-method, alarm, api-key, api).")] = None,
) -> None:
    """The latest records of Nephoscope's own chain, newest first (OpenStack's notifications are in
    the API's view, `GET /v1/audit`). Tab-separated when piped.

        nephoscope audit list --outcome denied -n 50
    """
    from rich.console import Console
    from rich.table import Table

    from nephoscope.audit.cadf import OUTCOMES, initiator_of, outcome_of, target_of
    from nephoscope.audit.store import RecordFilter
    from nephoscope.tenancy import ALL_TENANTS

    if outcome is not None and outcome not in OUTCOMES:
        raise _fail(f"--outcome must be one of {', '.join(OUTCOMES)}", 2)
    storage = _storage(data_dir, config_file)
    try:
        found = storage.query(ALL_TENANTS, RecordFilter(initiator=initiator, action=action, outcome=outcome,
                                                         target=target), None, limit)
    except SQLAlchemyError as error:
        raise _fail(f"cannot read the audit trail in {storage.path}: {_reason(error)}") from None
    finally:
        storage.close()
    columns = ("seq", "time (UTC)", "outcome", "action", "target", "initiator", "n")
    rows = []
    for stored in found:
        event = stored.record["event"]
        who, what = initiator_of(event), target_of(event)
        when = datetime.fromtimestamp(stored.record["time_ms"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        rows.append((str(stored.seq), when, outcome_of(event), str(event.get("action", "")),
                     f"{what['type'].rpartition('/')[2]} {what['id']}",
                     who["id"] + (f"@{who['address']}" if who["address"] else ""), str(stored.record.get("count", 1))))
    console = Console()
    if not console.is_terminal:
        print("\t".join(columns))
        for row in rows:
            print("\t".join(row))
        return
    table = Table(title=f"Audit trail in {storage.path}", expand=False)
    for column in columns:
        table.add_column(column, no_wrap=column in ("seq", "time (UTC)", "outcome"), overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)
