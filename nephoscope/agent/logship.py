"""Shipping tailed log records to the logs API (Monasca's ``POST /v3.0/logs``) in batches.

The log files are their own spool: file offsets are committed only after the server
acknowledged a batch, so an agent restart or a server outage re-reads from the last
acknowledged record — nothing lost, and nothing shipped twice once acknowledged. While the
server is unreachable the shipper retries the same batch with backoff and reads nothing new.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from nephoscope.agent.config import AgentConfig
from nephoscope.agent.push import Outcome, Sender
from nephoscope.agent.samples import Sample
from nephoscope.agent.spool import EncodedBatch
from nephoscope.agent.tailer import LogRecord, LogTailer
from nephoscope.retry import backoff

log = logging.getLogger(__name__)


def file_dimensions(path: str) -> dict[str, str]:
    """``/var/log/nova/nova-compute.log`` → service nova, component nova-compute, path."""
    component = os.path.basename(path).split(".log")[0] or os.path.basename(path)
    service = os.path.basename(os.path.dirname(path)) or component.split("-")[0]
    return {"path": path, "service": service, "component": component}


class LogShipper:
    def __init__(self, config: AgentConfig, hostname: str) -> None:
        settings = config.logs
        state = Path(settings.state_file or Path(config.agent.spool_dir) / "log-offsets.json")
        state.parent.mkdir(parents=True, exist_ok=True)
        self.tailer = LogTailer(settings.paths, state)
        self.sender = Sender(settings.url or config.push.url, config.push.token, config.push.timeout)
        self.batch_records = settings.batch_records
        self.global_dimensions = {"hostname": hostname, **config.agent.dimensions}
        self.backoff_max = config.push.backoff_max
        self.shipped = 0
        self.rejected = 0
        self.failures = 0

    def encode(self, records: list[LogRecord]) -> EncodedBatch:
        body = {"dimensions": self.global_dimensions,
                "logs": [{"message": record.text, "dimensions": file_dimensions(record.path)} for record in records]}
        return EncodedBatch("/v3.0/logs", "application/json", "", json.dumps(body).encode(), len(records))

    def run(self, stop: threading.Event) -> None:
        pending: list[LogRecord] = []
        attempt = 0
        while not stop.is_set():
            if not pending:
                pending = self.tailer.poll(max_records=self.batch_records)
                if not pending:
                    stop.wait(1.0)
                    continue
            answer = self.sender.send(self.encode(pending))
            if answer.outcome is Outcome.RETRY:
                self.failures += 1
                attempt += 1
                if attempt == 1 or attempt % 10 == 0:
                    log.warning("cannot ship %d log records (%s); retrying", len(pending), answer.detail)
                stop.wait(answer.retry_after or backoff(attempt, 1.0, self.backoff_max, jitter=0.4))
                continue
            if answer.outcome is Outcome.REJECTED:
                self.rejected += len(pending)
                log.error("the logs API rejected %d records for good: %s", len(pending), answer.detail)
            else:
                self.shipped += len(pending)
            self.tailer.commit()
            pending, attempt = [], 0
        self.sender.close()
        self.tailer.close()

    def own_metrics(self) -> list[Sample]:
        return [Sample("nephoscope.agent.log_records_shipped", float(self.shipped)),
                Sample("nephoscope.agent.log_ship_failures", float(self.failures))]
