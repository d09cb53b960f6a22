"""The log hygiene report: per service, how much is logged, how much of it is noise, which
templates dominate, how many records cannot be traced (no request id) and how many lines no
parser understood.

Pure functions over record batches (``schema.RECORD_SCHEMA``). ``HygieneAccumulator`` takes
batches one at a time (Arrow group-by per batch, small dictionaries across batches) so a
report over millions of records never holds them all; ``hygiene_report`` is the one-call form.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from nephoscope.logs.schema import CATEGORIES

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
            "lines": records.column("lines").cast(pa.int64()),
            "parsed": pc.invert(unparsed).cast(pa.int64()),
            "unparsed": unparsed.cast(pa.int64()),
            "no_request_id": pc.and_(pc.invert(unparsed), pc.is_null(records.column("request_id"))).cast(pa.int64()),
        })
        for row in table.group_by("service").aggregate(
                [("lines", "count"), ("lines", "sum"), ("parsed", "sum"), ("unparsed", "sum"),
                 ("no_request_id", "sum")]).to_pylist():
            name = row["service"]
            self.records[name] += row["lines_count"]
            self.lines[name] += row["lines_sum"]
            self.parsed[name] += row["parsed_sum"]
            self.unparsed[name] += row["unparsed_sum"]
            self.without_request_id[name] += row["no_request_id_sum"]
        for row in table.group_by(["service", "category"]).aggregate([("lines", "count")]).to_pylist():
            self.categories[(row["service"], row["category"])] += row["lines_count"]
        for row in table.group_by(["service", "template_id", "category"]).aggregate([("lines", "count")]).to_pylist():
            self.templates[(row["service"], row["template_id"], row["category"])] += row["lines_count"]
        distinct = pa.table({"id": records.column("template_id"), "text": records.column("template")})
        for row in distinct.group_by(["id"], use_threads=False).aggregate([("text", "last")]).to_pylist():
            self.template_text[row["id"]] = row["text_last"]

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
                top_templates=[TemplateShare(tid, self.template_text.get(tid), cat, n, n / total if total else 0.0)
                               for tid, cat, n in templates]))
        return HygieneReport(sum(self.records.values()), sum(self.lines.values()), services)


def hygiene_report(batches: pa.Table | Iterable[pa.Table], top: int = 10) -> HygieneReport:
    """The hygiene report of one record batch or several."""
    accumulator = HygieneAccumulator()
    for batch in [batches] if isinstance(batches, pa.Table) else batches:
        accumulator.add(batch)
    return accumulator.report(top)
