"""The log hygiene report: per service, how much is logged, how much of it is noise, which
templates dominate, how many records cannot be traced (no request id) and how many lines no
parser understood.

Pure functions over record batches (``schema.RECORD_SCHEMA``). ``HygieneAccumulator`` takes
batches one at a time (Arrow group-by per batch, small dictionaries across batches) so a
report over millions of records never holds them all; ``hygiene_report`` is the one-call form.
The log store aggregates its records in SQL into the same three groupings (``merge``), so the
server's report and ``nephoscope logs classify``'s are one definition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.logs.processing.schema import CATEGORIES

UNKNOWN_SERVICE = "(unknown)"


class TemplateShare(msgspec.Struct):
    template_id: str | None
    template: str | None
    category: str
    count: int
    share: float  # of the service's records


class ServiceHygiene(msgspec.Struct):
    service: str
    records: int
    lines: int
    by_category: dict[str, int]
    noise_share: float
    error_records: int
    without_request_id_share: float  # of the records a parser understood
    unparsed_share: float
    bytes: int  # of the raw lines
    top_templates: list[TemplateShare]


class HygieneReport(msgspec.Struct):
    records: int
    lines: int
    services: list[ServiceHygiene]


class HygieneAccumulator:
    """Counts from record batches, enough for :class:`HygieneReport`."""

    def __init__(self) -> None:
        self.records: Counter = Counter()
        self.lines: Counter = Counter()
        self.bytes: Counter = Counter()
        self.categories: Counter = Counter()  # (service, category)
        self.templates: Counter = Counter()  # (service, template_id, category)
        self.template_text: dict[str | None, str | None] = {}
        self.parsed: Counter = Counter()
        self.without_request_id: Counter = Counter()
        self.unparsed: Counter = Counter()

    def add(self, records: pa.Table) -> None:
        if records.num_rows == 0:
            return
        service = pc.fill_null(records.column("service"), UNKNOWN_SERVICE)
        unparsed = pc.equal(records.column("format"), "unparsed")
        table = pa.table({
            "service": service,
            "category": records.column("category"),
            "template_id": records.column("template_id"),
            "template": records.column("template"),
            "lines": records.column("lines").cast(pa.int64()),
            "bytes": pc.fill_null(pc.binary_length(records.column("raw")), 0).cast(pa.int64()),
            "parsed": pc.invert(unparsed).cast(pa.int64()),
            "unparsed": unparsed.cast(pa.int64()),
            "no_request_id": pc.and_(pc.invert(unparsed), pc.is_null(records.column("request_id"))).cast(pa.int64()),
        })
        per_service = table.group_by("service").aggregate(
            [("lines", "count"), ("lines", "sum"), ("bytes", "sum"), ("parsed", "sum"), ("unparsed", "sum"),
             ("no_request_id", "sum")]).rename_columns(
            ["service", "records", "lines", "bytes", "parsed", "unparsed", "no_request_id"])
        per_category = table.group_by(["service", "category"]).aggregate([("lines", "count")]).rename_columns(
            ["service", "category", "records"])
        per_template = table.group_by(["service", "template_id", "category"], use_threads=False).aggregate(
            [("lines", "count"), ("template", "last")]).rename_columns(
            ["service", "template_id", "category", "records", "template"])
        self.merge(per_service.to_pylist(), per_category.to_pylist(), per_template.to_pylist())

    def merge(self, per_service: Iterable[dict], per_category: Iterable[dict], per_template: Iterable[dict]) -> None:
        """Add counts already grouped: per service (records, lines, bytes, parsed, unparsed,
        no_request_id), per service and category (records), per service, template and category
        (records, template text)."""
        for row in per_service:
            name = row["service"]
            self.records[name] += row["records"]
            self.lines[name] += row["lines"] or 0
            self.bytes[name] += row["bytes"] or 0
            self.parsed[name] += row["parsed"]
            self.unparsed[name] += row["unparsed"]
            self.without_request_id[name] += row["no_request_id"]
        for row in per_category:
            self.categories[(row["service"], row["category"])] += row["records"]
        for row in per_template:
            self.templates[(row["service"], row["template_id"], row["category"])] += row["records"]
            self.template_text[row["template_id"]] = row["template"]

    def report(self, top: int = 10) -> HygieneReport:
        services = []
        for name in sorted(self.records, key=lambda n: (-self.records[n], n)):
            total = self.records[name]
            by_category = {c: self.categories.get((name, c), 0) for c in CATEGORIES}
            templates = sorted(((tid, cat, n) for (svc, tid, cat), n in self.templates.items() if svc == name),
                               key=lambda item: (-item[2], str(item[0])))[:top]
            parsed = self.parsed[name]
            services.append(ServiceHygiene(
                service=name, records=total, lines=self.lines[name], by_category=by_category,
                noise_share=by_category["noise"] / total if total else 0.0,
                error_records=by_category["error"],
                without_request_id_share=self.without_request_id[name] / parsed if parsed else 0.0,
                unparsed_share=self.unparsed[name] / total if total else 0.0,
                bytes=self.bytes[name],
                top_templates=[TemplateShare(tid, self.template_text.get(tid), cat, n, n / total if total else 0.0)
                               for tid, cat, n in templates]))
        return HygieneReport(sum(self.records.values()), sum(self.lines.values()), services)


def hygiene_report(batches: pa.Table | Iterable[pa.Table], top: int = 10) -> HygieneReport:
    """The hygiene report of one record batch or several."""
    accumulator = HygieneAccumulator()
    for batch in [batches] if isinstance(batches, pa.Table) else batches:
        accumulator.add(batch)
    return accumulator.report(top)
