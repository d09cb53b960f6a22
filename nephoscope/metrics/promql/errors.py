"""Why a query failed, in Prometheus's terms: the error type decides the HTTP status.

``bad_data`` (400) is the request's fault (syntax, parameters), ``execution`` (422) a query that
cannot be evaluated (many-to-many matching, too many samples), ``timeout`` (503) a query that ran
out of time. Messages follow Prometheus's wording, so clients that match on them keep working.
"""

from __future__ import annotations

BAD_DATA = "bad_data"
EXECUTION = "execution"
TIMEOUT = "timeout"


class PromQLError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def bad_data(message: str) -> PromQLError:
    return PromQLError(BAD_DATA, message)


def execution(message: str) -> PromQLError:
    return PromQLError(EXECUTION, message)


TOO_MANY_SAMPLES = "query processing would load too many samples into memory in query execution"
SAME_LABELSET = "vector cannot contain metrics with the same labelset"
