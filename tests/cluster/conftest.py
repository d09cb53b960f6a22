"""The engines of the cluster tests: the session's NATS cluster and SeaweedFS (tests/metrics/conftest)."""

from tests.metrics.conftest import nats_cluster, seaweed  # noqa: F401 - fixtures shared with the store tests
