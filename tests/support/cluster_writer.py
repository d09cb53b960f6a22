"""A process that writes to a cluster store and says what was acknowledged, to be killed -9.

``python -m tests.support.cluster_writer SETTINGS_JSON DATA_DIR START_MS`` opens a ``ClusterStore``
with those settings (flushing after every 20th batch besides its own interval, so some acknowledged
points are in blocks and some only in the stream when it dies) and writes batches of 50 raw samples of series ``writer-<i % 5>``
for ever, printing ``<batch index>`` once each batch is acknowledged. The test kills it mid-stream.
"""

from __future__ import annotations

import sys

import numpy as np
import orjson

from nephoscope.config import Config
from nephoscope.metrics.series import IngestBatch, PointBatch, SeriesDefinition, ValueMeta, define_series
from nephoscope.metrics.store.cluster import ClusterSettings, ClusterStore

BATCH = 50


def series(index: int) -> SeriesDefinition:
    return define_series("project-a", "writer.value", {"hostname": f"writer-{index % 5}"})


def batch_points(index: int, start_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """The timestamps and values of batch ``index`` (what the test expects back)."""
    timestamps = start_ms + (index // 5) * BATCH * 1000 + np.arange(BATCH) * 1000
    return timestamps.astype(np.int64), np.full(BATCH, float(index))


def main() -> None:
    settings = ClusterSettings(**orjson.loads(sys.argv[1]))
    config = Config()
    config.server.data_dir = sys.argv[2]
    start_ms = int(sys.argv[3])
    store = ClusterStore(config, settings)
    store.open()
    index = 0
    while True:
        definition = series(index)
        timestamps, values = batch_points(index, start_ms)
        store.write_now(IngestBatch(store.new_series([definition]),
                                    PointBatch(np.full(BATCH, definition.id, np.int64), timestamps, value=values),
                                    ValueMeta(), "project-a"))
        print(index, flush=True)
        index += 1
        if index % 20 == 0:
            store.flush_now()


if __name__ == "__main__":
    main()
