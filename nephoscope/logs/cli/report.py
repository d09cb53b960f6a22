"""``nephoscope logs classify``: run the pipeline over files offline and report what is in them.

Reads files (plain or ``.gz``) in chunks, cuts them into batches at record starts, processes
the batches on a small thread pool, and accumulates a :class:`ClassifyReport`: counts by
service and category, the true errors with their templates, the templates seen for the first
time, the top templates and the unparsed share (the hygiene report per service is part of it).
Rendering is rich tables for people or JSON for scripts.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.text import Text

from nephoscope.logs.processing.batching import record_start
from nephoscope.logs.processing.hygiene import HygieneAccumulator, HygieneReport, TemplateShare
from nephoscope.logs.processing.pipeline import BATCH_LINES, LogPipeline
from nephoscope.logs.processing.schema import CATEGORIES
from nephoscope.logs.processing.sources import Source
from nephoscope.terminal import table

CHUNK_BYTES = 8 << 20


class TemplateExample(msgspec.Struct):
    template_id: str | None
    template: str | None
    service: str | None
    logger: str | None
    level: str | None
    category: str
    count: int
    example: str
    exception_type: str | None = None


class ClassifyReport(msgspec.Struct):
    files: list[str]
    lines: int
    records: int
    unparsed: int
    unparsed_share: float
    templates_known: int
    by_category: dict[str, int]
    by_service: dict[str, dict[str, int]]
    true_errors: list[TemplateExample]
    new_templates: list[TemplateExample]
    top_templates: list[TemplateShare]
    hygiene: HygieneReport


class _Examples:
    """Templates of a kind (true errors, new templates) with a count and the first message."""

    def __init__(self) -> None:
        self.seen: dict[str | None, TemplateExample] = {}

    def add(self, records: pa.Table) -> None:
        if records.num_rows == 0:
            return
        counts = records.group_by("template_id").aggregate([("message", "count")]).to_pylist()
        for row in counts:
            known = self.seen.get(row["template_id"])
            if known is not None:
                known.count += row["message_count"]
        fresh = [row["template_id"] for row in counts if row["template_id"] not in self.seen]
        if not fresh:
            return
        first = records.filter(pc.is_in(records.column("template_id"), value_set=pa.array(fresh, pa.string())))
        number = {row["template_id"]: row["message_count"] for row in counts}
        for row in first.select(["template_id", "template", "service", "logger", "level", "category", "message",
                                 "exception_type"]).to_pylist():
            if row["template_id"] in self.seen:
                continue
            self.seen[row["template_id"]] = TemplateExample(
                row["template_id"], row["template"], row["service"], row["logger"], row["level"], row["category"],
                number[row["template_id"]], (row["message"] or "")[:500], row["exception_type"])

    def most(self, limit: int) -> list[TemplateExample]:
        return sorted(self.seen.values(), key=lambda e: (-e.count, str(e.template_id)))[:limit]


class Summary:
    """Accumulates record batches into a :class:`ClassifyReport`."""

    def __init__(self) -> None:
        self.hygiene = HygieneAccumulator()
        self.errors = _Examples()
        self.new = _Examples()
        self.lines = 0

    def add(self, records: pa.Table) -> None:
        self.hygiene.add(records)
        self.lines += int(pc.sum(records.column("lines")).as_py() or 0)
        self.errors.add(records.filter(pc.equal(records.column("category"), "error")))
        new_ids = records.filter(records.column("is_new_template")).column("template_id")
        if len(new_ids):
            self.new.add(records.filter(pc.is_in(records.column("template_id"), value_set=new_ids.combine_chunks())))

    def report(self, files: list[str], templates_known: int, top: int = 10, errors: int = 20,
               new: int = 20) -> ClassifyReport:
        hygiene = self.hygiene.report(top)
        by_category = {c: sum(s.by_category[c] for s in hygiene.services) for c in CATEGORIES}
        unparsed = sum(self.hygiene.unparsed.values())
        templates: dict[tuple, TemplateShare] = {}
        for (_, template_id, category), count in self.hygiene.templates.items():
            key = (template_id, category)
            share = templates.setdefault(key, TemplateShare(template_id, self.hygiene.template_text.get(template_id),
                                                            category, 0, 0.0))
            share.count += count
        top_templates = sorted(templates.values(), key=lambda t: (-t.count, str(t.template_id)))[:top]
        for share in top_templates:
            share.share = share.count / hygiene.records if hygiene.records else 0.0
        return ClassifyReport(
            files=files, lines=self.lines, records=hygiene.records, unparsed=unparsed,
            unparsed_share=unparsed / hygiene.records if hygiene.records else 0.0,
            templates_known=templates_known, by_category=by_category,
            by_service={s.service: s.by_category for s in hygiene.services},
            true_errors=self.errors.most(errors), new_templates=self.new.most(new), top_templates=top_templates,
            hygiene=hygiene)


def _open(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def file_batches(path: Path, batch_lines: int = BATCH_LINES,
                 progress: Callable[[int], None] | None = None) -> Iterator[list[str]]:
    """Lines of ``path`` in batches of about ``batch_lines``, each starting at a record start
    (a traceback never straddles two batches). ``progress`` gets the bytes read so far."""
    pending: list[str] = []
    partial = b""
    with _open(path) as handle:
        while True:
            chunk = handle.read(CHUNK_BYTES)
            if progress is not None:
                progress(len(chunk))
            if not chunk:
                break
            data = partial + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                partial = data
                continue
            partial = data[cut + 1:]
            pending.extend(data[:cut].decode("utf-8", "replace").split("\n"))
            while len(pending) > batch_lines * 2:
                end = record_start(pending, batch_lines + 1)
                end = end if 0 < end <= batch_lines else batch_lines
                yield pending[:end]
                del pending[:end]
    if partial:
        pending.append(partial.decode("utf-8", "replace"))
    while pending:
        end = min(len(pending), batch_lines)
        if end < len(pending):
            found = record_start(pending, end + 1)
            end = found if 0 < found <= end else end
        yield pending[:end]
        del pending[:end]


def classify_files(paths: list[Path], pipeline: LogPipeline, source: Source | None = None,
                   workers: int | None = None, progress: Callable[[int], None] | None = None,
                   on_batch: Callable[[pa.Table], None] | None = None) -> Summary:
    """Run the pipeline over ``paths``; ``progress`` gets bytes read, ``on_batch`` every record batch."""
    summary = Summary()
    for path in paths:
        file_source = dataclasses.replace(source or Source(), path=str(path))
        for records in pipeline.process_many(file_batches(path, progress=progress), file_source, workers):
            summary.add(records)
            if on_batch is not None:
                on_batch(records)
    return summary


# ---------------------------------------------------------------------- rendering
_STYLE = {"error": "bold red", "telemetry": "cyan", "noise": "dim", "audit": "magenta", "info": "green"}


def render(report: ClassifyReport, console: Console) -> None:
    """The report as tables that fit an 80-column terminal, wrapped between words."""
    console.print(f"[bold]{report.lines:,}[/bold] lines in {len(report.files)} file(s) -> "
                  f"[bold]{report.records:,}[/bold] records, {report.templates_known:,} templates known, "
                  f"unparsed {report.unparsed:,} ({report.unparsed_share:.1%})")
    counts = ("records", *CATEGORIES)
    listing = table("service", *counts, right=counts, whole=counts, title="Records by service and category")
    for service in report.hygiene.services:
        listing.add_row(service.service, f"{service.records:,}", *(f"{service.by_category[c]:,}" for c in CATEGORIES))
    listing.add_row("[bold]all[/bold]", f"[bold]{report.records:,}[/bold]",
                    *(f"[bold]{report.by_category[c]:,}[/bold]" for c in CATEGORIES))
    console.print(listing, soft_wrap=False)
    shares = ("noise", "no request id", "unparsed")
    listing = table("service", *shares, right=shares, whole=shares, title="Logging hygiene (share of records)")
    for service in report.hygiene.services:
        listing.add_row(service.service, f"{service.noise_share:.1%}", f"{service.without_request_id_share:.1%}",
                        f"{service.unparsed_share:.1%}")
    console.print(listing, soft_wrap=False)
    _examples(console, "True errors (ERROR/CRITICAL or tracebacks no rule calls benign)", report.true_errors,
              empty="[green]no true errors[/green]")
    _examples(console, "Templates seen for the first time", report.new_templates, empty="no new templates")
    listing = table("count", "share", "template", right=("count", "share"), whole=("count", "share"),
                    title="Top templates")
    for share in report.top_templates:
        listing.add_row(f"{share.count:,}", f"{share.share:.1%}", Text.assemble(
            (share.category or "", _STYLE.get(share.category, "")), (f"  {share.template_id or ''}", "dim"), "\n",
            share.template or ""))
    console.print(listing, soft_wrap=False)


def _examples(console: Console, title: str, examples: list[TemplateExample], empty: str) -> None:
    if not examples:
        console.print(f"{title}: {empty}")
        return
    # One row a template: what it is (service, level, category, id) over the template, its exception
    # and an example line, so the text keeps most of the width.
    listing = table("count", "template and example", right=("count",), whole=("count",), title=title)
    for example in examples:
        text = Text.assemble(f"{example.service or ''} {example.level or ''} ",
                             (example.category or "", _STYLE.get(example.category, "")),
                             (f"  {example.template_id or ''}", "dim"), "\n", example.template or "")
        if example.exception_type:
            text.append("\n" + example.exception_type, style="red")
        text.append("\n" + (example.example or ""), style="dim")
        listing.add_row(f"{example.count:,}", text)
    console.print(listing, soft_wrap=False)


def to_json(report: ClassifyReport) -> bytes:
    return msgspec.json.encode(report)
