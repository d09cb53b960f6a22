"""The ``nephoscope logs`` commands (registered by ``nephoscope.cli``). Imports stay light:
the pipeline is loaded when a command runs, so ``nephoscope --help`` stays fast."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from nephoscope.terminal import Command, Group, fail

logs_app = typer.Typer(
    cls=Group,
    help="Logs offline: parse, template and classify OpenStack service logs (oslo.log text or JSON, "
         "WSGI/httpd access lines, syslog).",
    no_args_is_help=True, rich_markup_mode="markdown")


@logs_app.command("classify", cls=Command)
def classify(
    files: Annotated[list[Path], typer.Argument(
        exists=True, dir_okay=False, readable=True,
        help="Log files (plain or .gz). Each file's name gives the component (nova-compute.log -> nova-compute, "
             "service nova) unless --service is given.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON document instead of tables.")]
    = False,
    rules: Annotated[list[Path] | None, typer.Option(
        "--rules", "-r", exists=True, dir_okay=False,
        help="A rules file (YAML) applied before the shipped rules; repeat for several (earlier files win).")] = None,
    no_default_rules: Annotated[bool, typer.Option(
        "--no-default-rules", help="Use only the --rules files, not the rules shipped with Nephoscope.")] = False,
    templates: Annotated[Path | None, typer.Option(
        "--templates", "-t", help="Template state (JSON): loaded first when it exists, saved after, so ids stay the "
                                  "same from run to run and 'new' means new since the last run.")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Service of every line (nova, neutron, ...).")]
    = None,
    host: Annotated[str | None, typer.Option("--host", help="Host the files come from.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region the files come from.")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many templates to list per table.")] = 10,
    errors: Annotated[int, typer.Option("--errors", min=0, help="How many true-error templates to list.")] = 20,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Threads processing batches.")] = 2,
) -> None:
    """Classify log lines offline: counts by service and category, true errors, new templates,
    top templates and the unparsed share.

    Every line becomes one normalized record (multi-line tracebacks merged into their record),
    gets a template (masked message; ids stable with `--templates`) and a category: **error**,
    **telemetry**, **noise**, **audit** or **info**, from the rules (the first that matches decides).
    A *true error* is an ERROR/CRITICAL line or a traceback no rule calls benign.

    Examples:

        nephoscope logs classify /var/log/nova/nova-compute.log

        nephoscope logs classify --json /var/log/neutron/*.log > report.json

        nephoscope logs classify -t templates.json -r site-rules.yaml nova-api.log.1.gz

    Rules syntax: see the shipped rules, `nephoscope/logs/processing/rules/default.yaml`.
    """
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from nephoscope.logs.cli.report import classify_files, render, to_json
    from nephoscope.logs.processing.pipeline import LogPipeline
    from nephoscope.logs.processing.rules import RulesError, load_rules
    from nephoscope.logs.processing.sources import Source
    from nephoscope.logs.processing.templates import TemplateMiner

    error_console = Console(stderr=True, soft_wrap=True)  # messages name files: keep them whole
    try:
        rule_set = load_rules(*(rules or []), include_defaults=not no_default_rules)
    except RulesError as error:
        fail(f"rules error: {error}", 2)
    miner = None
    if templates is not None and templates.exists():
        try:
            miner = TemplateMiner.load(templates)
        except (ValueError, OSError) as error:
            fail(f"cannot load the template state {templates}: {error}", 2)
    pipeline = LogPipeline(rule_set, miner)
    source = Source(service=service, host=host, region=region)
    total = sum(path.stat().st_size for path in files)
    started = time.monotonic()
    show = error_console.is_terminal or total > 50 << 20
    progress = Progress(TextColumn("[bold]classifying"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        TimeRemainingColumn(), console=error_console, transient=True, disable=not show)
    with progress:
        task = progress.add_task("read", total=total)
        summary = classify_files(files, pipeline, source, workers,
                                 progress=lambda read: progress.advance(task, read))
    report = summary.report([str(path) for path in files], len(pipeline.miner), top=top, errors=errors, new=top)
    if templates is not None:
        pipeline.miner.save(templates)
    if as_json:
        sys.stdout.write(to_json(report).decode() + "\n")
        return
    console = Console()
    render(report, console)
    elapsed = time.monotonic() - started
    console.print(f"[dim]{report.lines:,} lines in {elapsed:.1f} s "
                  f"({report.lines / elapsed if elapsed else 0:,.0f} lines/s)[/dim]")
