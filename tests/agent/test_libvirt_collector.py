"""The libvirt collector (nephoscope.agent.collectors.libvirt) against libvirt's test driver.

``test:///default`` is one running domain ("test") whose state every connection of this process shares
while one of them is open; ``test:///<file>.xml`` is a whole fake host defined by a file (private to each
connection). The test driver fills only the state group of ``getAllDomainStats``, so against it the
collector takes its per-domain fallback path; the bulk path that runs on qemu hosts is tested by wrapping
a test-driver connection so that it answers ``getAllDomainStats`` with qemu-shaped stats.

Needs libvirt-python (``apt-get install -y libvirt-dev pkg-config gcc`` then ``pip install
libvirt-python``). Without it these tests skip, except under ``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing

try:
    import libvirt
except ImportError:
    missing("libvirt-python is not importable", "make services builds it: apt-get install -y libvirt-dev "
            "pkg-config gcc; pip install libvirt-python", module=True)

from nephoscope.agent.collectors.libvirt import (
    IDENTITY_TTL_S,
    LibvirtCollector,
    parse_domain_xml,
)
from nephoscope.agent.samples import Sample

LOGGER = "nephoscope.agent.collectors.libvirt"
NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"

WEB_UUID = "8f3c2d6e-0a51-4b7e-9c1d-2e4f6a8b0c11"
DB_UUID = "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed"
PLAIN_UUID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
STOPPED_UUID = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
USER = "5e1b8c2a9d3f4e6a8b7c0d1e2f3a4b5c"
PROJECT = "c0ffee00d15ea5e0b0a710ad5eed1e55"

NOVA_WEB = f"""
    <nova:instance xmlns:nova="{NOVA_NS}">
      <nova:package version="29.0.1"/>
      <nova:name>web-1</nova:name>
      <nova:creationTime>2025-01-01 00:00:00</nova:creationTime>
      <nova:flavor name="m1.small">
        <nova:memory>512</nova:memory><nova:disk>20</nova:disk><nova:swap>0</nova:swap>
        <nova:ephemeral>0</nova:ephemeral><nova:vcpus>2</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="{USER}">alice</nova:user>
        <nova:project uuid="{PROJECT}">demo</nova:project>
      </nova:owner>
      <nova:root type="image" uuid="0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"/>
    </nova:instance>"""

# A fake compute host: a Nova VM with two disks and a port, a Nova VM whose (pre-Mitaka, 1.0) metadata
# has a name Monasca would refuse as a dimension, a domain Nova didn't define, and a shut-off Nova VM.
HOST_XML = f"""<node>
  <domain type='test'>
    <name>instance-00000001</name>
    <uuid>{WEB_UUID}</uuid>
    <metadata>{NOVA_WEB}</metadata>
    <memory unit='KiB'>1048576</memory>
    <currentMemory unit='KiB'>524288</currentMemory>
    <vcpu>2</vcpu>
    <os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/var/lib/nova/a/disk'/><target dev='vda' bus='virtio'/></disk>
      <disk type='file' device='disk'><source file='/var/lib/nova/a/disk.eph0'/><target dev='vdb' bus='virtio'/></disk>
      <interface type='bridge'><source bridge='br-int'/><target dev='tap3f1c2a4b-1e'/></interface>
      <memballoon model='virtio'/>
    </devices>
  </domain>
  <domain type='test'>
    <name>instance-00000002</name>
    <uuid>{DB_UUID}</uuid>
    <metadata>
      <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.0">
        <nova:name>db (prod), eu="west"</nova:name>
        <nova:flavor name="m1.large"/>
        <nova:owner>
          <nova:user uuid="{USER}">alice</nova:user><nova:project uuid="{PROJECT}">demo</nova:project>
        </nova:owner>
      </nova:instance>
    </metadata>
    <memory unit='KiB'>2097152</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
  </domain>
  <domain type='test'>
    <name>plain-vm</name>
    <uuid>{PLAIN_UUID}</uuid>
    <memory unit='KiB'>262144</memory>
    <os><type>hvm</type></os>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>instance-00000003</name>
    <uuid>{STOPPED_UUID}</uuid>
    <metadata>{NOVA_WEB.replace("web-1", "stopped-1")}</metadata>
    <memory unit='KiB'>1048576</memory>
    <os><type>hvm</type></os>
    <devices><disk type='file' device='disk'><source file='/x'/><target dev='vda' bus='virtio'/></disk></devices>
    <test:runstate>5</test:runstate>
  </domain>
</node>
"""


class Clock:
    """An injected clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def host_uri(tmp_path: Path) -> str:
    path = tmp_path / "host.xml"
    path.write_text(HOST_XML)
    return f"test://{path}"


@pytest.fixture
def default_conn() -> Iterator[Any]:
    """A read-write connection to test:///default, open while the test runs so its state is shared."""
    conn = libvirt.open("test:///default")
    yield conn
    conn.close()


def of(samples: list[Sample], resource_id: str) -> list[Sample]:
    return [s for s in samples if s.dimensions["resource_id"] == resource_id]


def by_series(samples: list[Sample]) -> dict[tuple[str, str | None], Sample]:
    """One domain's samples keyed by (name, device)."""
    series = {(s.name, s.dimensions.get("device")): s for s in samples}
    assert len(series) == len(samples), "a series was emitted twice"
    return series


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


# -- identity ---------------------------------------------------------------------------------------------

def test_available_and_name() -> None:
    assert LibvirtCollector.available() is True
    assert LibvirtCollector().name == "libvirt"


def test_identity_from_nova_metadata(host_uri: str) -> None:
    samples = LibvirtCollector(host_uri, clock=Clock()).collect()
    web = of(samples, WEB_UUID)
    assert web
    base = {"service": "compute", "component": "vm", "resource_id": WEB_UUID, "hostname": "web-1",
            "tenant_id": PROJECT, "user_id": USER}
    for sample in web:
        dims = dict(sample.dimensions)
        device = dims.pop("device", None)
        assert dims == base, sample
        assert (device is not None) == sample.name.startswith(("io.", "net.")), sample


def test_identity_from_nova_1_0_metadata_is_made_a_valid_dimension(host_uri: str) -> None:
    db = of(LibvirtCollector(host_uri, clock=Clock()).collect(), DB_UUID)
    assert db
    for sample in db:
        # Monasca refuses , = " in dimension values; the owner's free-text name must not lose the batch.
        assert sample.dimensions["hostname"] == "db (prod)_ eu__west_"
        assert sample.dimensions["tenant_id"] == PROJECT and sample.dimensions["user_id"] == USER


def test_identity_falls_back_to_domain_without_metadata(host_uri: str) -> None:
    plain = of(LibvirtCollector(host_uri, clock=Clock()).collect(), PLAIN_UUID)
    assert plain
    for sample in plain:
        assert {k: v for k, v in sample.dimensions.items() if k != "device"} == {
            "service": "compute", "component": "vm", "resource_id": PLAIN_UUID, "hostname": "plain-vm"}


def test_identity_set_live_with_set_metadata_is_picked_up_after_the_ttl(default_conn: Any) -> None:
    dom = default_conn.lookupByName("test")
    uuid = dom.UUIDString()
    clock = Clock()
    collector = LibvirtCollector("test:///default", clock=clock)
    try:
        assert {s.dimensions["hostname"] for s in of(collector.collect(), uuid)} == {"test"}
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NOVA_WEB.replace("nova:", "").replace(
            f' xmlns:nova="{NOVA_NS}"', ""), "nova", NOVA_NS, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        clock.now += 10  # the domain XML is not re-read every interval
        assert {s.dimensions["hostname"] for s in of(collector.collect(), uuid)} == {"test"}
        clock.now += IDENTITY_TTL_S
        samples = of(collector.collect(), uuid)
        assert {(s.dimensions["hostname"], s.dimensions["tenant_id"], s.dimensions["user_id"])
                for s in samples} == {("web-1", PROJECT, USER)}
    finally:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, NOVA_NS, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        collector.close()


def test_parse_domain_xml_fallbacks() -> None:
    broken = parse_domain_xml("<domain><name>x", "u-1", "instance-9")
    assert broken.identity.dimensions()["hostname"] == "instance-9" and not broken.identity.from_nova
    foreign = parse_domain_xml(
        "<domain><metadata><app:x xmlns:app='urn:other'>y</app:x></metadata></domain>", "u-2", "vm")
    assert foreign.identity.resource_id == "u-2" and foreign.identity.tenant_id is None
    nova = parse_domain_xml(f"<domain><metadata>{NOVA_WEB}</metadata></domain>", "u-3", "instance-3")
    assert nova.identity.from_nova and nova.identity.flavor == "m1.small"
    assert "flavor" not in nova.identity.dimensions()


# -- what a running domain reports (test driver: per-domain fallback path) --------------------------------

def test_state_gauges_and_stopped_domains(host_uri: str) -> None:
    samples = LibvirtCollector(host_uri, clock=Clock()).collect()
    web = by_series(of(samples, WEB_UUID))
    assert web["host_alive_status", None].value == 0 and web["health_status", None].value == 0
    stopped = by_series(of(samples, STOPPED_UUID))
    # monasca-agent's code for shut off (libvirt state 5 - 1); nothing else for a domain that isn't running
    assert set(stopped) == {("host_alive_status", None), ("health_status", None)}
    assert stopped["host_alive_status", None].value == 4 and stopped["health_status", None].value == 1
    assert all(s.kind == "gauge" for s in stopped.values())


def test_counters_are_cumulative_and_increase(host_uri: str) -> None:
    collector = LibvirtCollector(host_uri, clock=time.monotonic)
    first = by_series(of(collector.collect(), WEB_UUID))
    time.sleep(0.02)  # the test driver derives its counters from the time of day
    second = by_series(of(collector.collect(), WEB_UUID))
    counters = {key for key, s in first.items() if s.kind == "counter"}
    io = {"io.read_bytes_sec", "io.write_bytes_sec", "io.read_ops_sec", "io.write_ops_sec"}
    net = {"net.in_bytes_sec", "net.out_bytes_sec", "net.in_packets_sec", "net.out_packets_sec",
           "net.in_errors_sec", "net.out_errors_sec", "net.in_dropped_sec", "net.out_dropped_sec"}
    assert counters == ({("cpu.time_ns", None)} | {(n, d) for n in io for d in ("vda", "vdb")}
                        | {(n, "tap3f1c2a4b-1e") for n in net})
    for key in counters:
        assert second[key].kind == "counter"
        assert isinstance(second[key].value, int)  # raw totals, exact, not rates
        assert second[key].value >= first[key].value > 0, key
        # errors and drops move once a second in the test driver; the rest move every microsecond or so
        if not key[0].endswith(("errors_sec", "dropped_sec")):
            assert second[key].value > first[key].value, key
    # cpu time in ns, as cumulative totals go: far beyond anything one interval could add
    assert second["cpu.time_ns", None].value > 10**15


def test_memory_from_memory_stats_and_without_balloon(host_uri: str) -> None:
    samples = LibvirtCollector(host_uri, clock=Clock()).collect()
    web = by_series(of(samples, WEB_UUID))
    # the test driver's balloon: available = currentMemory (512 MiB), unused = half of it
    assert web["mem.total_mb", None].value == 512
    assert web["mem.free_mb", None].value == 256 and web["mem.used_mb", None].value == 256
    assert web["mem.free_perc", None].value == 50
    plain = by_series(of(samples, PLAIN_UUID))
    # no balloon stats: only the memory the guest was given
    assert plain["mem.total_mb", None].value == 256
    assert not {("mem.free_mb", None), ("mem.used_mb", None), ("mem.free_perc", None)} & set(plain)


def test_cpu_utilization_from_two_readings_with_an_injected_clock(host_uri: str) -> None:
    # The test driver's cpu time is the time of day in ns: one core busy all the time. A clock that runs
    # twice as fast as real time makes that half a core: 50 %, 25 % of the domain's 2 vcpus.
    collector = LibvirtCollector(host_uri, clock=lambda: 2 * time.time())
    first = by_series(of(collector.collect(), WEB_UUID))
    assert ("cpu.utilization_perc", None) not in first and ("cpu.utilization_norm_perc", None) not in first
    time.sleep(0.3)
    second = by_series(of(collector.collect(), WEB_UUID))
    assert second["cpu.utilization_perc", None].value == pytest.approx(50, abs=2)
    assert second["cpu.utilization_norm_perc", None].value == pytest.approx(25, abs=1)
    assert second["cpu.utilization_perc", None].kind == "gauge"


def test_domains_that_disappear_are_forgotten(default_conn: Any) -> None:
    uuid = "0d1e2f30-4152-6374-8596-a7b8c9d0e1f2"
    xml = (f"<domain type='test'><name>instance-0000abcd</name><uuid>{uuid}</uuid>"
           f"<metadata>{NOVA_WEB.replace('web-1', 'ephemeral')}</metadata>"
           "<memory unit='KiB'>262144</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>")
    clock = Clock()
    collector = LibvirtCollector("test:///default", clock=clock)
    dom = default_conn.createXML(xml, 0)  # transient: gone from libvirt once destroyed
    try:
        collector.collect()
        clock.now += 10
        samples = of(collector.collect(), uuid)
        assert {s.dimensions["hostname"] for s in samples} == {"ephemeral"}
        assert any(s.name == "cpu.utilization_perc" for s in samples)
        assert uuid in collector.tracked_domains
        dom.destroy()
        dom = None
        clock.now += 10
        samples = collector.collect()
        assert not of(samples, uuid) and samples  # the other domain ("test") still reports
        assert uuid not in collector.tracked_domains
        assert len(collector.tracked_domains) == 1
    finally:
        if dom is not None:
            dom.destroy()
        collector.close()


# -- the bulk path (qemu) ---------------------------------------------------------------------------------

class NoPerDomainCalls:
    """A real test-driver domain that refuses the per-domain stats calls the bulk path must not make.

    (The fakes here spell their methods as libvirt-python does: ``UUIDString``, ``getAllDomainStats``.)
    """

    def __init__(self, dom: Any, ids: dict[str, int], xml_reads: list[str]) -> None:
        self._dom, self._ids, self._xml_reads = dom, ids, xml_reads

    def UUIDString(self) -> str:
        return self._dom.UUIDString()

    def name(self) -> str:
        return self._dom.name()

    def ID(self) -> int:
        return self._ids.get(self._dom.name(), self._dom.ID())

    def XMLDesc(self, flags: int = 0) -> str:
        self._xml_reads.append(self._dom.name())
        return self._dom.XMLDesc(flags)

    def __getattr__(self, name: str) -> Any:
        def refuse(*args: Any) -> Any:
            raise AssertionError(f"per-domain call {name}() on the bulk path")
        return refuse


class QemuLike:
    """A test-driver connection answering getAllDomainStats with every group filled, as qemu does."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.stats: dict[str, dict[str, Any]] = {}
        self.ids: dict[str, int] = {}
        self.bulk_calls: list[tuple[int, int]] = []
        self.xml_reads: list[str] = []

    def getAllDomainStats(self, stats: int = 0, flags: int = 0) -> list[tuple[Any, dict[str, Any]]]:
        self.bulk_calls.append((stats, flags))
        return [(NoPerDomainCalls(dom, self.ids, self.xml_reads), dict(self.stats[dom.name()]))
                for dom in self.real.listAllDomains()]

    def close(self) -> int:
        return self.real.close()


def qemu_stats(cpu_ns: int, rd_bytes: int = 4096) -> dict[str, Any]:
    return {"state.state": 1, "state.reason": 1, "cpu.time": cpu_ns, "cpu.user": 0, "cpu.system": 0,
            "vcpu.current": 4, "vcpu.maximum": 4, "vcpu.0.state": 1, "vcpu.0.time": cpu_ns,
            "balloon.current": 4194304, "balloon.maximum": 4194304,
            "balloon.available": 4096000, "balloon.unused": 1024000, "balloon.rss": 3000000,
            "block.count": 2,
            "block.0.name": "vda", "block.0.path": "/var/lib/nova/instances/x/disk",
            "block.0.rd.reqs": 10, "block.0.rd.bytes": rd_bytes, "block.0.wr.reqs": 5, "block.0.wr.bytes": 2048,
            "block.1.name": "hdc",  # an empty cdrom: a name, no counters
            "net.count": 1, "net.0.name": "tap3f1c2a4b-1e", "net.0.rx.bytes": 1000, "net.0.rx.pkts": 10,
            "net.0.rx.errs": 0, "net.0.rx.drop": 1, "net.0.tx.bytes": 2000, "net.0.tx.pkts": 20,
            "net.0.tx.errs": 0, "net.0.tx.drop": 0}


@pytest.fixture
def qemu_like(monkeypatch: pytest.MonkeyPatch, default_conn: Any) -> QemuLike:
    fake = QemuLike(libvirt.openReadOnly("test:///default"))
    monkeypatch.setattr(libvirt, "openReadOnly", lambda uri: fake)
    return fake


def test_bulk_path_one_call_per_interval_exact_values(qemu_like: QemuLike, default_conn: Any) -> None:
    uuid = default_conn.lookupByName("test").UUIDString()
    clock = Clock(100.0)
    collector = LibvirtCollector("test:///default", clock=clock)
    qemu_like.stats["test"] = qemu_stats(5_000_000_000)
    first = by_series(of(collector.collect(), uuid))
    assert ("cpu.utilization_perc", None) not in first
    clock.now = 110.0
    qemu_like.stats["test"] = qemu_stats(25_000_000_000, rd_bytes=8192)
    second = by_series(of(collector.collect(), uuid))

    assert len(qemu_like.bulk_calls) == 2  # one libvirt call per interval for the whole host
    assert qemu_like.xml_reads == ["test"]  # the domain XML once, not every interval
    # 20 s of cpu in 10 s: 2 cores busy -> 200 % (monasca-agent's meaning), 50 % of the 4 vcpus
    assert second["cpu.utilization_perc", None].value == pytest.approx(200)
    assert second["cpu.utilization_norm_perc", None].value == pytest.approx(50)
    assert second["cpu.time_ns", None].value == 25_000_000_000
    assert second["mem.total_mb", None].value == pytest.approx(4000)
    assert second["mem.free_mb", None].value == pytest.approx(1000)
    assert second["mem.used_mb", None].value == pytest.approx(3000)
    assert second["mem.free_perc", None].value == pytest.approx(25)
    assert second["io.read_bytes_sec", "vda"].value == 8192 and first["io.read_bytes_sec", "vda"].value == 4096
    assert second["io.write_ops_sec", "vda"].value == 5
    assert not [key for key in second if key[1] == "hdc"]
    assert second["net.in_bytes_sec", "tap3f1c2a4b-1e"].value == 1000
    assert second["net.out_packets_sec", "tap3f1c2a4b-1e"].value == 20
    assert second["net.in_dropped_sec", "tap3f1c2a4b-1e"].value == 1
    assert {s.kind for key, s in second.items() if key[0].startswith(("io.", "net.", "cpu.time"))} == {"counter"}


def test_bulk_path_without_monitor_stats_skips_instead_of_blocking(qemu_like: QemuLike, default_conn: Any) -> None:
    # Under NOWAIT qemu leaves out what needs a busy domain's monitor; falling back to blockStats() would
    # block on that same monitor (NoPerDomainCalls fails the test if it is tried).
    uuid = default_conn.lookupByName("test").UUIDString()
    collector = LibvirtCollector("test:///default", clock=Clock())
    qemu_like.stats["test"] = qemu_stats(5_000_000_000)
    collector.collect()
    busy = {k: v for k, v in qemu_stats(6_000_000_000).items()
            if not k.startswith("block.0.") or k == "block.0.name"}
    qemu_like.stats["test"] = busy
    series = by_series(of(collector.collect(), uuid))
    assert not [key for key in series if key[0].startswith("io.")]
    assert ("net.in_bytes_sec", "tap3f1c2a4b-1e") in series


def test_restarted_domain_or_reset_counter_gives_no_utilization(qemu_like: QemuLike, default_conn: Any) -> None:
    uuid = default_conn.lookupByName("test").UUIDString()
    clock = Clock()
    collector = LibvirtCollector("test:///default", clock=clock)

    def utilization(cpu_ns: int) -> list[Sample]:
        clock.now += 10
        qemu_like.stats["test"] = qemu_stats(cpu_ns)
        return [s for s in of(collector.collect(), uuid) if s.name.startswith("cpu.utilization")]

    assert not utilization(50_000_000_000)
    assert utilization(60_000_000_000)
    qemu_like.ids["test"] = 7  # the domain was restarted: new id, cpu time from zero
    assert not utilization(1_000_000_000)
    assert utilization(2_000_000_000)
    assert not utilization(1_500_000_000)  # a counter going backwards is not negative usage


def test_driver_without_bulk_stats_uses_per_domain_calls(
        monkeypatch: pytest.MonkeyPatch, default_conn: Any) -> None:
    real = libvirt.openReadOnly("test:///default")
    calls: list[str] = []

    class NoBulk:
        def getAllDomainStats(self, stats: int = 0, flags: int = 0) -> Any:
            calls.append("bulk")
            error = libvirt.libvirtError("this function is not supported by the connection driver")
            error.err = (libvirt.VIR_ERR_NO_SUPPORT, 0, "not supported", 2, None, None, None, 0, 0)
            raise error

        def listAllDomains(self, flags: int = 0) -> Any:
            calls.append("list")
            return real.listAllDomains(flags)

        def close(self) -> int:
            return real.close()

    monkeypatch.setattr(libvirt, "openReadOnly", lambda uri: NoBulk())
    collector = LibvirtCollector("test:///default", clock=Clock())
    for _ in range(3):
        names = {s.name for s in collector.collect()}
        assert {"host_alive_status", "cpu.time_ns", "io.read_bytes_sec", "net.in_bytes_sec", "mem.total_mb"} <= names
    assert calls == ["bulk", "list", "list", "list"]  # asked once, then remembered


# -- failures ---------------------------------------------------------------------------------------------

def test_broken_uri_yields_nothing_and_one_warning_per_outage(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    path = tmp_path / "later.xml"
    collector = LibvirtCollector(f"test://{path}", clock=Clock())
    for _ in range(5):
        assert collector.collect() == []
    assert len(warnings(caplog)) == 1
    assert str(path) in warnings(caplog)[0].getMessage()
    path.write_text(HOST_XML)  # the host comes back
    assert of(collector.collect(), WEB_UUID)
    assert any("reachable again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert len(warnings(caplog)) == 1


class Libvirtd:
    """Stands in for libvirtd across restarts: connections it handed out die when it stops."""

    def __init__(self, open_real: Any, uri: str) -> None:
        self.open_real, self.uri = open_real, uri
        self.up = True
        self.opened = 0
        self.connections: list[Libvirtd.Connection] = []

    class Connection:
        def __init__(self, real: Any) -> None:
            self.real, self.alive = real, True

        def getAllDomainStats(self, stats: int = 0, flags: int = 0) -> Any:
            if not self.alive:
                raise libvirt.libvirtError("internal error: client socket is closed")
            return self.real.getAllDomainStats(stats, flags)

        def close(self) -> int:
            return self.real.close()

    def open(self, uri: str) -> Connection:
        if not self.up:
            raise libvirt.libvirtError("Failed to connect socket to '/var/run/libvirt/libvirt-sock-ro'")
        self.opened += 1
        connection = Libvirtd.Connection(self.open_real(self.uri))
        self.connections.append(connection)
        return connection

    def restart(self, stay_down: bool) -> None:
        for connection in self.connections:
            connection.alive = False
        self.up = not stay_down


def test_reconnects_after_libvirtd_restarts(
        monkeypatch: pytest.MonkeyPatch, host_uri: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    libvirtd = Libvirtd(libvirt.openReadOnly, host_uri)
    monkeypatch.setattr(libvirt, "openReadOnly", libvirtd.open)
    collector = LibvirtCollector("qemu:///system", clock=Clock())
    assert of(collector.collect(), WEB_UUID) and libvirtd.opened == 1

    libvirtd.restart(stay_down=False)  # a quick restart: the stale connection fails, a fresh one works
    assert of(collector.collect(), WEB_UUID) and libvirtd.opened == 2
    assert not warnings(caplog)

    libvirtd.restart(stay_down=True)  # a long outage: one warning, however many intervals it lasts
    for _ in range(4):
        assert collector.collect() == []
    assert len(warnings(caplog)) == 1

    libvirtd.up = True
    assert of(collector.collect(), WEB_UUID)
    libvirtd.restart(stay_down=True)  # a second outage gets its own warning
    assert collector.collect() == []
    assert len(warnings(caplog)) == 2


def test_without_libvirt_python(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "libvirt", None)  # makes `import libvirt` raise ImportError
    assert LibvirtCollector.available() is False
    collector = LibvirtCollector()
    assert collector.collect() == [] and collector.collect() == []
    assert len(warnings(caplog)) == 1
