"""Log pipeline: template accuracy on Loghub's OpenStack_2k and throughput against Drain3.

* accuracy - one pass over OpenStack_2k (2,000 nova lines with ground-truth templates) with a
  fresh pipeline: group accuracy (GA) and F1 of groups (FGA) as the loghub-2.0 evaluator
  defines them. Targets GA >= 0.98, FGA >= 0.95. Drain3 with the Loghub benchmark settings
  (masks ``((\\d+\\.){3}\\d+,?)+``, ``/.+?\\s``, ``\\d+``; similarity 0.5; depth 5) runs on the same
  lines as the regression check of the published Drain figures (GA 0.733, FGA 0.117).
* throughput - the whole pipeline (header parsing, multi-line merge, normalization, masking,
  templates, classification) from in-memory lines to classified record batches, on
  ``--lines`` lines: the 2k sample repeated ("repeated"), and the same with every id, number
  and address re-drawn per line ("varied", so the masks work on values they have not seen).
  Ours with ``--workers`` threads (default 2) and with one; Drain3 (header regex +
  ``add_log_message``, Loghub settings) on one core over the same lines. Target >= 150,000 lines/s.

The data set is read from ../shared/data (or /work/shared/data, or NEPHOSCOPE_SHARED_DATA).
"""

from __future__ import annotations

import csv
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common
from common import Report, log

from nephoscope.logs.processing.batching import record_batches
from nephoscope.logs.processing.evaluation import grouping_accuracy
from nephoscope.logs.processing.pipeline import LogPipeline

SAMPLE = ("loghub-openstack", "OpenStack_2k.log")
TRUTH = ("loghub-openstack", "OpenStack_2k.log_structured.csv")
LOGHUB_HEADER = re.compile(r"^(\S+) (\S+) (\S+) (\S+) (\S+) (\S+) \[(.*?)\] (.*)$")
LOGHUB_MASKS = (r"((\d+\.){3}\d+,?)+", r"/.+?\s", r"\d+")


def parse_args(argv=None):
    ap = common.make_parser(__doc__, epilog="examples:\n  .venv/bin/python bench/logs.py\n"
                            "  .venv/bin/python bench/logs.py --lines 2000000 --no-drain3\n")
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines per throughput run")
    ap.add_argument("--workers", type=int, default=2, help="threads of our pipeline")
    ap.add_argument("--batch", type=int, default=16_384, help="lines per batch")
    ap.add_argument("--drain3-lines", type=int, default=0,
                    help="lines Drain3 gets per throughput run (0: the same --lines)")
    ap.add_argument("--no-drain3", action="store_true", help="skip Drain3 (accuracy check and throughput)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the varied input")
    ap.add_argument("--runs", type=int, default=3,
                    help="runs per throughput figure; the median is reported (the machine may be shared)")
    g = ap.add_argument_group("output")
    g.add_argument("--results-dir", default=str(common.RESULTS_DIR), help="where logs.json is written")
    g.add_argument("--no-write", action="store_true", help="do not write the results file")
    g.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return ap.parse_args(argv)


def shared_data(*parts: str) -> Path:
    candidates = [Path(os.environ["NEPHOSCOPE_SHARED_DATA"])] if os.environ.get("NEPHOSCOPE_SHARED_DATA") else []
    candidates += [common.REPO_DIR.parent / "shared" / "data", Path("/work/shared/data")]
    for base in candidates:
        if (base / Path(*parts)).exists():
            return base / Path(*parts)
    raise SystemExit(f"data set not found: {Path(*parts)} under any of {', '.join(map(str, candidates))}")


# ------------------------------------------------------------------------------ inputs
_VARIABLE = re.compile(
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"|(?P<hex>\b[0-9a-f]{32,40}\b)"
    r"|(?P<ip>\b\d{1,3}(?:\.\d{1,3}){3}\b)"
    r"|(?P<number>(?<![\d.:-])\d+(?:\.\d+)?(?![\d:-]))")


def varied(lines: list[str], total: int, seed: int) -> list[str]:
    """``total`` lines: the sample with ids, hex digests, addresses and numbers re-drawn per copy
    (timestamps, pids and dates keep their shape). 50 variants of each line, tiled."""
    rng = random.Random(seed)

    def draw(match: re.Match) -> str:
        kind = match.lastgroup
        text = match.group(0)
        if kind == "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128)))
        if kind == "hex":
            return format(rng.getrandbits(4 * len(text)), f"0{len(text)}x")
        if kind == "ip":
            return ".".join(str(rng.randrange(1, 255)) for _ in range(4))
        if "." in text:
            whole, fraction = text.split(".", 1)
            return f"{rng.randrange(10 ** len(whole))}.{rng.randrange(10 ** len(fraction)):0{len(fraction)}d}"
        return str(rng.randrange(1, 10 ** len(text)))

    variants = []
    for _ in range(50):
        for line in lines:
            head, body = line[:60], line[60:]  # file name, date, time, pid: keep their shape
            variants.append(head + _VARIABLE.sub(draw, body))
    return (variants * (total // len(variants) + 1))[:total]


def repeated(lines: list[str], total: int) -> list[str]:
    return (lines * (total // len(lines) + 1))[:total]


# ------------------------------------------------------------------------------ drain3
def drain3_miner():
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.masking_instructions = [MaskingInstruction(pattern, "*") for pattern in LOGHUB_MASKS]
    config.drain_sim_th = 0.5
    config.drain_depth = 5
    config.profiling_enabled = False
    return TemplateMiner(config=config)


def drain3_run(lines: list[str]) -> list[int]:
    miner = drain3_miner()
    clusters = []
    for line in lines:
        match = LOGHUB_HEADER.match(line)
        content = match.group(8) if match else line
        clusters.append(miner.add_log_message(content)["cluster_id"])
    return clusters


# ------------------------------------------------------------------------------ parts
def accuracy(rep: Report, lines: list[str], truth: list[str], with_drain3: bool) -> None:
    pipeline = LogPipeline()
    records = pipeline.process(lines)
    if records.num_rows != len(lines):
        rep.error("accuracy", f"{len(lines)} lines gave {records.num_rows} records")
        return
    ours = grouping_accuracy(truth, records.column("template_id").to_pylist())
    rep.add("accuracy.ours.ga", round(ours.group_accuracy, 4), target=0.98, note="OpenStack_2k, one pass, fresh miner")
    rep.add("accuracy.ours.fga", round(ours.f1, 4), target=0.95)
    rep.add("accuracy.ours.groups", ours.predicted_groups, "groups", note=f"ground truth: {ours.true_groups}")
    rep.detail("accuracy.ours", ours.__dict__)
    if with_drain3:
        drain = grouping_accuracy(truth, drain3_run(lines))
        rep.add("accuracy.drain3_loghub.ga", round(drain.group_accuracy, 4),
                note="Drain3, Loghub settings; published Drain: 0.733")
        rep.add("accuracy.drain3_loghub.fga", round(drain.f1, 4), note="published Drain (loghub-2.0): 0.117")
        rep.add("accuracy.drain3_loghub.groups", drain.predicted_groups, "groups")
        rep.detail("accuracy.drain3_loghub", drain.__dict__)


def ours_throughput(lines: list[str], workers: int, batch: int) -> tuple[float, int]:
    pipeline = LogPipeline()
    started = time.perf_counter()
    records = sum(table.num_rows for table in pipeline.process_many(record_batches(lines, batch), workers=workers))
    return len(lines) / (time.perf_counter() - started), records


def median_rate(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    rates = sorted(measure() for _ in range(max(1, runs)))
    return statistics.median(rates), rates


def throughput(rep: Report, name: str, lines: list[str], args) -> None:
    log(f"{name}: ours, {args.workers} workers, {len(lines):,} lines, {args.runs} runs")
    counts = []

    def ours(workers: int) -> float:
        rate, records = ours_throughput(lines, workers, args.batch)
        counts.append(records)
        return rate

    rate, rates = median_rate(args.runs, lambda: ours(args.workers))
    if any(count != len(lines) for count in counts):
        rep.error(name, f"{len(lines)} lines gave {counts} records (every sample line is one record)")
    rep.add(f"throughput.{name}.ours_lines_per_s", round(rate), "lines/s", target=150_000,
            note=f"{args.workers} threads, parse+normalize+template+classify; median of {len(rates)}")
    rep.detail(f"throughput.{name}.ours_runs", [round(r) for r in rates])
    log(f"{name}: ours, 1 worker")
    single, singles = median_rate(args.runs, lambda: ours(1))
    rep.add(f"throughput.{name}.ours_one_thread_lines_per_s", round(single), "lines/s", note=f"median of {len(singles)}")
    rep.detail(f"throughput.{name}.ours_one_thread_runs", [round(r) for r in singles])
    if args.no_drain3:
        return
    subset = lines[: args.drain3_lines] if args.drain3_lines else lines
    log(f"{name}: Drain3, {len(subset):,} lines")

    def drain() -> float:
        started = time.perf_counter()
        drain3_run(subset)
        return len(subset) / (time.perf_counter() - started)

    drain_rate, drain_rates = median_rate(1 if len(subset) >= 500_000 else args.runs, drain)
    rep.add(f"throughput.{name}.drain3_lines_per_s", round(drain_rate), "lines/s",
            note="Drain3 0.9.x, header regex + add_log_message, Loghub settings, 1 core")
    rep.detail(f"throughput.{name}.drain3_runs", [round(r) for r in drain_rates])
    rep.add(f"throughput.{name}.ratio", round(rate / drain_rate, 2), "x", note="ours / Drain3")


def main(argv=None) -> int:
    args = parse_args(argv)
    rep = Report("logs", {k: v for k, v in vars(args).items() if k not in ("results_dir",)})
    sample = shared_data(*SAMPLE).read_text(encoding="utf-8").splitlines()
    with open(shared_data(*TRUTH), newline="", encoding="utf-8") as handle:
        truth = [row["EventId"] for row in csv.DictReader(handle)]
    try:
        accuracy(rep, sample, truth, not args.no_drain3)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        rep.error("accuracy", error)
    for name, make in (("repeated", lambda: repeated(sample, args.lines)),
                       ("varied", lambda: varied(sample, args.lines, args.seed))):
        try:
            throughput(rep, name, make(), args)
        except Exception as error:  # noqa: BLE001
            rep.error(name, error)
    rep.note("data: Loghub OpenStack_2k (https://github.com/logpai/loghub; Zhu et al., ISSRE 2023)")
    return rep.finish(write=not args.no_write, results_dir=args.results_dir, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
