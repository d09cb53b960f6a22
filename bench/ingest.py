"""Ingest throughput: nephoscope (Monasca JSON or native columnar) vs VictoriaMetrics.

Phase 1 - nephoscope: start the server, let ``--clients`` forked client
processes each pre-encode their share of a (series x points) grid of samples,
then all send together over keep-alive connections for ``--seconds`` (or
until the pool is used up).  Only 2xx answers count; non-2xx and transport
errors are reported.  Server CPU/RSS (process tree) and the clients' own CPU
are measured - client and server share this machine's cores.

Phase 2 - VictoriaMetrics: the SAME samples (same series, timestamps, values)
are pushed, with the same client machinery, through
  * vm-rows : /api/v1/import JSON lines, one sample per line, same batching as
              the nephoscope format (the Monasca-like comparison),
  * vm-json : /api/v1/import JSON lines, one line per series with many points
              (VictoriaMetrics' fastest text path),
  * prom    : /api/v1/import/prometheus text with ms timestamps,
each on a fresh VictoriaMetrics; then nephoscope/victoria ratios are printed.

Targets: monasca >= 250,000 samples/s (batches of 1,000); native >= 2,000,000 samples/s.
"""

from __future__ import annotations

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import datasets as D  # noqa: E402
import numpy as np  # noqa: E402
from common import MB, Report, log  # noqa: E402

TARGETS = {"monasca": 250_000, "native": 2_000_000}
VM_PATHS = {"vm-rows": "/api/v1/import", "vm-json": "/api/v1/import", "prom": "/api/v1/import/prometheus"}


def parse_args(argv=None):
    ap = common.make_parser(
        __doc__,
        epilog="examples:\n"
        "  .venv/bin/python bench/ingest.py --format monasca\n"
        "  .venv/bin/python bench/ingest.py --format native --seconds 30 --clients 4\n"
        "  .venv/bin/python bench/ingest.py --systems victoria --format native   # reference only\n",
    )
    ap.add_argument("--format", choices=["monasca", "native"], default="monasca", help="nephoscope ingest API")
    ap.add_argument("--seconds", type=float, default=20.0, help="max send time per phase")
    ap.add_argument("--clients", type=int, default=4, help="client processes (one keep-alive connection each)")
    ap.add_argument("--hosts", type=int, default=2500, help="hosts in the dataset (8 series per host by default)")
    ap.add_argument("--groups", default="all", help="metric groups (see datasets.py), e.g. 'cpu,mem'")
    ap.add_argument("--batch", type=int, default=1000, help="metrics per Monasca request (monasca format)")
    ap.add_argument("--series-per-batch", type=int, default=2000,
                    help="series per native / vm-json / prom request")
    ap.add_argument("--points-per-batch", type=int, default=25, help="points per series per native request")
    ap.add_argument("--compression", choices=["zstd", "gzip", "none"], default="zstd",
                    help="Content-Encoding of native batches")
    ap.add_argument("--level", type=int, default=3, help="zstd/gzip level for native batches")
    ap.add_argument("--pool-samples", type=float, default=None,
                    help="samples pre-encoded per phase (default: 1.5 x target rate x seconds); every phase "
                         "sends the same samples, so a faster system simply finishes its pool early")
    ap.add_argument("--pool-mb", type=float, default=3000.0,
                    help="cap on pre-encoded bytes per phase (all clients together)")
    ap.add_argument("--vm-formats", default="vm-rows,vm-json,prom",
                    help="VictoriaMetrics import paths to compare: vm-rows, vm-json, prom")
    common.add_common_args(ap)
    return ap.parse_args(argv)


def make_builders(ds: D.Dataset, nclients: int, points: int, kind: str, args, budget_bytes: float):
    """One pool builder per client; client w owns a contiguous slice of the series."""
    parts = np.array_split(np.arange(ds.n_series, dtype=np.int64), nclients)
    per_client = budget_bytes / nclients
    comp = None if args.compression == "none" else args.compression

    def builder_for(rows):
        def build():
            used = 0
            if kind == "monasca":
                it = D.row_batches(ds, rows, points, args.batch, D.render_monasca)
            elif kind == "vm-rows" and args.format == "monasca":
                it = D.row_batches(ds, rows, points, args.batch, D.render_vm_rows)
            else:
                it = D.columnar_batches(ds, rows, points, args.series_per_batch, args.points_per_batch, kind,
                                        compression=comp, level=args.level)
            for b in it:
                yield (b.body, b.samples)
                used += len(b.body)
                if used >= per_client:
                    return

        return build

    return [builder_for(r) for r in parts if len(r)]


def result_metrics(rep: Report, prefix: str, res: common.LoadResult, target: float | None = None):
    rate = rep.add(f"{prefix}.samples_per_s", res.rate, "samples/s", target=target)
    rep.add(f"{prefix}.samples_acked", res.samples_ok, "samples")
    non2xx = sum(v for k, v in res.status.items() if not (200 <= int(k) < 300))
    rep.add(f"{prefix}.non_2xx_answers", non2xx, "requests",
            note=", ".join(f"{k}x{v}" for k, v in sorted(res.status.items())) if non2xx else "")
    rep.add(f"{prefix}.throttled_retries", res.throttled, "requests",
            note="429/503 answers retried after Retry-After" + (
                f"; {res.samples_abandoned:,} samples still throttled at the deadline" if res.samples_abandoned else ""))
    rep.add(f"{prefix}.samples_failed", res.samples_failed, "samples", note="final non-2xx or transport error")
    rep.add(f"{prefix}.transport_errors", sum(res.errors.values()), "requests",
            note=", ".join(f"{k}x{v}" for k, v in res.errors.items()))
    rep.add(f"{prefix}.requests", res.requests, "requests")
    rep.add(f"{prefix}.elapsed", res.elapsed_s, "s",
            note="pool exhausted before deadline" if res.pool_exhausted else "")
    rep.add(f"{prefix}.latency_p50", res.latency_ms.get("p50"), "ms")
    rep.add(f"{prefix}.latency_p95", res.latency_ms.get("p95"), "ms")
    s = res.server
    if "cpu_cores" in s:
        rep.add(f"{prefix}.server_cpu", s["cpu_cores"], "cores")
        rep.add(f"{prefix}.server_rss_peak", s["rss_peak"] / MB, "MiB")
    rep.add(f"{prefix}.client_cpu", res.client_cpu_send_s / max(res.elapsed_s, 1e-9), "cores",
            note=f"{res.clients} client processes")
    rep.add(f"{prefix}.machine_cpu_util", 100 * s.get("machine_cpu_util", 0), "%")
    if "cpu_cores" in s:
        accounted = s["cpu_cores"] + (res.client_cpu_send_s + s.get("harness_cpu_s", 0)) / max(res.elapsed_s, 1e-9)
        other = common.note_contention(rep, prefix, s, accounted)
        rep.add(f"{prefix}.other_cpu", other, "cores",
                note="busy CPU not used by server/clients/harness: kernel network work, other users"
                + (f"; busiest other: {s['other_processes'][0]['cmd'][:60]}" if s.get("other_processes") else ""))
    rep.add(f"{prefix}.wire_bytes_per_sample", res.pool_bytes / max(1, res.pool_samples), "B")
    if res.error_samples:
        rep.note(f"{prefix}: first non-2xx answers: {res.error_samples[:3]}")
    d = res.summary()
    d.pop("error_samples", None)
    rep.detail(prefix, d)
    return rate


def main(argv=None) -> int:
    args = parse_args(argv)
    systems = common.systems_of(args)
    rep = Report(f"ingest_{args.format}", common.params_of(args))
    target = TARGETS[args.format]
    pool_samples = int(args.pool_samples or 1.5 * target * args.seconds)
    budget = args.pool_mb * MB
    probe = D.Dataset(hosts=args.hosts, groups=args.groups, points=1)
    points = max(1, math.ceil(pool_samples / max(1, probe.n_series)))
    hosts = args.hosts
    limit = D.max_recent_points() // 2  # leave room: the run itself takes minutes
    if points > limit:  # keep every timestamp well inside the 24 h raw retention: widen instead
        hosts = math.ceil(args.hosts * points / limit)
        log(f"pool needs {points:,} points per series; using {hosts:,} hosts instead of {args.hosts:,} "
            f"to stay inside the 24 h raw retention")
        points = math.ceil(pool_samples / max(1, D.Dataset(hosts=hosts, groups=args.groups, points=1).n_series))
    ds = D.Dataset(hosts=hosts, groups=args.groups, points=points, start_ms=D.past_window(points))
    rep.detail("dataset", ds.describe())
    log(f"dataset: {ds.n_series:,} series x {points:,} points = {ds.n_samples:,} samples "
        f"({args.clients} clients, pool cap {args.pool_mb:,.0f} MB)")
    rates: dict[str, float] = {}

    if "nephoscope" in systems:
        with common.nephoscope_session(rep, args) as srv:
            if args.format == "monasca":
                path, headers = "/v2.0/metrics", {"Content-Type": "application/json"}
            else:
                path, headers = "/v1/points", {"Content-Type": "application/msgpack"}
                if args.compression != "none":
                    headers["Content-Encoding"] = args.compression
            headers["X-Auth-Token"] = args.token
            res = common.run_load(f"nephoscope {args.format}", srv.url, path, headers,
                                  make_builders(ds, args.clients, points, args.format, args, budget),
                                  args.seconds, server_pid=srv.pid, expected_samples=ds.n_samples)
            res.clients = args.clients
            rates["nephoscope"] = result_metrics(rep, f"nephoscope.{args.format}", res, target)

    if "victoria" in systems:
        from victoria import VictoriaMetrics, version

        rep.detail("victoria_version", version())
        for fmt in [f.strip() for f in args.vm_formats.split(",") if f.strip()]:
            if fmt not in VM_PATHS:
                rep.error("victoria", f"unknown --vm-formats entry {fmt!r}")
                continue
            vm = VictoriaMetrics(work_dir=args.work_dir, keep_data=args.keep_data)
            try:
                vm.start()
                res = common.run_load(f"victoria {fmt}", vm.url, VM_PATHS[fmt], {},
                                      make_builders(ds, args.clients, points, fmt, args, budget),
                                      args.seconds, server_pid=vm.pid, expected_samples=ds.n_samples)
                res.clients = args.clients
                rates[fmt] = result_metrics(rep, f"victoria.{fmt}", res)
                vm.force_flush()
                stored = vm.rows_stored()
                rep.add(f"victoria.{fmt}.rows_stored_after_flush", stored, "samples",
                        note="VictoriaMetrics acks before data is durable/searchable")
            except Exception as e:
                rep.error(f"victoria {fmt}", e)
            finally:
                vm.stop()

    vm_fast = {k: v for k, v in rates.items() if k in ("vm-json", "prom")}
    if vm_fast:
        best = max(vm_fast, key=vm_fast.get)
        rep.add("victoria.fastest_path", best)
        rep.add("victoria.fastest_samples_per_s", vm_fast[best], "samples/s")
    if "nephoscope" in rates:
        if "vm-rows" in rates and rates["vm-rows"] > 0:
            rep.add("ratio.nephoscope_vs_vm_json_import", rates["nephoscope"] / rates["vm-rows"], "x",
                    note="same samples & batching, VM row-wise JSON lines")
        if vm_fast:
            rep.add("ratio.nephoscope_vs_vm_fastest", rates["nephoscope"] / vm_fast[best], "x", note=best)
    rep.note("VictoriaMetrics answers 204 once samples are buffered in memory (flushed ~1 s later); "
             "nephoscope is specified to answer only once durable.")
    rep.note(f"2 cores are shared by the server and the {args.clients} client processes; see *.client_cpu.")
    return rep.finish(write=not args.no_write, results_dir=args.results_dir, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
