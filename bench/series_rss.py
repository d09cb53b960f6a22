"""Server memory with many active series: RSS after 1,000,000 series get points.

Builds ``--series`` series of OpenStack instances (VMs with resource_id UUID,
tenant_id, hostname, region, zone, service, device; 8 metrics per VM), then
sends ``--rounds`` rounds; in every round each series gets ``--points-per-round``
new points (native endpoint, ``--series-per-batch`` series per request).
RSS of the server process tree is sampled throughout; after the last round
and ``--settle`` seconds the final RSS / PSS is read.  The same load is sent
to VictoriaMetrics (``/api/v1/import`` JSON lines) for reference.

Target: nephoscope RSS <= 1.5 GiB with 1 M active series (judged on the peak).
"""

from __future__ import annotations

import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import datasets as D  # noqa: E402
import numpy as np  # noqa: E402
from common import GB, MB, Report, log  # noqa: E402

TARGET_GIB = 1.5


def parse_args(argv=None):
    ap = common.make_parser(
        __doc__,
        epilog="examples:\n"
        "  .venv/bin/python bench/series_rss.py\n"
        "  .venv/bin/python bench/series_rss.py --series 200000 --rounds 5\n"
        "  .venv/bin/python bench/series_rss.py --systems victoria\n",
    )
    ap.add_argument("--series", type=int, default=1_000_000, help="active series")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; every series gets points each round")
    ap.add_argument("--points-per-round", type=int, default=1, help="points per series per round (10 s apart)")
    ap.add_argument("--series-per-batch", type=int, default=10_000, help="series per request")
    ap.add_argument("--concurrency", type=int, default=2, help="concurrent upload connections")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds to wait after the last round")
    ap.add_argument("--compression", choices=["zstd", "gzip", "none"], default="zstd",
                    help="Content-Encoding of native batches")
    common.add_common_args(ap)
    return ap.parse_args(argv)


class RoundSource:
    """Per-batch streams so every round continues each series' walk/counter state."""

    def __init__(self, ds: D.Dataset, n_series: int, spb: int, kind: str):
        self.ds = ds
        rows = np.arange(n_series, dtype=np.int64)
        self.groups = [rows[g:g + spb] for g in range(0, n_series, spb)]
        self.streams = [ds.stream(r) for r in self.groups]
        self.tables = []
        # pre-encode series tables / label prefixes before the server is measured
        with common.progress() as prog:
            tk = prog.add_task(f"pre-encoding {kind} series tables", total=n_series, info="")
            for r in self.groups:
                if kind == "native":
                    self.tables.append(D.encode_series_table(ds, r))
                else:
                    for x in r:
                        ds.vm_metric(int(x))
                prog.update(tk, advance=len(r))

    def bodies(self, kind: str, ppr: int, compression):
        for i, (rows, st) in enumerate(zip(self.groups, self.streams)):
            ts, vals = st.take(ppr)
            if kind == "native":
                body, headers = D.render_native(self.ds, rows, ts, vals, compression=compression,
                                                series_table=self.tables[i])
                yield body, vals.size, headers
            else:
                yield D.render_vm_columnar(self.ds, rows, ts, vals), vals.size


def run_rounds(rep: Report, prefix: str, url: str, headers: dict, pid: int | None, src: RoundSource, kind: str,
               args) -> None:
    comp = None if args.compression == "none" else args.compression
    n = len(np.concatenate(src.groups)) if src.groups else 0
    mon = common.ProcMonitor(pid, interval=0.5).start()
    t0 = time.monotonic()
    rss_rounds = []
    for r in range(args.rounds):
        st = common.post_stream(url, src.bodies(kind, args.points_per_round, comp), headers=headers,
                                concurrency=args.concurrency, total_samples=n * args.points_per_round,
                                label=f"{prefix} round {r + 1}/{args.rounds}")
        rss = common.tree_rss(pid)["rss"] if pid else None
        rss_rounds.append(rss)
        log(f"{prefix} round {r + 1}: {st['samples_per_s']:,.0f} samples/s, RSS {rss / MB if rss else 0:,.0f} MiB")
        if "accepted" in st and st["accepted"] != n * args.points_per_round:
            rep.error(prefix, f"round {r + 1}: accepted {st['accepted']:,} of {n * args.points_per_round:,}")
    load_s = time.monotonic() - t0
    rep.add(f"{prefix}.load_samples_per_s", n * args.points_per_round * args.rounds / load_s, "samples/s",
            note="includes client-side encoding (series table in every batch)")
    if args.settle > 0:
        with common.progress() as prog:
            tk = prog.add_task(f"{prefix} settling", total=args.settle, info="")
            t_end = time.monotonic() + args.settle
            while time.monotonic() < t_end:
                time.sleep(0.25)
                prog.update(tk, completed=args.settle - max(0.0, t_end - time.monotonic()))
    res = mon.stop()
    if not pid:
        rep.note(f"{prefix}: no server pid (use --server-pid with --url) - RSS not measured")
        return
    final = common.tree_rss(pid, pss=True)
    peak = max(res["rss_peak"], final["rss"], *[x for x in rss_rounds if x])
    for i, x in enumerate(rss_rounds):
        rep.add(f"{prefix}.rss_after_round_{i + 1}", x / GB, "GiB")
    rep.add(f"{prefix}.rss_peak", peak / GB, "GiB", target=TARGET_GIB if prefix == "nephoscope" else None, op="<=",
            note=f"sampled every 0.5 s over {res['elapsed_s']:.0f} s")
    rep.add(f"{prefix}.rss_final", final["rss"] / GB, "GiB", note=f"after {args.settle:.0f} s settle")
    if final.get("pss"):
        rep.add(f"{prefix}.pss_final", final["pss"] / GB, "GiB",
                note=f"{final['processes']} process(es); PSS splits shared pages")
    rep.add(f"{prefix}.rss_bytes_per_series", final["rss"] / max(1, n), "B/series")
    rep.add(f"{prefix}.server_cpu_s", res.get("cpu_s"), "s")


def main(argv=None) -> int:
    args = parse_args(argv)
    systems = common.systems_of(args)
    rep = Report("series_rss", common.params_of(args))
    points = args.rounds * args.points_per_round
    vms = math.ceil(args.series / 8)
    ds = D.Dataset(hosts=vms, entity="vm", points=points, start_ms=D.past_window(points))
    n = min(args.series, ds.n_series)
    rep.detail("dataset", {**ds.describe(), "series_used": n})
    rep.add("series", n, "series", note=f"{vms:,} instances x 8 metrics, {points} point(s) each")
    log(f"{n:,} series ({vms:,} instances), {args.rounds} rounds x {args.points_per_round} point(s)")

    if "nephoscope" in systems:
        src = RoundSource(ds, n, args.series_per_batch, "native")
        with common.nephoscope_session(rep, args) as srv:
            rss0 = common.tree_rss(srv.pid)["rss"] if srv.pid else None
            if rss0:
                rep.add("nephoscope.rss_idle", rss0 / MB, "MiB", note="right after /healthz")
            run_rounds(rep, "nephoscope", srv.url + "/v1/points", srv.headers, srv.pid,
                       src, "native", args)
            size = srv.disk_bytes()
            if size is not None:
                rep.add("nephoscope.disk_bytes", size, "B", note="data dir, not compacted")

    if "victoria" in systems:
        from victoria import VictoriaMetrics, version

        rep.detail("victoria_version", version())
        src = RoundSource(ds, n, args.series_per_batch, "vm-json")
        vm = VictoriaMetrics(work_dir=args.work_dir, keep_data=args.keep_data)
        try:
            vm.start()
            rep.add("victoria.rss_idle", common.tree_rss(vm.pid)["rss"] / MB, "MiB")
            run_rounds(rep, "victoria", vm.url + "/api/v1/import", {}, vm.pid,
                       src, "vm-json", args)
            vm.force_flush()
            rep.add("victoria.series_count", vm.series_count(), "series")
        except Exception as e:
            rep.error("victoria", e)
        finally:
            vm.stop()
    rep.note("RSS is summed over the server's process tree; VictoriaMetrics sizes its caches from "
             "-memory.allowedPercent (default 60% of RAM), so its RSS is not a minimum.")
    return rep.finish(write=not args.no_write, results_dir=args.results_dir, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
