"""The whole suite in two lanes at once (``make test``): the distributed engines' tests beside the rest.

The tests marked ``engines`` (``pytestmark`` in their modules: JetStream clusters, SeaweedFS,
PostgreSQL and MariaDB, nodes killed and restarted) spend most of their time waiting on processes
— elections, leases, flushes — so they run in a pytest process of their own beside the rest of the
suite, and the suite takes as long as the longer lane rather than the sum. The lanes share nothing
but the machine's services: each starts its own engines, and no test of the engines' lane stops the
machine's RabbitMQ (the main lane's consumer tests do, so RabbitMQ tests stay there).

The main lane prints as it goes; the engines' lane writes ``var/test-engines.log``, printed when both
are done. The exit status is the first failing lane's (pytest's codes), else 0. Arguments go to both
lanes (``python tests/lanes.py -x``); ``-m``/``-k`` selections belong on a plain ``pytest`` run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINES_LOG = ROOT / "var" / "test-engines.log"


def main(arguments: list[str]) -> int:
    ENGINES_LOG.parent.mkdir(parents=True, exist_ok=True)
    pytest = [sys.executable, "-m", "pytest", "-q", *arguments]
    started = time.monotonic()
    with ENGINES_LOG.open("wb") as log:
        # Its own cache directory is not needed: the engines' lane writes no last-failed list.
        engines = subprocess.Popen([*pytest, "-m", "engines", "-p", "no:cacheprovider"], cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            main_lane = subprocess.call([*pytest, "-m", "not engines"], cwd=ROOT)
        finally:
            engines_lane = engines.wait()
    print(f"\n--- the engines' lane (-m engines), {ENGINES_LOG.relative_to(ROOT)} ---", flush=True)
    sys.stdout.write(ENGINES_LOG.read_text(errors="replace"))
    print(f"--- both lanes done in {time.monotonic() - started:.0f} s: main exit {main_lane}, "
          f"engines exit {engines_lane} ---", flush=True)
    return main_lane or engines_lane


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
