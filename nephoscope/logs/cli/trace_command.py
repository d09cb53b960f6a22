"""``nephoscope trace REQ``: one request's timeline across services, from a running server's API
or, with ``--file``, from log files read here. Registered by ``nephoscope.cli``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

console = Console(soft_wrap=False)
_LEVEL_STYLES = {"ERROR": "bold red", "CRITICAL": "bold red", "WARNING": "yellow", "DEBUG": "dim"}


def _default_token() -> str | None:
    token = os.environ.get("NEPHOSCOPE_TOKEN")
    if token:
        return token
    path = Path("var/admin-token")  # what `make run` leaves
    return path.read_text().strip() if path.exists() else None


def _from_files(files: list[Path], request_id: str) -> dict:
    import pyarrow as pa

    from nephoscope.logs.cli.report import file_batches
    from nephoscope.logs.processing.pipeline import LogPipeline
    from nephoscope.logs.processing.sources import Source
    from nephoscope.logs.processing.traces import in_memory, to_document, trace

    pipeline = LogPipeline()
    tables = [pipeline.process(batch, Source(path=str(path))) for path in files for batch in file_batches(path)]
    return to_document(trace(in_memory(pa.concat_tables(tables)), request_id))


def _from_server(url: str, token: str | None, tenant: str | None, request_id: str) -> dict:
    from urllib.parse import quote

    from nephoscope.terminal import api_get

    return api_get(url, token, f"/v1/traces/{quote(request_id, safe='')}", {"tenant_id": tenant} if tenant else None)


def show(document: dict) -> None:
    from nephoscope.terminal import table

    steps = document.get("steps", [])
    if not steps:
        console.print(f"no log line of request {document.get('request_id')} found")
        return
    failed = document.get("failed_at")
    console.print(f"[bold]{document['request_id']}[/bold]: {len(steps)} lines, {len(document['request_ids'])} request "
                  f"ids, services {' -> '.join(document['services'])}, {document['duration_ms'] / 1000:.3f} s",
                  soft_wrap=True)
    if len(document["request_ids"]) > 1:
        console.print("  ids: " + ", ".join(document["request_ids"]), soft_wrap=True)
    # Where a line was written (component over host) and what it says (level, message, exception) are
    # one column each, so the message keeps most of an 80-column terminal.
    listing = table("+ms", "step", "where", "message", right=("+ms", "step"), whole=("+ms", "step"))
    for step in steps:
        is_failure = failed is not None and step["time_ms"] == failed["time_ms"] and step["message"] == failed["message"]
        message = Text.assemble((step["level"], _LEVEL_STYLES.get(step["level"], "")), " ", step["message"])
        if step.get("exception"):
            message.append("\n" + step["exception"], style="red")
        if is_failure:
            message.stylize("bold red")
        listing.add_row(f"{step['since_start_ms']:,}", f"{step['since_previous_ms']:,}",
                        f"{step.get('component') or step['service']}\n[dim]{step['host']}[/dim]", message)
    console.print(listing)
    if failed:
        console.print(f"[bold red]failed[/bold red] in {failed['service']} on {failed['host']} at {failed['time']}: "
                      f"{failed['message']}" + (f" ({failed['exception']})" if failed.get("exception") else ""))
    else:
        console.print("[green]no error on the way[/green]")


def trace_command(
    request_id: Annotated[str, typer.Argument(help="Any request id of the chain (req-…): nova's, glance's, "
                                                   "neutron's, cinder's, or the global one.")],
    files: Annotated[list[Path] | None, typer.Option(
        "--file", "-f", exists=True, dir_okay=False,
        help="Read these log files here instead of asking a server (repeat for several services' files).")] = None,
    url: Annotated[str, typer.Option("--url", envvar="NEPHOSCOPE_URL", help="The server.")]
    = "http://127.0.0.1:8070",
    token: Annotated[str | None, typer.Option("--token", envvar="NEPHOSCOPE_TOKEN",
                                              help="An API key (default: var/admin-token, as `make run` leaves it).")]
    = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this project's lines (an admin's token "
                                                               "reads every project without it).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the trace as JSON.")] = False,
) -> None:
    """Follow one request across services: every log line of its chain of request ids (global
    request ids, nova's RPC context, keystoneauth's "used request id" lines) in time order, with
    the time between steps and where it failed.

    Examples:

        nephoscope trace req-3f2a…

        nephoscope trace req-3f2a… --url http://monitor:8070 --token $TOKEN

        nephoscope trace req-3f2a… -f nova-api.log -f nova-compute.log -f glance-api.log

    The first asks the local server (`make run` leaves its admin token in var/admin-token).
    """
    document = _from_files(files, request_id) if files else _from_server(url, token or _default_token(), tenant,
                                                                          request_id)
    if as_json:
        import orjson

        typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    show(document)
