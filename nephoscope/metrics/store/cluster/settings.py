"""Where the cluster store's engines are and how its data is cut: one typed settings object."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ClusterSettings:
    """The JetStream servers and stream, the object store and bucket, the partition count."""

    # JetStream: any of the cluster's client URLs (the client fails over between them).
    servers: list[str] = field(default_factory=lambda: ["nats://127.0.0.1:4222"])
    stream: str = "NEPHOSCOPE_METRICS"
    subject_prefix: str = "nephoscope.metrics"
    replicas: int = 3
    # Series are spread over this many partitions by their id (a hash); fixed for a stream's life.
    partitions: int = 8
    # A client's retry within this window is stored once (JetStream's duplicate window).
    duplicate_window_seconds: float = 120.0
    # Seconds JetStream may take to acknowledge a publish (a leader election takes a few); past
    # them the write is refused as Overloaded (503 + Retry-After), never lost silently.
    publish_timeout_seconds: float = 10.0
    # Bytes the stream may hold (per replica) while blocks cannot be written (object storage away):
    # beyond them JetStream refuses new messages and writes are refused as Overloaded.
    stream_max_bytes: int = 8 * 2**30
    # S3-compatible object storage (Ceph RGW, Swift s3api, SeaweedFS).
    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    bucket: str = "nephoscope"
    prefix: str = "metrics"
    # Seconds between flushes of the head into blocks (each flush rewrites the touched windows' blocks).
    flush_interval: float = 10.0
    # Block bytes read from S3 kept in memory (queries of the same windows repeat).
    block_cache_bytes: int = 256 * 2**20
