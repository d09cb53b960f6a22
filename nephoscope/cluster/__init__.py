"""What every node of a clustered deployment shares, whatever its roles.

A clustered Nephoscope is many processes on NATS JetStream, S3-compatible object storage and a SQL
database (``[cluster]`` in the one TOML file). This package owns the pieces they share that belong
to no one domain: ``leases`` (members of a group, such as the
ingesters or the alarm evaluators, sharing a fixed number of partitions through leases in a
JetStream key-value bucket: spread evenly over the live members, never two owners at once, a dead
member's partitions taken over within a lease).

Imports only ``nephoscope.config``, ``nephoscope.engines`` (the loop thread) and nats-py (the ``cluster`` extra); the domains (metrics,
alarms, …) import it, never the other way round. Speaks no HTTP.
"""

from nephoscope.cluster.leases import LeaseTable, PartitionLeases

__all__ = ["LeaseTable", "PartitionLeases"]
