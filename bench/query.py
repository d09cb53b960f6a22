"""Query latency of Monasca ``/v2.0/metrics/statistics`` (avg, 24 h, period 300).

Loads ``--cpu-hosts`` ``cpu.percent`` series plus ``--mem-hosts``
``mem.used_bytes`` series, 8,580 points each at 10 s (default 1,166 series,
10.0 M samples covering the past day less 10 minutes, so that all of it stays
inside a 24 h raw retention while the bench runs) through the native
endpoint, compacts, then measures sequential latency (one keep-alive client,
after warm-up) of

* single : ``name=cpu.percent&dimensions=hostname:<random host>`` (1 series)
* merged : ``name=cpu.percent&dimensions=service:compute&merge_metrics=true``
           (all ``--cpu-hosts`` series)

with ``statistics=avg&period=300`` over the last 24 h, and checks the answers
against averages computed from the generated data.  The same questions are
asked of VictoriaMetrics (``/api/v1/query_range`` with ``avg_over_time`` /
``sum(sum_over_time)/sum(count_over_time)``, ``nocache=1``) for reference.

Targets: single p50 <= 10 ms, merged p50 <= 200 ms.
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import datasets as D  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
from common import Report, log, pct  # noqa: E402

TARGETS = {"single": 10.0, "merged": 200.0}


def parse_args(argv=None):
    ap = common.make_parser(
        __doc__,
        epilog="examples:\n"
        "  .venv/bin/python bench/query.py\n"
        "  .venv/bin/python bench/query.py --iterations 200\n"
        "  .venv/bin/python bench/query.py --systems victoria\n",
    )
    ap.add_argument("--cpu-hosts", type=int, default=1000, help="cpu.percent series (merged query width)")
    ap.add_argument("--mem-hosts", type=int, default=166, help="extra mem.used_bytes series")
    ap.add_argument("--points", type=int, default=D.max_recent_points(),
                    help="points per series at 10 s (rounded down to whole periods)")
    ap.add_argument("--window-hours", type=float, default=24.0, help="query time range, ending at the data's end")
    ap.add_argument("--period", type=int, default=300, help="statistics period in seconds")
    ap.add_argument("--iterations", type=int, default=50, help="timed queries per kind")
    ap.add_argument("--warmup", type=int, default=3, help="untimed queries per kind first")
    ap.add_argument("--series-per-batch", type=int, default=1000, help="series per load request")
    ap.add_argument("--points-per-batch", type=int, default=360, help="points per series per load request")
    ap.add_argument("--concurrency", type=int, default=2, help="concurrent upload connections")
    ap.add_argument("--seed", type=int, default=7, help="seed for the choice of hosts in single queries")
    common.add_common_args(ap)
    return ap.parse_args(argv)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(s) -> int:
    if isinstance(s, (int, float)):
        return int(s * 1000) if s < 1e11 else int(s)
    return int(datetime.fromisoformat(str(s).replace("Z", "+00:00")).timestamp() * 1000)


class Truth:
    """Expected per-period averages, computed from the generated data.

    The data starts on a period boundary, so its buckets are whole; buckets of
    the query range before the data starts are empty (Monasca omits them).
    """

    def __init__(self, ds: D.Dataset, cpu_rows: np.ndarray, period_s: int):
        self.k = period_s * 1000 // ds.step_ms
        self.nb = ds.points // self.k
        self.start = ds.start_ms
        self.period_ms = period_s * 1000
        _, vals = ds.block(cpu_rows)
        v = vals[:, : self.nb * self.k].reshape(len(cpu_rows), self.nb, self.k)
        self.per_series = v.mean(axis=2)  # (R, nb)
        self.merged = v.mean(axis=(0, 2))  # (nb,)
        self.row_of_host = {}
        for i, r in enumerate(cpu_rows):
            self.row_of_host[ds.series_dims(int(r))["hostname"]] = i

    def check(self, got: list[tuple[int, float]], expected: np.ndarray) -> dict:
        """Compare (period start ms, avg) pairs with the expectations."""
        errs, matched, unexpected = [], 0, 0
        for ts, v in got:
            off = ts - self.start
            b = off // self.period_ms
            if off % self.period_ms or not 0 <= b < self.nb:
                unexpected += 1
                continue
            matched += 1
            errs.append(abs(v - expected[b]) / max(1.0, abs(expected[b])))
        worst = max(errs) if errs else None
        return {"buckets_expected": self.nb, "buckets_returned": len(got), "buckets_matched": matched,
                "unexpected_buckets": unexpected, "max_rel_err": worst,
                "ok": matched == self.nb and unexpected == 0 and worst is not None and worst < 1e-6}


def monasca_points(doc: dict) -> list[tuple[int, float]]:
    els = doc.get("elements", [])
    if not els:
        return []
    el = els[0]
    cols = el.get("columns", ["timestamp", "avg"])
    ti, vi = cols.index("timestamp"), cols.index("avg")
    return [(parse_ts(row[ti]), float(row[vi])) for row in el.get("statistics", []) if row[vi] is not None]


def vm_points(doc: dict, shift_ms: int) -> list[tuple[int, float]]:
    res = doc.get("data", {}).get("result", [])
    if not res:
        return []
    return [(int(round(float(t) * 1000)) - shift_ms, float(v)) for t, v in res[0]["values"]]


def timed_loop(label: str, n: int, warmup: int, fn, rep: Report | None = None,
               pid: int | None = None) -> tuple[list[float], object]:
    lat, first = [], None
    mon = common.ProcMonitor(pid).start()
    cpu0 = time.process_time()
    with common.progress() as prog:
        tk = prog.add_task(label, total=warmup + n, info="")
        for i in range(warmup + n):
            t = time.perf_counter()
            r = fn(i)
            dt = (time.perf_counter() - t) * 1000.0
            if i == 0:
                first = r
            if i >= warmup:
                lat.append(dt)
            prog.update(tk, advance=1, info=f"p50 {pct(lat, 50) or 0:.1f} ms")
    res = mon.stop()
    if rep is not None:
        own = (time.process_time() - cpu0) / max(res["elapsed_s"], 1e-9) + res.get("cpu_cores", 0.0)
        common.note_contention(rep, label, res, own)
    return lat, first


def report_latency(rep: Report, prefix: str, lat: list[float], target: float | None):
    rep.add(f"{prefix}.p50", pct(lat, 50), "ms", target=target, op="<=")
    rep.add(f"{prefix}.p95", pct(lat, 95), "ms")
    rep.add(f"{prefix}.max", max(lat) if lat else None, "ms")


def load_bodies(ds, kind, args):
    for b in D.columnar_batches(ds, np.arange(ds.n_series), ds.points, args.series_per_batch,
                                args.points_per_batch, kind):
        yield (b.body, b.samples, b.headers) if b.headers else (b.body, b.samples)


def main(argv=None) -> int:
    args = parse_args(argv)
    systems = common.systems_of(args)
    rep = Report("query", common.params_of(args))
    k = args.period * 1000 // D.STEP_MS
    points = args.points // k * k
    start = D.past_window(points, margin_s=D.END_MARGIN_S, align_ms=args.period * 1000)
    if start < (time.time() - D.RAW_RETENTION_S + 120) * 1000:
        # Aligning the end to a period ate the safety margin: the oldest samples would age out of
        # the raw retention while loading (422). One period less keeps them inside.
        points -= k
        start = D.past_window(points, margin_s=D.END_MARGIN_S, align_ms=args.period * 1000)
    ds = D.Dataset(hosts=args.cpu_hosts, groups={"cpu": args.cpu_hosts, "mem": args.mem_hosts}, points=points,
                   start_ms=start)
    rep.detail("dataset", ds.describe())
    rep.add("samples", ds.n_samples, "samples", note=f"{ds.n_series:,} series x {ds.points:,} points")
    cpu_t = next(i for i, t in enumerate(ds.templates) if t[0] == "cpu.percent")
    cpu_rows = np.nonzero(ds.row_template == cpu_t)[0]
    hosts = [ds.series_dims(int(r))["hostname"] for r in cpu_rows]
    log("computing expected answers from the generated data")
    truth = Truth(ds, cpu_rows, args.period)
    end_ms = ds.start_ms + truth.nb * truth.period_ms
    start_ms = end_ms - int(args.window_hours * 3600) // args.period * args.period * 1000
    rep.detail("query_range", {"start_time": iso(start_ms), "end_time": iso(end_ms), "period": args.period,
                               "data_start": iso(ds.start_ms)})
    rng = random.Random(args.seed)
    picks = [rng.choice(hosts) for _ in range(args.warmup + args.iterations)]

    if "nephoscope" in systems:
        with common.nephoscope_session(rep, args) as srv:
            st = common.post_stream(srv.url + "/v1/points", load_bodies(ds, "native", args), headers=srv.headers,
                                    concurrency=args.concurrency, total_samples=ds.n_samples,
                                    label="nephoscope load")
            rep.add("nephoscope.load_samples_per_s", st["samples_per_s"], "samples/s")
            info = srv.compact()
            rep.detail("nephoscope.compact", info)
            if info.get("error"):
                rep.error("nephoscope compact", info["error"] + " (measured without compaction)")
            base = {"statistics": "avg", "start_time": iso(start_ms), "end_time": iso(end_ms),
                    "period": str(args.period)}
            with httpx.Client(base_url=srv.url, headers=srv.headers, timeout=120.0) as c:
                def q_single(i):
                    r = c.get("/v2.0/metrics/statistics",
                              params={**base, "name": "cpu.percent", "dimensions": f"hostname:{picks[i]}"})
                    if r.status_code != 200:
                        raise RuntimeError(f"single query answered {r.status_code}: {r.text[:300]}")
                    return picks[i], r.json()

                def q_merged(i):
                    r = c.get("/v2.0/metrics/statistics",
                              params={**base, "name": "cpu.percent", "dimensions": "service:compute",
                                      "merge_metrics": "true"})
                    if r.status_code != 200:
                        raise RuntimeError(f"merged query answered {r.status_code}: {r.text[:300]}")
                    return r.json()

                for kind, fn in (("single", q_single), ("merged", q_merged)):
                    try:
                        lat, first = timed_loop(f"nephoscope {kind}", args.iterations, args.warmup, fn, rep,
                                                srv.pid)
                        report_latency(rep, f"nephoscope.{kind}", lat, TARGETS[kind])
                        if kind == "single":
                            host, doc = first
                            chk = truth.check(monasca_points(doc), truth.per_series[truth.row_of_host[host]])
                        else:
                            chk = truth.check(monasca_points(first), truth.merged)
                        rep.detail(f"nephoscope.{kind}.check", chk)
                        rep.add(f"nephoscope.{kind}.answer_correct", chk["ok"],
                                note=f"{chk['buckets_matched']}/{chk['buckets_expected']} buckets, "
                                     f"max rel err {chk['max_rel_err'] if chk['max_rel_err'] is None else format(chk['max_rel_err'], '.1e')}")
                        if not chk["ok"]:
                            rep.note(f"nephoscope {kind}: answer differs from expected averages: {chk}")
                    except Exception as e:
                        rep.error(f"nephoscope {kind}", e)

    if "victoria" in systems:
        from victoria import VictoriaMetrics, version

        rep.detail("victoria_version", version())
        vm = VictoriaMetrics(work_dir=args.work_dir, keep_data=args.keep_data)
        try:
            vm.start()
            st = common.post_stream(vm.url + "/api/v1/import", load_bodies(ds, "vm-json", args),
                                    concurrency=args.concurrency, total_samples=ds.n_samples,
                                    label="victoria load")
            rep.add("victoria.load_samples_per_s", st["samples_per_s"], "samples/s")
            vm.settle()
            # VM evaluates at t over (t - window, t]; ask at period_end - 1 ms so that window ==
            # [period_start, period_end) on the ms grid, then shift labels back to period starts.
            shift = truth.period_ms - 1
            s0, s1 = (start_ms + shift) / 1000, (end_ms - 1) / 1000
            w = f"{args.period}s"

            def v_single(i):
                q = f'avg_over_time({{__name__="cpu.percent",hostname="{picks[i]}"}}[{w}])'
                return picks[i], vm.query_range(q, s0, s1, args.period)

            def v_merged(i):
                sel = '{__name__="cpu.percent",service="compute"}'
                q = f"sum(sum_over_time({sel}[{w}])) / sum(count_over_time({sel}[{w}]))"
                return vm.query_range(q, s0, s1, args.period)

            for kind, fn in (("single", v_single), ("merged", v_merged)):
                try:
                    lat, first = timed_loop(f"victoria {kind}", args.iterations, args.warmup, fn, rep, vm.pid)
                    report_latency(rep, f"victoria.{kind}", lat, None)
                    if kind == "single":
                        host, doc = first
                        chk = truth.check(vm_points(doc, shift), truth.per_series[truth.row_of_host[host]])
                    else:
                        chk = truth.check(vm_points(first, shift), truth.merged)
                    rep.detail(f"victoria.{kind}.check", chk)
                    rep.add(f"victoria.{kind}.answer_correct", chk["ok"],
                            note=f"{chk['buckets_matched']}/{chk['buckets_expected']} buckets, "
                                 f"max rel err {chk['max_rel_err'] if chk['max_rel_err'] is None else format(chk['max_rel_err'], '.1e')}")
                except Exception as e:
                    rep.error(f"victoria {kind}", e)
        except Exception as e:
            rep.error("victoria", e)
        finally:
            vm.stop()

    for kind in ("single", "merged"):
        m = {x.key: x.value for x in rep.metrics}
        a, b = m.get(f"nephoscope.{kind}.p50"), m.get(f"victoria.{kind}.p50")
        if a and b:
            rep.add(f"ratio.{kind}_p50_nephoscope_vs_victoria", a / b, "x", note="< 1 means nephoscope is faster")
    rep.note("latency = one sequential keep-alive client on loopback, after warm-up; VictoriaMetrics with nocache=1")
    return rep.finish(write=not args.no_write, results_dir=args.results_dir, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
