"""Prometheus remote write 1.0 ingest: nephoscope's /api/v1/write vs VictoriaMetrics's own /api/v1/write.

The same snappy-compressed ``prometheus.WriteRequest`` bodies go to both, built the way Prometheus
sends them: time-major (every series at one scrape, then the next), one sample per TimeSeries
entry, labels sorted, ``--samples-per-send`` samples per request (Prometheus 3's default
max_samples_per_send is 2,000). ``--clients`` forked client processes pre-encode their share of
a (series x points) grid and then send together over keep-alive connections for ``--seconds``
(or until the pool is used up); only 2xx answers count. Phase 1 runs nephoscope (answers once
the samples are durable: WAL + fsync), phase 2 a fresh VictoriaMetrics (answers once buffered),
then the ratio is printed. ``--profile`` records the nephoscope server with py-spy during its
phase and lists where its time goes.

Goal: nephoscope / VictoriaMetrics >= 1.0 samples/s.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import cramjam  # noqa: E402
import datasets as D  # noqa: E402
import numpy as np  # noqa: E402
from common import MB, Report, log  # noqa: E402
from ingest import result_metrics  # noqa: E402

from nephoscope.metrics.ingest.proto import prometheus_v1_pb2 as prompb  # noqa: E402

TARGET_RATIO = 1.0
HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}


def parse_args(argv=None):
    ap = common.make_parser(
        __doc__,
        epilog="examples:\n"
        "  .venv/bin/python bench/remote_write.py\n"
        "  .venv/bin/python bench/remote_write.py --seconds 10 --profile\n"
        "  .venv/bin/python bench/remote_write.py --systems victoria   # the reference only\n",
    )
    ap.add_argument("--seconds", type=float, default=15.0, help="max send time per phase")
    ap.add_argument("--clients", type=int, default=3, help="client processes (one keep-alive connection each)")
    ap.add_argument("--hosts", type=int, default=2500, help="hosts in the dataset (8 series per host by default)")
    ap.add_argument("--groups", default="all", help="metric groups (see datasets.py), e.g. 'cpu,mem'")
    ap.add_argument("--samples-per-send", type=int, default=2000, help="samples per request (one per TimeSeries)")
    ap.add_argument("--points", type=int, default=300, help="scrapes per series in the pool (10 s apart)")
    ap.add_argument("--pool-mb", type=float, default=1200.0, help="cap on pre-encoded bytes (all clients together)")
    ap.add_argument("--profile", action="store_true", help="py-spy the nephoscope server during its phase")
    common.add_common_args(ap)
    return ap.parse_args(argv)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class Encoder:
    """WriteRequest bytes as protobuf writes them: each series' labels serialized once by the protobuf
    library, each sample appended as its canonical encoding (checked against the library below)."""

    def __init__(self, ds: D.Dataset) -> None:
        self.ds = ds
        self.labels: dict[int, bytes] = {}

    def label_bytes(self, row: int) -> bytes:
        found = self.labels.get(row)
        if found is None:
            series = prompb.TimeSeries()
            for key, value in sorted({"__name__": self.ds.series_name(row), **self.ds.series_dims(row)}.items()):
                series.labels.add(name=key, value=value)
            found = self.labels[row] = series.SerializeToString()
        return found

    def body(self, rows: np.ndarray, timestamps: np.ndarray, values: np.ndarray) -> bytes:
        parts = []
        for row, timestamp, value in zip(rows.tolist(), timestamps.tolist(), values.tolist()):
            sample = (b"\x09" + struct.pack("<d", value) if value != 0 else b"") + b"\x10" + _varint(timestamp)
            entry = self.label_bytes(row) + b"\x12" + _varint(len(sample)) + sample
            parts.append(b"\x0a" + _varint(len(entry)) + entry)
        return b"".join(parts)


def check_encoder(ds: D.Dataset) -> None:
    rows = np.arange(min(50, ds.n_series))
    timestamps, values = ds.block(rows, 0, 1)
    request = prompb.WriteRequest()
    for row, value in zip(rows.tolist(), values[:, 0].tolist()):
        series = request.timeseries.add()
        for key, label in sorted({"__name__": ds.series_name(row), **ds.series_dims(row)}.items()):
            series.labels.add(name=key, value=label)
        series.samples.add(value=value, timestamp=int(timestamps[0]))
    ours = Encoder(ds).body(rows, np.full(len(rows), timestamps[0]), values[:, 0])
    assert ours == request.SerializeToString(), "the bench's encoder differs from protobuf's"


def make_builders(ds: D.Dataset, clients: int, points: int, per_send: int, budget_bytes: float):
    """One pool builder per client; client w owns a contiguous slice of the series, sent time-major."""
    parts = np.array_split(np.arange(ds.n_series, dtype=np.int64), clients)
    per_client = budget_bytes / clients

    def builder_for(rows):
        def build():
            encoder = Encoder(ds)
            used = 0
            for batch in D.row_batches(ds, rows, points, per_send,
                                       lambda _ds, r, t, v: encoder.body(r, t, v)):
                body = bytes(cramjam.snappy.compress_raw(batch.body))
                yield (body, batch.samples)
                used += len(body)
                if used >= per_client:
                    return

        return build

    return [builder_for(r) for r in parts if len(r)]


def profile(pid: int, seconds: float, rep: Report, work_dir: str) -> subprocess.Popen | None:
    """py-spy recording the server from now until interrupted."""
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(spy):
        rep.error("profile", "py-spy is not installed (pip install py-spy)")
        return None
    out = tempfile.NamedTemporaryFile(prefix="remote-write-", suffix=".txt", dir=work_dir, delete=False).name
    rep.detail("profile_file", out)
    # --gil: only the thread holding the GIL, i.e. the Python work (waiting threads are not CPU). It runs
    # until interrupted after the sending phase (the clients encode first, with the server idle).
    return subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(int(seconds) + 3600), "-r", "50", "-f", "raw",
                             "--gil", "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(path: str, rep: Report, top: int = 15) -> None:
    """Self time per function and inclusive time per nephoscope function, from py-spy's raw stacks."""
    own, inclusive, total = Counter(), Counter(), 0
    with open(path) as handle:
        for line in handle:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            own[frames[-1].split(" (")[0] + " " + frames[-1].rpartition("/")[2]] += n
            for frame in set(frames):
                if "nephoscope/" in frame:
                    inclusive[frame.split(" (")[0] + " " + frame.rpartition("/")[2]] += n
    if not total:
        rep.note("profile: no samples")
        return
    rep.detail("profile_self", [(name, round(100 * n / total, 1)) for name, n in own.most_common(top)])
    rep.detail("profile_inclusive", [(name, round(100 * n / total, 1)) for name, n in inclusive.most_common(top)])
    log("py-spy, share of server samples (self):")
    for name, n in own.most_common(top):
        log(f"  {100 * n / total:5.1f}%  {name}")
    log("py-spy, share of server samples (inclusive, nephoscope functions):")
    for name, n in inclusive.most_common(top):
        log(f"  {100 * n / total:5.1f}%  {name}")


def main(argv=None) -> int:
    args = parse_args(argv)
    systems = common.systems_of(args)
    rep = Report("remote_write", common.params_of(args))
    ds = D.Dataset(hosts=args.hosts, groups=args.groups, points=args.points, start_ms=D.past_window(args.points))
    check_encoder(ds)
    rep.detail("dataset", ds.describe())
    log(f"dataset: {ds.n_series:,} series x {args.points} points = {ds.n_samples:,} samples; "
        f"{args.samples_per_send} samples per request, {args.clients} clients")
    budget = args.pool_mb * MB
    rates: dict[str, float] = {}

    if "nephoscope" in systems:
        with common.nephoscope_session(rep, args) as srv:
            spy = profile(srv.pid, args.seconds, rep, args.work_dir) if args.profile and srv.pid else None
            res = common.run_load("nephoscope remote write", srv.url, "/api/v1/write",
                                  {**HEADERS, "X-Auth-Token": args.token},
                                  make_builders(ds, args.clients, args.points, args.samples_per_send, budget),
                                  args.seconds, server_pid=srv.pid, expected_samples=ds.n_samples)
            res.clients = args.clients
            rates["nephoscope"] = result_metrics(rep, "nephoscope.remote_write", res)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=120)
                summarize_profile(rep.details["profile_file"], rep)

    if "victoria" in systems:
        from victoria import VictoriaMetrics, version

        rep.detail("victoria_version", version())
        vm = VictoriaMetrics(work_dir=args.work_dir, keep_data=args.keep_data)
        try:
            vm.start()
            res = common.run_load("victoria remote write", vm.url, "/api/v1/write", HEADERS,
                                  make_builders(ds, args.clients, args.points, args.samples_per_send, budget),
                                  args.seconds, server_pid=vm.pid, expected_samples=ds.n_samples)
            res.clients = args.clients
            rates["victoria"] = result_metrics(rep, "victoria.remote_write", res)
            vm.force_flush()
            rep.add("victoria.rows_stored_after_flush", vm.rows_stored(), "samples",
                    note="VictoriaMetrics acks before data is durable/searchable")
        except Exception as e:  # noqa: BLE001 - reported, the bench goes on
            rep.error("victoria", e)
        finally:
            vm.stop()

    if rates.get("victoria") and "nephoscope" in rates:
        rep.add("ratio.nephoscope_vs_victoria", rates["nephoscope"] / rates["victoria"], "x", target=TARGET_RATIO,
                note="same snappy WriteRequest bodies, same clients")
    rep.note("VictoriaMetrics answers 204 once samples are buffered in memory; nephoscope once they are durable.")
    rep.note(f"2 cores are shared by the server and the {args.clients} client processes; see *.client_cpu.")
    return rep.finish(write=not args.no_write, results_dir=args.results_dir, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
