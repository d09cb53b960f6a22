"""Outages told from defects: an engine not answering for a moment (retried, one line of log) is
not a bug (a traceback)."""

from __future__ import annotations

import nats.errors
import nats.js.errors

from nephoscope.engines.outages import describe, is_outage


def test_outages_are_told_from_defects_through_their_causes() -> None:
    assert is_outage(TimeoutError())
    assert is_outage(nats.errors.TimeoutError())
    assert is_outage(nats.js.errors.ServiceUnavailableError())
    assert is_outage(ConnectionRefusedError(111, "refused"))
    try:
        try:
            raise nats.errors.NoServersError()
        except nats.errors.Error as cause:
            raise RuntimeError("publishing failed") from cause
    except RuntimeError as wrapped:
        assert is_outage(wrapped)
    assert not is_outage(ValueError("bad"))
    assert not is_outage(nats.js.errors.NotFoundError())  # a stream that is not there is no outage
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(ValueError("bad value")) == "ValueError: bad value"
