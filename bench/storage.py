"""On-disk bytes per sample: nephoscope vs VictoriaMetrics on the same day of data.

Loads ``--hosts`` x 8 series (cpu %, memory bytes, 4 byte counters, 2 bursty
iops) x ``--points`` points at 10 s (default 200 x 8 x 8,580 = 13.7 M samples,
timestamps covering the past day less 10 minutes, i.e. inside a 24 h raw
retention for the whole run) into

* nephoscope through the native endpoint ``POST /v1/points`` (msgpack+zstd),
  then ``POST /v1/admin/compact`` (falls back to waiting for the data dir to
  settle if that 404s), and
* VictoriaMetrics through ``/api/v1/import`` JSON lines, then
  ``/internal/force_flush`` + ``/internal/force_merge``,

and prints ``du -sb`` of each data dir divided by the number of samples, plus
the ratio.  A codec reference (pcodec per series on values and timestamps,
i.e. what a good columnar file could reach without any index) is printed too.

Target: nephoscope <= 1.0 bytes/sample.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import datasets as D  # noqa: E402
import numpy as np  # noqa: E402
from common import Report, log  # noqa: E402

TARGET_B_PER_SAMPLE = 1.0


def parse_args(argv=None):
    ap = common.make_parser(
        __doc__,
        epilog="examples:\n"
        "  .venv/bin/python bench/storage.py\n"
        "  .venv/bin/python bench/storage.py --hosts 250            # 2,000 series, 17.3 M samples\n"
        "  .venv/bin/python bench/storage.py --systems victoria     # reference only\n",
    )
    ap.add_argument("--hosts", type=int, default=200, help="hosts (8 series each with --groups all)")
    ap.add_argument("--groups", default="all", help="metric groups (see datasets.py)")
    ap.add_argument("--points", type=int, default=D.max_recent_points(),
                    help="points per series at 10 s (default: the past day less 10 min, so every sample stays "
                         "inside a 24 h raw retention during the run)")
    ap.add_argument("--series-per-batch", type=int, default=1000, help="series per request")
    ap.add_argument("--points-per-batch", type=int, default=360, help="points per series per request (360 = 1 h)")
    ap.add_argument("--concurrency", type=int, default=2, help="concurrent upload connections")
    ap.add_argument("--compression", choices=["zstd", "gzip", "none"], default="zstd",
                    help="Content-Encoding of native batches")
    ap.add_argument("--no-reference", action="store_true", help="skip the pcodec reference figure")
    common.add_common_args(ap)
    return ap.parse_args(argv)


def native_bodies(ds: D.Dataset, args):
    comp = None if args.compression == "none" else args.compression
    for b in D.columnar_batches(ds, np.arange(ds.n_series), ds.points, args.series_per_batch,
                                args.points_per_batch, "native", compression=comp):
        yield b.body, b.samples, b.headers


def vm_bodies(ds: D.Dataset, args):
    for b in D.columnar_batches(ds, np.arange(ds.n_series), ds.points, args.series_per_batch,
                                args.points_per_batch, "vm-json"):
        yield b.body, b.samples


def pcodec_reference(ds: D.Dataset) -> dict:
    """Per-series pcodec (values float64 + timestamps int64) sizes, total and per shape."""
    try:
        import pcodec
        from pcodec import standalone
    except ImportError:
        return {}
    cfg = pcodec.ChunkConfig()
    by_shape: dict[str, list[int]] = {}
    ts_bytes = val_bytes = 0
    names = list(D.SHAPES)
    chunk = 256
    with common.progress() as prog:
        tk = prog.add_task("pcodec reference", total=ds.n_series, info="")
        for a in range(0, ds.n_series, chunk):
            rows = np.arange(a, min(ds.n_series, a + chunk))
            ts, vals = ds.block(rows)
            tsb = len(standalone.simple_compress(np.ascontiguousarray(ts), cfg))
            for i, r in enumerate(rows):
                vb = len(standalone.simple_compress(np.ascontiguousarray(vals[i]), cfg))
                val_bytes += vb
                ts_bytes += tsb
                s = by_shape.setdefault(names[ds.row_shape[r]], [0, 0])
                s[0] += vb + tsb
                s[1] += ds.points
            prog.update(tk, completed=rows[-1] + 1)
    n = ds.n_samples
    return {
        "bytes_per_sample": (ts_bytes + val_bytes) / n,
        "values_bytes_per_sample": val_bytes / n,
        "timestamps_bytes_per_sample": ts_bytes / n,
        "by_shape_bytes_per_sample": {k: v[0] / v[1] for k, v in by_shape.items()},
    }


def storage_breakdown(url: str, token: str) -> dict | None:
    """The server's own account of its disk use (GET /v1/admin/storage), if it has one."""
    import httpx

    try:
        answer = httpx.get(f"{url}/v1/admin/storage", headers={"X-Auth-Token": token}, timeout=60)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


def main(argv=None) -> int:
    args = parse_args(argv)
    systems = common.systems_of(args)
    rep = Report("storage", common.params_of(args))
    if args.points > D.max_recent_points():
        log(f"[yellow]warning: {args.points} points reach further back than the 24 h raw retention allows; "
            f"the server may refuse the oldest samples")
    ds = D.Dataset(hosts=args.hosts, groups=args.groups, points=args.points,
                   start_ms=D.past_window(args.points, margin_s=D.END_MARGIN_S))
    rep.detail("dataset", ds.describe())
    n = ds.n_samples
    rep.add("samples", n, "samples", note=f"{ds.n_series:,} series x {ds.points:,} points at 10 s")
    log(f"dataset: {ds.n_series:,} series x {ds.points:,} points = {n:,} samples")
    bps: dict[str, float] = {}

    if "nephoscope" in systems:
        with common.nephoscope_session(rep, args) as srv:
            empty = srv.disk_bytes()
            st = common.post_stream(srv.url + "/v1/points", native_bodies(ds, args), headers=srv.headers,
                                    concurrency=args.concurrency, total_samples=n, label="nephoscope load")
            rep.add("nephoscope.load_samples_per_s", st["samples_per_s"], "samples/s",
                    note="bulk load incl. client-side generation; not the ingest benchmark")
            if "accepted" in st and st["accepted"] != n:
                rep.error("nephoscope", f"accepted {st['accepted']:,} of {n:,} samples")
            rep.add("nephoscope.wire_bytes_per_sample", st["bytes"] / n, "B")
            info = srv.compact()
            rep.detail("nephoscope.compact", info)
            if info.get("error"):
                rep.error("nephoscope compact", info["error"] + " (measured without compaction)")
            rep.add("nephoscope.compact_s", info.get("seconds"), "s", note=f"HTTP {info.get('status')}")
            size = srv.disk_bytes()
            if size is None:
                rep.error("nephoscope", "no data dir to measure (pass --data-dir with --url)")
            else:
                bps["nephoscope"] = rep.add("nephoscope.bytes_per_sample", size / n, "B/sample",
                                            target=TARGET_B_PER_SAMPLE, op="<=")
                rep.add("nephoscope.disk_bytes", size, "B", note=f"empty data dir: {empty:,} B" if empty else "")
                breakdown = storage_breakdown(srv.url, srv.token)
                if breakdown:
                    rep.detail("nephoscope.storage", breakdown)
                    payload = {r: v["payload_bytes"] for r, v in breakdown["resolutions"].items()}
                    rep.add("nephoscope.raw_bytes_per_sample", payload.get("0", 0) / n, "B/sample",
                            note="raw chunks only: the figure comparable with VictoriaMetrics (no roll-ups)")
                    rep.add("nephoscope.rollup_bytes_per_sample",
                            sum(v for r, v in payload.items() if r != "0") / n, "B/sample",
                            note="1-minute, 1-hour and 1-day roll-ups kept beside the raw data")

    if "victoria" in systems:
        from victoria import VictoriaMetrics, version

        rep.detail("victoria_version", version())
        vm = VictoriaMetrics(work_dir=args.work_dir, keep_data=args.keep_data)
        try:
            vm.start()
            empty = vm.disk_bytes()
            st = common.post_stream(vm.url + "/api/v1/import", vm_bodies(ds, args), concurrency=args.concurrency,
                                    total_samples=n, label="victoria load")
            rep.add("victoria.load_samples_per_s", st["samples_per_s"], "samples/s",
                    note="JSON lines, one line per series per batch")
            t = time.monotonic()
            sizes = vm.settle()
            rep.add("victoria.flush_merge_s", time.monotonic() - t, "s")
            stored = vm.rows_stored()
            if stored != n:
                rep.error("victoria", f"stored {stored:,} of {n:,} samples")
            rep.detail("victoria.sizes", sizes)
            bps["victoria"] = rep.add("victoria.bytes_per_sample", sizes["total_bytes"] / n, "B/sample",
                                      note="du -sb of -storageDataPath")
            rep.add("victoria.disk_bytes", sizes["total_bytes"], "B", note=f"empty data dir: {empty:,} B")
            if "data_bytes" in sizes:
                rep.add("victoria.data_part_bytes_per_sample", sizes["data_bytes"] / n, "B/sample",
                        note="samples only (data/)")
            if "indexdb_bytes" in sizes:
                rep.add("victoria.indexdb_bytes", sizes["indexdb_bytes"], "B")
        except Exception as e:
            rep.error("victoria", e)
        finally:
            vm.stop()

    if "nephoscope" in bps and bps.get("victoria"):
        rep.add("ratio.nephoscope_vs_victoria", bps["nephoscope"] / bps["victoria"], "x",
                note="bytes/sample; < 1 means nephoscope is smaller")
    if not args.no_reference:
        ref = pcodec_reference(ds)
        if ref:
            rep.add("reference.pcodec_bytes_per_sample", ref["bytes_per_sample"], "B/sample",
                    note="per-series pcodec of values+timestamps, no index/metadata")
            for k, v in ref["by_shape_bytes_per_sample"].items():
                rep.add(f"reference.pcodec.{k}", v, "B/sample")
            rep.detail("reference_pcodec", ref)
    return rep.finish(write=not args.no_write, results_dir=args.results_dir, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
