"""What Keystone costs a request: a cached Keystone token against an API key, on one server.

A real Keystone (``.venv-keystone``, as the tests use it: ``python tests/services.py`` installs it)
and a nephoscope server with ``[auth] strategy = "keystone"``; a Keystone user and an API key of
the same roles.

Phase 1 - request overhead: ``--requests`` GETs of the same endpoint (``/v2.0/metrics/names``,
  a small project) on one keep-alive connection each, alternating an API key and a Keystone token
  validated once before (so cached), after a warm-up; p50/p95 of each and the difference of the
  p50s, the Keystone token's overhead.
Phase 2 - Monasca JSON ingest with each, alternating short phases of ``bench/ingest.py``'s load
  (the same pre-encoded batches, ``--clients`` processes, ``--rounds`` rounds each); the median
  samples/s of each and their ratio. Target: Keystone within 5 % of keys (ratio >= 0.95).
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402
import datasets as D  # noqa: E402
import httpx  # noqa: E402
import ingest  # noqa: E402
from common import MB, Report, log, pct  # noqa: E402

ENDPOINT = "/v2.0/metrics/names?limit=10"


def parse_args(argv=None):
    ap = common.make_parser(__doc__, epilog="examples:\n"
                            "  .venv/bin/python bench/auth.py\n"
                            "  .venv/bin/python bench/auth.py --requests 5000 --seconds 10 --rounds 3\n")
    ap.add_argument("--requests", type=int, default=2000, help="timed GETs per kind of token (phase 1)")
    ap.add_argument("--warmup", type=int, default=200, help="untimed GETs per kind first")
    ap.add_argument("--seconds", type=float, default=5.0, help="send time of each ingest round (phase 2)")
    ap.add_argument("--rounds", type=int, default=2, help="ingest rounds per kind of token, alternating")
    ap.add_argument("--clients", type=int, default=2, help="client processes sending Monasca JSON")
    ap.add_argument("--hosts", type=int, default=500, help="hosts in the dataset (8 series per host)")
    ap.add_argument("--batch", type=int, default=1000, help="metrics per Monasca request")
    ap.add_argument("--pool-mb", type=float, default=400.0, help="cap on pre-encoded bytes per round")
    ap.add_argument("--keystone-home", default=None, help="where the bench's Keystone keeps its state "
                    "(default: a temp dir, removed afterwards)")
    common.add_common_args(ap, systems="nephoscope")
    args = ap.parse_args(argv)
    if args.url:
        ap.error("--url is not supported: the server must be started connected to the bench's Keystone")
    return args


def _ingest_args(args) -> argparse.Namespace:
    """The options bench/ingest.py's batch builders read (Monasca JSON)."""
    return argparse.Namespace(format="monasca", batch=args.batch, compression="none", level=3,
                              series_per_batch=2000, points_per_batch=25)


def timed_gets(url: str, token: str, count: int) -> list[float]:
    """``count`` GETs on one keep-alive connection; milliseconds each."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"X-Auth-Token": token, "Accept": "application/json"}
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("GET", ENDPOINT, headers=headers)
            response = connection.getresponse()
            response.read()
            times.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise RuntimeError(f"GET {ENDPOINT} answered {response.status}")
    finally:
        connection.close()
    return times


def overhead(rep: Report, url: str, tokens: dict[str, str], args) -> None:
    for kind, token in tokens.items():
        timed_gets(url, token, args.warmup)
    samples: dict[str, list[float]] = {kind: [] for kind in tokens}
    chunk = 100  # alternate in chunks, so drift of the machine hits both kinds alike
    done = 0
    while done < args.requests:
        for kind, token in tokens.items():
            samples[kind] += timed_gets(url, token, min(chunk, args.requests - done))
        done += chunk
    for kind, times in samples.items():
        rep.add(f"latency.{kind}.p50", pct(times, 50), "ms")
        rep.add(f"latency.{kind}.p95", pct(times, 95), "ms")
    rep.add("latency.keystone_overhead_p50", pct(samples["keystone"], 50) - pct(samples["key"], 50), "ms",
            note="cached Keystone token minus API key, same endpoint, alternating")


def ingest_rates(rep: Report, srv, tokens: dict[str, str], args) -> None:
    probe = D.Dataset(hosts=args.hosts, groups="all", points=1)
    pool_samples = int(300_000 * args.seconds)
    points = max(1, pool_samples // max(1, probe.n_series))
    ds = D.Dataset(hosts=args.hosts, groups="all", points=points, start_ms=D.past_window(points))
    rep.detail("dataset", ds.describe())
    rates: dict[str, list[float]] = {kind: [] for kind in tokens}
    options = _ingest_args(args)
    for round_ in range(args.rounds):
        for kind, token in (tokens.items() if round_ % 2 == 0 else reversed(tokens.items())):
            headers = {"Content-Type": "application/json", "X-Auth-Token": token}
            builders = ingest.make_builders(ds, args.clients, points, "monasca", options, args.pool_mb * MB)
            result = common.run_load(f"monasca json, {kind} round {round_ + 1}", srv.url, "/v2.0/metrics", headers,
                                     builders, args.seconds, server_pid=srv.pid, expected_samples=ds.n_samples)
            non2xx = sum(v for k, v in result.status.items() if not 200 <= int(k) < 300)
            if non2xx:
                rep.note(f"{kind} round {round_ + 1}: non-2xx answers {dict(result.status)}")
            rates[kind].append(result.rate)
    for kind, values in rates.items():
        rep.add(f"ingest.{kind}.samples_per_s", statistics.median(values), "samples/s",
                note=", ".join(f"{v:,.0f}" for v in values))
    ratio = statistics.median(rates["keystone"]) / max(1e-9, statistics.median(rates["key"]))
    rep.add("ingest.keystone_vs_keys", ratio, "x", target=0.95, note="median samples/s, Keystone token / API key")


def main(argv=None) -> int:
    args = parse_args(argv)
    rep = Report("auth", common.params_of(args))
    from tests.support.keystone import Keystone

    home = Path(args.keystone_home or tempfile.mkdtemp(prefix="bench-keystone-", dir=args.work_dir))
    home.mkdir(parents=True, exist_ok=True)
    log(f"bootstrapping Keystone in {home}")
    keystone = Keystone.create(home)
    try:
        user = keystone.user("bench-user", "bench-project", "monasca-user")
        with common.nephoscope_session(rep, args, env=keystone.server_env(cache_time=300)) as srv:
            made = httpx.post(srv.url + "/v1/keys", headers=srv.headers, timeout=30,
                              json={"project": user.project_id, "roles": ["monasca-user"]})
            made.raise_for_status()
            tokens = {"key": made.json()["token"], "keystone": keystone.token(user)}
            with httpx.Client(base_url=srv.url, timeout=30) as client:
                for token in tokens.values():  # one metric, so the endpoint has something to list
                    client.post("/v2.0/metrics", headers={"X-Auth-Token": token},
                                json={"name": "bench.auth", "timestamp": time.time() * 1000, "value": 1}).raise_for_status()
            log("phase 1: request overhead")
            overhead(rep, srv.url, tokens, args)
            log("phase 2: Monasca JSON ingest")
            ingest_rates(rep, srv, tokens, args)
    finally:
        keystone.stop()
    rep.note("Both kinds of token take the same path but for the authenticator: an API key is a SQLite "
             "data_version check and a dict lookup, a cached Keystone token a SHA-256 and an LRU lookup; "
             "the policy decision is memoized for both.")
    return rep.finish(write=not args.no_write, results_dir=args.results_dir, strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
