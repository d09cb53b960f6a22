"""Parsing real oslo.log output (text in both context-block eras, DEBUG suffix, [instance: ]
prefix, tracebacks, JSON), access lines, syslog envelopes and Loghub's file-name prefix into
normalized records: every field checked."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from nephoscope.logs.processing.batching import LogStream
from nephoscope.logs.processing.pipeline import LogPipeline
from nephoscope.logs.processing.schema import RECORD_SCHEMA, to_records
from nephoscope.logs.processing.sources import Source
from tests.conftest import missing, shared_data
from tests.support.log_samples import NOVA_WSGI_FORMAT, OsloOutput, request_context

INSTANCE = "3f1c2f7e-6a55-4c6e-9d0c-6b1f0e2a9c41"
REQUEST = "req-0b373f08-1e21-4eb6-861c-40f998e52aaf"
GLOBAL = "req-99999999-2222-4333-8444-555555555555"


@pytest.fixture(scope="module")
def pipeline() -> LogPipeline:
    return LogPipeline()


def parse(pipeline: LogPipeline, lines: list[str], **source) -> list:
    table = pipeline.process(lines, Source(**source))
    assert table.schema == RECORD_SCHEMA
    return to_records(table)


def test_current_context_block_every_field(pipeline: LogPipeline) -> None:
    out = OsloOutput("nova.compute.manager")
    before = time.time()
    out.log.info("Claim %s for %d MB", "successful", 512, context=request_context(REQUEST, "user-a", "proj-b", GLOBAL),
                 instance={"uuid": INSTANCE})
    (record,) = parse(pipeline, out.lines, host="cmp-1", region="RegionOne")
    assert abs(record.time / 1000 - before) < 5  # naive local time read as UTC: same clock on this machine
    assert record.level == "INFO" and record.logger == "nova.compute.manager"
    assert record.request_id == REQUEST and record.global_request_id == GLOBAL
    assert record.user == "user-a" and record.project == "proj-b"
    assert record.instance_id == INSTANCE
    assert record.message == "Claim successful for 512 MB"
    assert record.template == "Claim successful for <*>" and record.parameters == ["512 MB"]
    assert record.service == "nova" and record.host == "cmp-1" and record.region == "RegionOne"
    assert record.format == "oslo" and record.lines == 1 and record.category == "info"
    assert record.pid == os.getpid()


def test_time_is_utc_milliseconds(pipeline: LogPipeline) -> None:
    line = "2017-05-16 00:00:04.500 25746 INFO nova.compute.manager [-] Hello"
    (record,) = parse(pipeline, [line])
    assert record.time == int(datetime(2017, 5, 16, 0, 0, 4, 500000, tzinfo=UTC).timestamp() * 1000)
    (shifted,) = parse(pipeline, [line], utc_offset_s=3600)
    assert shifted.time == record.time - 3_600_000


def test_context_without_global_request_id_prints_none(pipeline: LogPipeline) -> None:
    out = OsloOutput()
    out.log.warning("Quota exceeded", context=request_context(REQUEST))
    (record,) = parse(pipeline, out.lines)
    assert "[None req-" in out.lines[0]
    assert record.request_id == REQUEST and record.global_request_id is None and record.level == "WARNING"


def test_pre_2022_context_block(pipeline: LogPipeline) -> None:
    out = OsloOutput(pre_2022=True)
    out.log.info("Terminating instance", context=request_context(REQUEST, "u1", "p1"), instance={"uuid": INSTANCE})
    assert f"[{REQUEST} u1 p1 - - -] [instance: {INSTANCE}]" in out.lines[0]
    (record,) = parse(pipeline, out.lines)
    assert (record.request_id, record.global_request_id, record.user, record.project) == (REQUEST, None, "u1", "p1")
    assert record.instance_id == INSTANCE and record.message == "Terminating instance"


def test_no_context(pipeline: LogPipeline) -> None:
    out = OsloOutput("oslo_service.periodic_task")
    out.log.info("Running periodic task ComputeManager._poll_volume_usage")
    (record,) = parse(pipeline, out.lines)
    assert " [-] " in out.lines[0]
    assert record.request_id is None and record.user is None and record.project is None
    assert record.message == "Running periodic task ComputeManager._poll_volume_usage"


def test_debug_suffix_becomes_fields(pipeline: LogPipeline) -> None:
    out = OsloOutput("nova.scheduler.manager")
    out.log.debug("Starting with %d host(s)", 3, context=request_context())
    line = out.lines[0]
    assert line.endswith(f"test_debug_suffix_becomes_fields {__file__}:{test_debug_suffix_becomes_fields.__code__.co_firstlineno + 2}")
    (record,) = parse(pipeline, out.lines)
    assert record.message == "Starting with 3 host(s)"
    assert record.function == "test_debug_suffix_becomes_fields"
    assert record.source_file == __file__
    assert record.source_line == test_debug_suffix_becomes_fields.__code__.co_firstlineno + 2
    assert record.level == "DEBUG" and record.category == "noise"


def test_traceback_merged_into_its_record(pipeline: LogPipeline) -> None:
    out = OsloOutput("nova.compute.manager")
    out.log.info("Before", context=request_context())
    try:
        raise ValueError("disk image is corrupt")
    except ValueError:
        out.log.exception("Instance failed to spawn", context=request_context(), instance={"uuid": INSTANCE})
    out.log.info("After", context=request_context())
    lines = out.lines
    assert len(lines) >= 7 and "Traceback (most recent call last):" in lines[2]
    before, failed, after = parse(pipeline, lines)
    assert (before.message, after.message) == ("Before", "After")
    assert failed.message == "Instance failed to spawn"  # oslo.log's ": ValueError: ..." summary moved out
    assert failed.exception_type == "ValueError" and failed.exception_message == "disk image is corrupt"
    assert failed.traceback.startswith("Traceback (most recent call last):")
    assert failed.traceback.endswith("ValueError: disk image is corrupt")
    assert 'raise ValueError("disk image is corrupt")' in failed.traceback
    assert failed.lines == len(lines) - 2 and failed.raw == "\n".join(lines[1:-1])
    assert failed.instance_id == INSTANCE and failed.level == "ERROR" and failed.category == "error"
    assert before.category == "info"


def test_chained_traceback_and_warning_with_exception(pipeline: LogPipeline) -> None:
    out = OsloOutput("nova.compute.manager")
    try:
        try:
            raise KeyError("port")
        except KeyError as error:
            raise RuntimeError("could not bind port") from error
    except RuntimeError:
        out.log.warning("Retrying build", exc_info=True, context=request_context())
    (record,) = parse(pipeline, out.lines)
    assert record.level == "WARNING" and record.message == "Retrying build"
    assert record.exception_type == "RuntimeError" and record.exception_message == "could not bind port"
    assert "The above exception was the direct cause of the following exception:" in record.traceback
    assert record.category == "error"  # a traceback no rule calls benign is a true error, whatever the level


def test_plain_python_traceback_continuation(pipeline: LogPipeline) -> None:
    lines = ["2017-05-16 00:00:00.008 100 ERROR nova.compute.manager [-] Unexpected error",
             "Traceback (most recent call last):",
             '  File "/usr/lib/python3/dist-packages/nova/compute/manager.py", line 10, in run',
             "    self._run()",
             "nova.exception.NovaException: it broke",
             "2017-05-16 00:00:01.000 100 INFO nova.compute.manager [-] Next"]
    first, second = parse(pipeline, lines)
    assert first.lines == 5 and first.exception_type == "nova.exception.NovaException"
    assert first.exception_message == "it broke" and second.message == "Next"


def test_already_merged_records_are_kept_whole(pipeline: LogPipeline) -> None:
    out = OsloOutput()
    try:
        raise OSError("no space left")
    except OSError:
        out.log.exception("Write failed", context=request_context())
    merged = "\n".join(out.lines)  # as the agent's tailer ships a record
    (record,) = parse(pipeline, [merged, "2017-05-16 00:00:01.000 100 INFO nova.compute.manager [-] Next"])[:1]
    assert record.exception_type == "OSError" and record.lines == len(out.lines)


def test_json_formatter(pipeline: LogPipeline) -> None:
    out = OsloOutput("nova.compute.manager", json=True)
    out.log.info("Claim %(what)s", {"what": "successful"}, context=request_context(REQUEST, "u9", "p9", GLOBAL),
                 instance={"uuid": INSTANCE})
    try:
        raise ValueError("bad value")
    except ValueError:
        out.log.exception("Build of instance %s aborted", INSTANCE, context=request_context())
    claim, aborted = parse(pipeline, out.lines, host="cmp-9")  # the configured source wins over "hostname"
    # the format string is the template; the parameters are the masked values, as for text lines
    assert claim.format == "oslo-json" and claim.template == "Claim %(what)s" and claim.parameters == []
    assert claim.message == "Claim successful" and claim.level == "INFO" and claim.logger == "nova.compute.manager"
    assert (claim.request_id, claim.global_request_id, claim.user, claim.project) == (REQUEST, GLOBAL, "u9", "p9")
    assert claim.instance_id == INSTANCE and claim.host == "cmp-9"
    assert claim.function == "test_json_formatter" and claim.source_file == __file__
    assert abs(claim.time / 1000 - time.time()) < 60
    assert aborted.template == "Build of instance %s aborted" and aborted.exception_type == "ValueError"
    assert aborted.exception_message == "bad value" and aborted.traceback.startswith("Traceback")
    assert aborted.category == "error" and aborted.message == f"Build of instance {INSTANCE} aborted"
    assert claim.is_new_template or claim.template_id in pipeline.miner


def test_wsgi_access_line(pipeline: LogPipeline) -> None:
    out = OsloOutput("nova.osapi_compute.wsgi.server")
    message = NOVA_WSGI_FORMAT % {"client_ip": "10.0.0.5", "request_line": f"GET /v2.1/servers/{INSTANCE} HTTP/1.1",
                                  "status_code": 404, "body_length": 112, "wall_seconds": 0.0421234}
    out.log.info(message, context=request_context())
    (record,) = parse(pipeline, out.lines)
    assert (record.http_method, record.http_path, record.http_status, record.http_bytes) == (
        "GET", f"/v2.1/servers/{INSTANCE}", 404, 112)
    assert record.http_latency_ms == pytest.approx(42.1234) and record.client == "10.0.0.5"
    assert record.category == "telemetry" and record.rule == "wsgi-access-line"


def test_eventlet_double_space_and_placement_request_log(pipeline: LogPipeline) -> None:
    lines = [
        ('2024-01-02 03:04:05.678 77 INFO eventlet.wsgi.server [None req-1 - - - - - -] 10.1.1.1,10.0.0.2 '
        '"POST /v2.0/ports HTTP/1.1" status: 201  len: 1090 time: 0.5000000'),
        ('2024-01-02 03:04:05.700 78 INFO placement.requestlog [None req-2 u p - - default default] 10.0.0.9 '
        '"GET /resource_providers?in_tree=x" status: 200 len: 32 microversion: 1.39'),
    ]
    ports, placement = parse(pipeline, lines)
    assert (ports.http_method, ports.http_status, ports.http_bytes, ports.http_latency_ms) == ("POST", 201, 1090, 500.0)
    assert ports.client == "10.1.1.1,10.0.0.2"
    assert (placement.http_method, placement.http_path, placement.http_status) == (
        "GET", "/resource_providers?in_tree=x", 200)
    assert placement.http_latency_ms is None and placement.service == "placement"


def test_httpd_access_lines(pipeline: LogPipeline) -> None:
    lines = [
        '10.0.0.1 - - [16/May/2017:00:00:00 +0000] "POST /v3/auth/tokens HTTP/1.1" 201 6310 "-" "keystoneauth1/3.4.0"',
        # kolla's keystone format: %D (microseconds) after the byte count
        '10.0.0.2 - admin [16/May/2017:00:00:01 +0200] "GET /v3/users HTTP/1.1" 200 512 2500 "-" "python-openstackclient"',
        # uWSGI
        ("[pid: 4242|app: 0|req: 7/20] 10.0.0.3 () {34 vars in 612 bytes} [Tue May 16 00:00:02 2017] "
        "GET /placement/ => generated 128 bytes in 5 msecs (HTTP/1.1 200) 5 headers in 180 bytes (1 switches on core 0)"),
    ]
    tokens, users, root = parse(pipeline, lines, service="keystone")
    assert tokens.format == "httpd-access" and tokens.category == "telemetry"
    assert (tokens.http_method, tokens.http_path, tokens.http_status, tokens.http_bytes) == (
        "POST", "/v3/auth/tokens", 201, 6310)
    assert tokens.time == int(datetime(2017, 5, 16, tzinfo=UTC).timestamp() * 1000)
    assert users.http_latency_ms == 2.5 and users.user == "admin"
    assert users.time == int(datetime(2017, 5, 15, 22, 0, 1, tzinfo=UTC).timestamp() * 1000)
    assert (root.http_method, root.http_status, root.http_bytes, root.http_latency_ms, root.pid) == (
        "GET", 200, 128, 5.0, 4242)


def test_syslog_envelopes(pipeline: LogPipeline) -> None:
    out = OsloOutput("nova.compute.manager")
    out.log.error("Setting instance to ERROR state.", context=request_context(), instance={"uuid": INSTANCE})
    payload = out.lines[0]
    lines = [f"<11>1 2024-01-02T03:04:05.678901+00:00 compute-7 nova-compute 4242 - - {payload}",
             f"<11>May 16 00:00:00 compute-8 nova-compute[4242]: {payload}",
             "May 16 00:00:01 compute-9 kernel: [12345.678] eth0: link up"]
    modern, legacy, kernel = parse(pipeline, lines, year=2017)
    for record, host in ((modern, "compute-7"), (legacy, "compute-8")):
        assert record.format == "oslo" and record.host == host and record.component == "nova-compute"
        assert record.instance_id == INSTANCE and record.message == "Setting instance to ERROR state."
        assert record.category == "error" and record.level == "ERROR"
    assert kernel.format == "syslog" and kernel.host == "compute-9" and kernel.component == "kernel"
    assert kernel.time == int(datetime(2017, 5, 16, 0, 0, 1, tzinfo=UTC).timestamp() * 1000)


def test_loghub_file_prefix_gives_the_component() -> None:
    path = shared_data("loghub-openstack", "OpenStack_2k.log")
    if not path.exists():
        missing(f"{path} is absent", "provide ../shared/data or NEPHOSCOPE_SHARED_DATA")
    lines = path.read_text(encoding="utf-8").splitlines()
    records = LogPipeline().process(lines)
    assert records.num_rows == len(lines)
    components = set(records.column("component").to_pylist())
    assert components == {"nova-api", "nova-compute", "nova-scheduler"}
    assert set(records.column("service").to_pylist()) == {"nova"}
    first = to_records(records.slice(0, 1))[0]
    assert first.request_id == "req-38101a0b-2096-447d-96ea-a692162415ae"
    assert first.user == "113d3a99c3da401fbd62cc2caa5b96d2" and first.project == "54fadb412c4e40cdbaed9335e4c35a9e"
    assert first.http_status == 200 and first.http_latency_ms == pytest.approx(247.7829)
    # Loghub facts (research notes): 1,845 records with a request id, 30 image-cache WARNINGs, no ERROR
    assert records.column("request_id").null_count == 155
    levels = records.column("level").to_pylist()
    assert levels.count("WARNING") == 31 and "ERROR" not in levels
    assert "error" not in records.column("category").to_pylist()


def test_unparsed_lines_are_kept_and_counted(pipeline: LogPipeline) -> None:
    lines = ["", "random words here", "2017-05-16 00:00:00.008 1 INFO nova.x [-] fine", "\x00\x01 binary-ish"]
    records = parse(pipeline, lines)
    assert [r.format for r in records] == ["unparsed", "unparsed", "oslo", "unparsed"]
    assert [r.raw for r in records] == lines and sum(r.lines for r in records) == len(lines)
    assert records[1].category == "info" and records[1].rule == "default:unparsed"


def test_stream_merges_a_traceback_across_feeds(pipeline: LogPipeline) -> None:
    out = OsloOutput()
    try:
        raise ValueError("late")
    except ValueError:
        out.log.exception("Failed late", context=request_context())
    out.log.info("Next", context=request_context())
    lines = out.lines
    stream = LogStream(pipeline)
    first = to_records(stream.feed(lines[:3]))
    second = to_records(stream.feed(lines[3:]))
    last = to_records(stream.flush())
    records = first + second + last
    assert [r.message for r in records] == ["Failed late", "Next"]
    assert records[0].exception_type == "ValueError" and records[0].lines == len(lines) - 1


def test_a_syslog_priority_gives_the_level_python_sent_it_for() -> None:
    """A syslog message without a level of its own takes its priority's: what Python's (and so
    oslo.log's) syslog handler sends for each level reads back as that level."""
    import logging.handlers

    import pyarrow as pa

    from nephoscope.logs.processing.parsers import severity_levels

    handler = logging.handlers.SysLogHandler
    levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    facilities = [handler.LOG_USER, handler.LOG_LOCAL0, handler.LOG_LOCAL7, handler.LOG_DAEMON]
    priorities = [str(handler.encodePriority(handler, facility, handler.mapPriority(handler, level)))
                  for facility in facilities for level in levels]
    assert severity_levels(pa.array([*priorities, None])).to_pylist() == [*levels * len(facilities), None]


def test_rsyslogs_rfc5424_template_keeps_the_oslo_line(pipeline: LogPipeline) -> None:
    """RSYSLOG_SyslogProtocol23Format writes " %msg%", and the msg of a message rsyslog received as
    RFC 3164 keeps the space after its tag; a BOM may open an RFC 5424 MSG."""
    out = OsloOutput("nova.compute.manager")
    out.log.error("Setting instance to ERROR state.", context=request_context(), instance={"uuid": INSTANCE})
    payload = out.lines[0]
    lines = [f"<134>1 2024-01-02T03:04:05.678901+00:00 compute-7 nova-compute 4242 - -  {payload}",
             f"<134>1 2024-01-02T03:04:05.678901+00:00 compute-7 nova-compute 4242 - - \ufeff{payload}",
             "<11>1 2024-01-02T03:04:05.678901+00:00 compute-7 kernel - - - disk on fire"]
    spaced, bom, kernel = parse(pipeline, lines)
    for record in (spaced, bom):
        assert record.format == "oslo" and record.level == "ERROR" and record.category == "error"
        assert record.request_id and record.instance_id == INSTANCE
    assert kernel.format == "syslog" and kernel.level == "ERROR" and kernel.message == "disk on fire"
