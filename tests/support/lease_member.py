"""A member of a lease group in a process of its own, to be killed -9 by a test.

``python -m tests.support.lease_member SETTINGS_JSON GROUP MEMBER PARTITIONS`` joins the group and
prints the partitions it owns (space-separated, one line per change) until killed.
"""

from __future__ import annotations

import sys
import threading

import orjson

from nephoscope.cluster import PartitionLeases
from nephoscope.config import ClusterSettings


def main() -> None:
    settings = ClusterSettings(**orjson.loads(sys.argv[1]))
    leases = PartitionLeases(settings, sys.argv[2], sys.argv[3], int(sys.argv[4]))
    leases.add_listener(lambda gained, lost: print(" ".join(map(str, sorted(leases.owned()))), flush=True))
    leases.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
