"""An alarm evaluator member (``evaluators`` lease group) in a process of its own, to be killed -9.

``python -m tests.support.evaluator_member SETTINGS_JSON DATA_DIR MEMBER [INLINE_BYTES]`` evaluates the
partitions it holds (definitions and alarms in DATA_DIR; snapshots above INLINE_BYTES in the object
store) and prints ``owned <partitions>`` whenever the set of partitions it runs changes, until killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson

from nephoscope.alarms.cluster.evaluators import AlarmEvaluators
from nephoscope.alarms.definitions import DefinitionStore
from nephoscope.alarms.repository import AlarmDatabase, AlarmRepository
from nephoscope.config import AlarmsSettings, ClusterSettings


def main() -> None:
    settings = ClusterSettings(**orjson.loads(sys.argv[1]))
    data = Path(sys.argv[2])
    evaluators = AlarmEvaluators(settings, DefinitionStore(data), sys.argv[3], AlarmsSettings(grace_seconds=30),
                                 repository=AlarmRepository(AlarmDatabase(data)), lateness_seconds=3600,
                                 snapshot_seconds=0.5,
                                 inline_snapshot_bytes=int(sys.argv[4]) if len(sys.argv) > 4 else 512 * 1024)
    evaluators.start()
    shown = None
    while True:
        owned = evaluators.owned()
        if owned != shown:
            print("owned", *sorted(owned), flush=True)
            shown = owned
        time.sleep(0.02)


if __name__ == "__main__":
    main()
