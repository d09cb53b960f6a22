"""Every benchmark, one after the other, with its default settings (``make bench``).

Each script keeps its own table, JSON line and ``bench/results/<bench>.json``; this runner only
starts them in turn (never two at once: they would measure each other) and ends with one line per
run saying whether its targets were met, read back from the JSON line the script printed last.
``--only`` picks some of them, ``--list`` shows them; the whole set takes about an hour here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUNS: list[tuple[str, list[str]]] = [
    ("ingest-monasca", ["ingest.py", "--format", "monasca"]),
    ("ingest-native", ["ingest.py", "--format", "native"]),
    ("storage", ["storage.py"]),
    ("query", ["query.py"]),
    ("series_rss", ["series_rss.py"]),
    ("remote_write", ["remote_write.py"]),
    ("promql", ["promql.py"]),
    ("alarms", ["alarms.py"]),
    ("alarm_failover", ["alarm_failover.py"]),
    ("agent", ["agent.py"]),
    ("events", ["events.py"]),
    ("logs", ["logs.py"]),
    ("codec", ["codec.py"]),
    ("auth", ["auth.py"]),
]
"""(name, the script and its arguments); ``ab.py`` compares two trees and is not part of the set."""


def _verdict(output: str) -> str:
    """What the script's last JSON line says of its targets."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except ValueError:
                continue
            met = result.get("all_targets_met")
            return "no targets" if met is None else ("targets met" if met else "a target missed")
    return "no result line"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma list of runs to do (default: all; see --list)")
    parser.add_argument("--list", action="store_true", help="print the runs and their commands, then exit")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - {name for name, _ in RUNS})
    if unknown:
        parser.error(f"--only: unknown run(s) {', '.join(unknown)}; known: {', '.join(n for n, _ in RUNS)}")
    runs = [(name, command) for name, command in RUNS if not chosen or name in chosen]
    if args.list:
        for name, command in runs:
            print(f"{name:16} {sys.executable} bench/{' '.join(command)}")
        return 0
    verdicts = []
    for position, (name, command) in enumerate(runs, 1):
        print(f"[{position}/{len(runs)}] {name}: bench/{' '.join(command)}", file=sys.stderr, flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], stdout=subprocess.PIPE,
                              text=True, check=False)
        sys.stdout.write(done.stdout)
        verdict = _verdict(done.stdout) if done.returncode == 0 else f"exit {done.returncode}"
        verdicts.append(f"{name:16} {verdict} ({time.monotonic() - started:.0f} s)")
    print("\n".join(verdicts), file=sys.stderr)
    return 0 if all("exit" not in verdict for verdict in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
