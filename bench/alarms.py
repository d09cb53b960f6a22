"""Alarm evaluation: period closes, cost on ingest, and time from period close to webhook POST.

Three parts (``--parts``):

* evaluation - the evaluator in process, pinned to ONE core: ``--instances`` alarm
  instances (10 definitions x instances/10 hosts, match_by hostname, mixed functions and
  windows), fed 6 samples per series per minute. Reports the time of a period close with
  no state change (the steady case), with every alarm changing state (the mass case), and
  the evaluator's ingest cost per point. Target: <= 1 s per period for 100,000 instances.
* overhead - Monasca JSON ingest throughput through the server without alarm definitions,
  then with ``--definitions`` (990 per-host definitions plus 10 match_by-hostname ones over
  the dataset's metrics), alternating ``--rounds`` times. Target: the evaluator costs <= 20 %.
* latency - a real server (grace ``--grace`` s) and a real HTTP receiver: ``--hosts``
  alarms breach in the same period; each webhook POST's arrival minus (period close +
  grace) is one latency sample; then they recover (OK actions), a second set of samples.
  Target: p99 <= 2 s.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import datasets as D  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
from common import MB, Report, log, pct  # noqa: E402

MINUTE = 60_000
EXPRESSIONS = ("avg({m}) > 90 times 3", "max({m}) > 95", "avg({m}, 120) > 80 times 2", "min({m}) < 5 times 2",
               "count({m}) < 3", "last({m}) > 99", "sum({m}) > 500 times 2", "avg({m}) >= 97 times 5",
               "max({m}, 300) > 90", "avg({m}) > 85 times 4")


def parse_args(argv=None):
    ap = common.make_parser(__doc__, epilog="examples:\n"
                            "  .venv/bin/python bench/alarms.py\n"
                            "  .venv/bin/python bench/alarms.py --parts evaluation --instances 200000\n"
                            "  .venv/bin/python bench/alarms.py --parts latency --hosts 2000\n")
    common.add_common_args(ap, systems="nephoscope")
    ap.add_argument("--parts", default="evaluation,overhead,latency", help="comma list of parts to run")
    ap.add_argument("--instances", type=int, default=100_000, help="alarm instances (evaluation)")
    ap.add_argument("--minutes", type=int, default=8, help="simulated minutes (evaluation)")
    ap.add_argument("--definitions", type=int, default=1000, help="alarm definitions (overhead)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating with/without rounds (overhead)")
    ap.add_argument("--seconds", type=float, default=20.0, help="load seconds per round (overhead)")
    ap.add_argument("--clients", type=int, default=4, help="client processes (overhead)")
    ap.add_argument("--ingest-hosts", type=int, default=2500, help="hosts in the ingest dataset (overhead)")
    ap.add_argument("--batch", type=int, default=1000, help="metrics per request (overhead)")
    ap.add_argument("--hosts", type=int, default=1000, help="alarms that breach together (latency)")
    ap.add_argument("--grace", type=float, default=5.0, help="grace seconds after a period closes (latency)")
    return ap.parse_args(argv)


# -- evaluation ---------------------------------------------------------------------------------------
def evaluation(rep: Report, args) -> None:
    """One core: the evaluator thread's share of the machine."""
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        _evaluation(rep, args)
    finally:
        os.sched_setaffinity(0, cores)


def _evaluation(rep: Report, args) -> None:
    from nephoscope.alarms.definitions import AlarmDefinition
    from nephoscope.alarms.engine import _collector_paused
    from nephoscope.alarms.evaluator import Evaluator
    from nephoscope.metrics.store import SeriesInfo
    from nephoscope.metrics.summary import Points

    hosts = math.ceil(args.instances / len(EXPRESSIONS))
    definitions = [AlarmDefinition(id=f"d{i}", tenant="p", name=f"d{i}", match_by=["hostname"],
                                   expression=text.format(m=f"metric.{i}")) for i, text in enumerate(EXPRESSIONS)]
    start = (int(time.time() * 1000) // (5 * MINUTE)) * 5 * MINUTE
    evaluator = Evaluator(grace_ms=10_000)
    evaluator.load(definitions)
    series_ids = np.arange(hosts * len(EXPRESSIONS), dtype=np.int64)
    began = time.perf_counter()
    evaluator.route((SeriesInfo(int(s), "p", f"metric.{s % len(EXPRESSIONS)}", {"hostname": f"h{s // len(EXPRESSIONS)}"})
                     for s in series_ids.tolist()), start)
    rep.add("evaluation.route_seconds", time.perf_counter() - began, "s",
            note=f"once per series: {len(series_ids):,} series to {len(evaluator.alarms):,} instances")
    per_minute = 6
    ingest_seconds, points_in, closes = 0.0, 0, []
    rng = np.random.default_rng(7)
    for minute in range(args.minutes):
        hot = minute in (args.minutes - 3, args.minutes - 2)  # everything breaches, then recovers
        timestamps = start + minute * MINUTE + np.arange(per_minute) * 10_000 + 1_000
        series = np.repeat(series_ids, per_minute)
        stamps = np.tile(timestamps, len(series_ids))
        values = np.where(hot, 99.5, rng.uniform(20, 60, len(series)))
        values = np.where((series % len(EXPRESSIONS) == 3) & hot, 1.0, values)  # min(...) < 5
        values = np.where((series % len(EXPRESSIONS) == 4) & ~hot, 1.0, values)
        order = rng.permutation(len(series))
        with _collector_paused():
            for chunk in np.array_split(order, max(1, len(order) // 10_000)):
                v = values[chunk]
                batch = Points(series[chunk], stamps[chunk], np.ones(len(chunk), np.int64), v, v, v, v)
                began = time.perf_counter()
                evaluator.ingest(batch, start + minute * MINUTE + 55_000)
                ingest_seconds += time.perf_counter() - began
                points_in += len(chunk)
            began = time.perf_counter()
            transitions = evaluator.tick(start + (minute + 1) * MINUTE + 10_000)
            elapsed = time.perf_counter() - began
        created = len(evaluator.take_changes()[0])
        closes.append((elapsed, len(transitions)))
        log(f"minute {minute}: period close {elapsed * 1000:,.0f} ms, {len(transitions):,} transitions, "
            f"{created:,} alarms created")
    rep.add("evaluation.instances", len(evaluator.alarms), "alarms")
    quiet = [elapsed for elapsed, transitions in closes if transitions == 0]
    if quiet:
        rep.add("evaluation.period_close_no_change_max_s", max(quiet), "s", note="no state changes; one core")
    worst, changed = max(closes)
    rep.add("evaluation.period_close_max_s", worst, "s", target=1.0, op="<=",
            note=f"worst period close: {changed:,} alarms changed state (transitions built); one core")
    rep.detail("evaluation.closes", [{"seconds": round(e, 4), "transitions": t} for e, t in closes])
    rep.add("evaluation.ingest_ns_per_point", ingest_seconds / max(1, points_in) * 1e9, "ns")


# -- overhead -------------------------------------------------------------------------------------------
BROAD = ("avg({m}, 3600) > {x} times 3", "max({m}, 3600) > {x} times 3", "min({m}, 3600) < -{x} times 3",
         "count({m}, 3600) > {x} times 3", "last({m}, 3600) > {x} times 3")


def _definitions(client: httpx.Client, dataset: D.Dataset, count: int) -> int:
    """``count`` definitions as an operator might have them: 10 per-metric ones fanned out per host
    (match_by hostname) and the rest each about one host. Their windows (3 x 1 hour) hold the
    whole dataset, so every point lands in a window (none dropped as too old), the costly case.
    Thresholds are out of reach: the cost measured is evaluation, not notification."""
    names = [name for templates in D.GROUPS.values() for name, _, _ in templates]
    huge = 10**15
    created = 0
    broad = min(10, count)
    for index in range(broad):
        body = {"name": f"broad-{index}", "match_by": ["hostname"],
                "expression": BROAD[index % len(BROAD)].format(m=names[index % len(names)], x=huge)}
        created += client.post("/v2.0/alarm-definitions", json=body).status_code == 201
    for index in range(count - broad):
        host = dataset.hostname(index % dataset.hosts)
        expression = BROAD[index % len(BROAD)].format(m=f"{names[index % len(names)]}{{hostname={host}}}", x=huge)
        created += client.post("/v2.0/alarm-definitions", json={"name": f"host-{index}",
                                                               "expression": expression}).status_code == 201
    return created


def _warm_up(client: httpx.Client, dataset: D.Dataset) -> None:
    """One point per series first: creating series (and their alarms) is a one-off, not ingest cost."""
    metrics = [{"name": dataset.series_name(row), "dimensions": dataset.series_dims(row),
                "timestamp": dataset.start_ms - 10_000, "value": 0.0} for row in range(dataset.n_series)]
    for begin in range(0, len(metrics), 1000):
        client.post("/v2.0/metrics", json=metrics[begin:begin + 1000]).raise_for_status()
    time.sleep(2)  # let the evaluator finish routing before the clock starts


def overhead(rep: Report, args) -> None:
    import ingest

    pool_samples = int(1.5 * 600_000 * args.seconds)
    probe = D.Dataset(hosts=args.ingest_hosts, points=1)
    points = max(1, math.ceil(pool_samples / probe.n_series))
    dataset = D.Dataset(hosts=args.ingest_hosts, points=points, start_ms=D.past_window(points))
    args.format, args.compression, args.level = "monasca", "none", 3
    args.series_per_batch, args.points_per_batch = 2000, 25
    rates: dict[str, list[float]] = {"without": [], "with": []}
    shares: list[float] = []
    for round_number in range(args.rounds):
        for mode in ("without", "with"):
            with common.nephoscope_session(rep, args) as server:
                with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
                    if mode == "with":
                        rep.detail("overhead.definitions_created", _definitions(client, dataset, args.definitions))
                    _warm_up(client, dataset)
                warm_cpu = _engine_status(server).get("cpu_seconds", 0.0)
                headers = {"Content-Type": "application/json", "X-Auth-Token": args.token}
                result = common.run_load(f"monasca {mode} definitions (round {round_number + 1})", server.url,
                                         "/v2.0/metrics", headers,
                                         ingest.make_builders(dataset, args.clients, points, "monasca", args,
                                                              1200 * MB), args.seconds, server_pid=server.pid,
                                         expected_samples=dataset.n_samples)
                rates[mode].append(result.rate)
                if mode == "with":
                    status = _engine_status(server)
                    rep.detail("overhead.alarm_instances", status.get("instances"))
                    engine_cpu = status.get("cpu_seconds", 0.0) - warm_cpu
                    server_cpu = result.server.get("cpu_s") or 0.0
                    if server_cpu > engine_cpu > 0:
                        shares.append(engine_cpu / (server_cpu - engine_cpu) * 100)
                log(f"{mode}: {result.rate:,.0f} samples/s")
    without, with_ = float(np.median(rates["without"])), float(np.median(rates["with"]))
    rep.add("overhead.samples_per_s_without", without, "samples/s")
    rep.add("overhead.samples_per_s_with", with_, "samples/s", note=f"{args.definitions} definitions")
    costs = [(1 - w / o) * 100 for o, w in zip(rates["without"], rates["with"])]
    if shares:
        rep.add("overhead.evaluator_cpu_share", float(np.mean(shares)), "%", target=20.0, op="<=",
                note="engine thread CPU / the rest of the server's CPU over the same load (mean of rounds: "
                     f"{', '.join(f'{c:.1f}' for c in shares)} %)")
    rep.add("overhead.throughput_cost", float(np.mean(costs)), "%",
            note=f"1 - with/without samples/s, mean of rounds ({', '.join(f'{c:.1f}' for c in costs)} %); "
                 "noisy on a shared 2-core machine")
    rep.detail("overhead.rates", rates)


def _engine_status(server) -> dict:
    try:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as client:
            return client.get("/v1/admin/alarm-engine").json()
    except Exception:  # noqa: BLE001 - a detail, not a result
        return {}


# -- latency ----------------------------------------------------------------------------------------------
class BurstServer(ThreadingHTTPServer):
    """A listen backlog for bursts: the default of 5 drops SYNs, which then wait a 1 s retransmit."""

    request_queue_size = 128
    daemon_threads = True


class _Receiver:
    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real webhook endpoint (Heat's API) offers

            def do_POST(self) -> None:  # noqa: N802
                body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                with receiver.lock:
                    receiver.arrivals.append((time.time(), body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = BurstServer(("127.0.0.1", common.free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, state: str) -> int:
        with self.lock:
            return sum(1 for _, body in self.arrivals if body["state"] == state)


def _send(client: httpx.Client, hosts: int, minute_start: int, value: float) -> None:
    metrics = [{"name": "cpu.utilization_perc", "dimensions": {"hostname": f"compute-{h:05d}"},
                "timestamp": minute_start + 1_000 + 20_000 * i, "value": value} for h in range(hosts) for i in range(2)]
    for begin in range(0, len(metrics), 2000):
        response = client.post("/v2.0/metrics", json=metrics[begin:begin + 2000])
        response.raise_for_status()


def _wait(receiver: _Receiver, state: str, expected: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and receiver.count(state) < expected:
        time.sleep(0.1)


def latency(rep: Report, args) -> None:
    receiver = _Receiver()
    env = {"NEPHOSCOPE_ALARMS_GRACE_SECONDS": str(args.grace)}
    with common.nephoscope_session(rep, args, env) as server, \
            httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
        method = client.post("/v2.0/notification-methods", json={"name": "hook", "type": "WEBHOOK",
                                                                 "address": receiver.url + "/hook"}).json()["id"]
        response = client.post("/v2.0/alarm-definitions", json={
            "name": "cpu high", "expression": "avg(cpu.utilization_perc) > 90 times 3", "match_by": ["hostname"],
            "alarm_actions": [method], "ok_actions": [method]})
        response.raise_for_status()
        if int(time.time() * 1000) % MINUTE > 35_000:
            time.sleep((MINUTE - int(time.time() * 1000) % MINUTE) / 1000 + 0.5)
        current = (int(time.time() * 1000) // MINUTE) * MINUTE
        for offset in (-2, -1, 0):
            _send(client, args.hosts, current + offset * MINUTE, 97.0)
        log(f"{args.hosts:,} alarms breach; waiting for the period to close at +{args.grace:.0f} s")
        _wait(receiver, "ALARM", args.hosts, 120)
        fired_close = (current + MINUTE) / 1000 + args.grace
        _send(client, args.hosts, current + MINUTE, 10.0)
        _wait(receiver, "OK", args.hosts, 120)
        cleared_close = (current + 2 * MINUTE) / 1000 + args.grace
    with receiver.lock:
        arrivals = list(receiver.arrivals)
    receiver.server.shutdown()
    samples = [at - (fired_close if body["state"] == "ALARM" else cleared_close) for at, body in arrivals]
    rep.add("latency.posts", len(arrivals), "POSTs", note=f"{args.hosts} ALARM + {args.hosts} OK expected")
    rep.add("latency.first_s", min(samples) if samples else None, "s", note="the first POST of the burst")
    rep.add("latency.p50_s", pct(samples, 50), "s")
    rep.add("latency.p99_s", pct(samples, 99), "s", target=2.0, op="<=",
            note="period close + grace -> webhook POST received")
    rep.add("latency.max_s", max(samples) if samples else None, "s")


def main(argv=None) -> int:
    args = parse_args(argv)
    rep = Report("alarms", common.params_of(args))
    for part in [p.strip() for p in args.parts.split(",") if p.strip()]:
        log(f"part: {part}")
        try:
            {"evaluation": evaluation, "overhead": overhead, "latency": latency}[part](rep, args)
        except Exception as error:  # noqa: BLE001 - report and go on with the other parts
            rep.error(part, error)
    return rep.finish(write=not args.no_write, results_dir=args.results_dir, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
