"""OpenTelemetry names to Prometheus names (``metrics.ingest.otel_names``), as Prometheus 3's OTLP
receiver translates them: the cases of the OpenTelemetry specification's compatibility document and
of Prometheus's translator, then properties of the escaping."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nephoscope.metrics.ingest.otel_names import Kind, NameError_, Namer

ESCAPE = Namer.for_strategy("UnderscoreEscapingWithSuffixes")


@pytest.mark.parametrize("name, unit, kind, expected", [
    ("system.filesystem.usage", "By", Kind.GAUGE, "system_filesystem_usage_bytes"),
    ("system.network.io", "By", Kind.COUNTER, "system_network_io_bytes_total"),
    ("system.network.io", "By/s", Kind.COUNTER, "system_network_io_bytes_per_second_total"),
    ("http.server.request.duration", "s", Kind.HISTOGRAM, "http_server_request_duration_seconds"),
    ("process.cpu.time", "s", Kind.COUNTER, "process_cpu_time_seconds_total"),
    ("system.cpu.utilization", "1", Kind.GAUGE, "system_cpu_utilization_ratio"),
    ("requests", "1", Kind.COUNTER, "requests_total"),  # _ratio is for gauges only
    ("packets", "{packets}", Kind.COUNTER, "packets_total"),  # an annotation, not a unit
    ("speed", "m/s", Kind.GAUGE, "speed_meters_per_second"),
    ("temperature", "Cel", Kind.GAUGE, "temperature_celsius"),
    ("disk.usage", "%", Kind.GAUGE, "disk_usage_percent"),
    ("memory.usage", "MB", Kind.GAUGE, "memory_usage_MB"),  # not a UCUM unit of the table: kept
    ("cpu", "ns", Kind.COUNTER, "cpu_nanoseconds_total"),  # Ceilometer's cumulative cpu
    ("requests_total_count", "", Kind.COUNTER, "requests_count_total"),
    ("latency_seconds", "s", Kind.HISTOGRAM, "latency_seconds"),  # the unit is in the name already
    ("foo__bar...baz", "", Kind.GAUGE, "foo_bar_baz"),
    ("1st.metric", "", Kind.GAUGE, "_1st_metric"),
    ("queue.size", "", Kind.SUM, "queue_size"),  # an up-down counter: no _total
    ("a:b", "", Kind.GAUGE, "a:b"),
])
def test_metric_names_with_suffixes(name: str, unit: str, kind: Kind, expected: str) -> None:
    assert ESCAPE.metric(name, unit, kind) == expected


@pytest.mark.parametrize("strategy, name, unit, kind, expected", [
    ("UnderscoreEscapingWithoutSuffixes", "http.server.duration", "s", Kind.HISTOGRAM, "http_server_duration"),
    ("UnderscoreEscapingWithoutSuffixes", "requests_total", "1", Kind.COUNTER, "requests_total"),
    ("NoUTF8EscapingWithSuffixes", "http.server.duration", "s", Kind.HISTOGRAM, "http.server.duration_seconds"),
    ("NoUTF8EscapingWithSuffixes", "requests.total", "", Kind.COUNTER, "requests_total"),
    ("NoUTF8EscapingWithSuffixes", "cpu.utilization", "1", Kind.GAUGE, "cpu.utilization_ratio"),
    ("NoUTF8EscapingWithSuffixes", "net.io", "By/s", Kind.COUNTER, "net.io_bytes_per_second_total"),
    ("NoTranslation", "cpu.utilization_perc", "%", Kind.GAUGE, "cpu.utilization_perc"),
])
def test_the_other_strategies(strategy: str, name: str, unit: str, kind: Kind, expected: str) -> None:
    assert Namer.for_strategy(strategy).metric(name, unit, kind) == expected


@pytest.mark.parametrize("attribute, label", [
    ("http.method", "http_method"), ("service.instance.id", "service_instance_id"), ("0day", "key_0day"),
    ("_private", "key_private"), ("__reserved", "__reserved"), ("ünï-code", "key_n__code"),
    ("already_fine", "already_fine"),
])
def test_label_names(attribute: str, label: str) -> None:
    assert ESCAPE.label(attribute) == label


def test_names_that_translate_to_nothing_are_refused() -> None:
    with pytest.raises(NameError_):
        ESCAPE.metric("...", "", Kind.GAUGE)
    with pytest.raises(NameError_):
        ESCAPE.label("")
    with pytest.raises(NameError_):
        ESCAPE.label("..")
    assert Namer.for_strategy("NoTranslation").label("a.b") == "a.b"


@pytest.mark.parametrize("unit, expected", [("By/s", "bytes_per_second"), ("s", "seconds"), ("{request}", ""),
                                            ("1", ""), ("{packets}/s", "per_second")])
def test_metadata_units(unit: str, expected: str) -> None:
    assert ESCAPE.unit(unit) == expected


@given(st.text(min_size=1, max_size=40), st.sampled_from(["", "s", "By", "1", "By/s", "{x}", "%"]),
       st.sampled_from(list(Kind)))
def test_escaped_names_are_legacy_prometheus_names(name: str, unit: str, kind: Kind) -> None:
    try:
        built = ESCAPE.metric(name, unit, kind)
    except NameError_:
        return
    assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", built)
    assert "__" not in built.lstrip("_")
    if kind is Kind.COUNTER:  # every word "total" moves to the end, once
        words = built.split("_")
        assert words[-1] == "total" and "total" not in words[:-1]


@given(st.text(min_size=1, max_size=40))
def test_escaped_labels_are_legacy_label_names(attribute: str) -> None:
    try:
        label = ESCAPE.label(attribute)
    except NameError_:
        return
    assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label)
