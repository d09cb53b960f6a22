"""A notifier of the transition work queue in a process of its own, to be killed -9 by a test.

``python -m tests.support.notifier_member SETTINGS_JSON DATA_DIR ACK_WAIT [die-before-ack]`` prints
``ready`` once it pulls from the queue. With ``die-before-ack`` it kills itself (-9) right after its
first fully delivered transition and before acknowledging it: the crash between send and ack.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import orjson

from nephoscope.config import ClusterSettings, NotifySettings
from nephoscope.notify.repository import Database, MethodRepository
from nephoscope.notify.workqueue import TransitionNotifier


class DyingNotifier(TransitionNotifier):
    async def _settle(self, message, transition, failures) -> None:  # noqa: ANN001
        if not failures:
            os.kill(os.getpid(), signal.SIGKILL)
        await super()._settle(message, transition, failures)


def main() -> None:
    settings = ClusterSettings(**orjson.loads(sys.argv[1]))
    kind = DyingNotifier if sys.argv[4:] == ["die-before-ack"] else TransitionNotifier
    notifier = kind(settings, NotifySettings(webhook_timeout=30), MethodRepository(Database(Path(sys.argv[2]))),
                    ack_wait_seconds=float(sys.argv[3]))
    notifier.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
