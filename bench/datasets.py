"""Deterministic, vectorised generators of realistic OpenStack cloud series.

Every value is a pure function of (series uid, step index since the dataset
start) plus, for random-walk/counter shapes, a running sum carried from the
dataset start.  Values are therefore identical however the data is chunked or
partitioned across client processes, and identical from run to run (only the
timestamps move with the dataset's start time).

Shapes (one point every 10 s, timestamps exactly aligned to the step):

* ``cpu``     cpu %, one decimal, 0-100: per-host base level + diurnal swing +
              random walk (in logit space, so it stays in range) + noise.
* ``mem``     memory bytes, multiples of 4096, plateaus with occasional jumps.
* ``counter`` monotonic network byte counters; increments follow a smooth
              traffic rate (diurnal + slower swells) with moderate (~15 %) noise.
* ``diskcounter`` monotonic disk byte counters: the same smooth rate in whole
              512-byte sectors during busy minutes, (nearly) flat in idle ones.
* ``iops``    bursty op rates: mostly 0, one-minute bursts, rare isolated
              blips, one decimal.

Renderers turn a (rows x points) block into request bodies: Monasca JSON (the
``POST /v2.0/metrics`` array), the native columnar batch (msgpack, optional
zstd/gzip), VictoriaMetrics ``/api/v1/import`` JSON lines (row-wise or
columnar) and Prometheus text for ``/api/v1/import/prometheus``.

Run ``python bench/datasets.py --help`` for a self-test / preview.
"""

from __future__ import annotations

import argparse
import gzip
import math
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Iterator, Sequence

import cramjam
import msgspec
import numpy as np
import orjson

STEP_MS = 10_000
DAY_S = 86_400.0
_NUMPY = orjson.OPT_SERIALIZE_NUMPY

# --------------------------------------------------------------------------
# counter-based hashing (splitmix64 finaliser), vectorised
# --------------------------------------------------------------------------
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_KT = np.uint64(0xD1B54A32D192ED03)
_TWO53 = 1.0 / float(1 << 53)


def _mix(x: np.ndarray) -> np.ndarray:
    x = x + _GOLD
    x ^= x >> np.uint64(30)
    x *= _C1
    x ^= x >> np.uint64(27)
    x *= _C2
    x ^= x >> np.uint64(31)
    return x


def _key(uid: np.ndarray, tidx: np.ndarray, salt: int) -> np.ndarray:
    """(S,) uids x (n,) step indices -> (S, n) uint64 hash keys."""
    t = (tidx.astype(np.uint64) + np.uint64(1)) * _KT
    return _mix(uid[:, None] ^ t[None, :] ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF))


def _uniform(uid, tidx, salt) -> np.ndarray:
    return (_key(uid, tidx, salt) >> np.uint64(11)).astype(np.float64) * _TWO53


def _gauss(uid, tidx, salt) -> np.ndarray:
    """Approximately N(0,1): Irwin-Hall sum of four 16-bit uniforms of one hash."""
    h = _key(uid, tidx, salt)
    m = np.uint64(0xFFFF)
    s = (h & m) + ((h >> np.uint64(16)) & m) + ((h >> np.uint64(32)) & m) + (h >> np.uint64(48))
    return (s.astype(np.float64) * (1.0 / 65536.0) - 2.0) * 1.7320508075688772


def _series_uniform(uid: np.ndarray, salt: int) -> np.ndarray:
    """One deterministic uniform in [0,1) per series (a static parameter)."""
    return (_mix(uid ^ np.uint64(salt * 0x632BE59BD9B4E019 & 0xFFFFFFFFFFFFFFFF)) >> np.uint64(11)).astype(
        np.float64
    ) * _TWO53


def _cumsum_from(state: np.ndarray, incr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sequential running sum continuing from ``state`` (bit-identical to one long cumsum)."""
    c = np.cumsum(np.concatenate([state[:, None], incr], axis=1), axis=1)
    return c[:, 1:], c[:, -1].copy()


# --------------------------------------------------------------------------
# shapes
# --------------------------------------------------------------------------
class Shape:
    name = "?"

    def params(self, uid: np.ndarray) -> dict:
        return {}

    def init_state(self, uid: np.ndarray, p: dict) -> np.ndarray | None:
        return None

    def block(self, uid, tidx, p, state):  # -> (values (S,n), state)
        raise NotImplementedError


class CpuShape(Shape):
    """cpu %: sigmoid(base + diurnal + random walk) * 100 + noise, one decimal."""

    name = "cpu"

    def params(self, uid):
        u = lambda s: _series_uniform(uid, s)[:, None]  # noqa: E731
        lvl = 0.02 + 0.6 * u(101) ** 1.6  # many quiet hosts, some busy ones
        return {
            "base": np.log(lvl / (1 - lvl)),
            "amp": 0.9 * u(102),
            "phase": 2 * math.pi * u(103),
            "sig_walk": 0.008 + 0.02 * u(104),
            "sig_noise": 0.15 + 1.6 * u(105),
        }

    def init_state(self, uid, p):
        return np.zeros(len(uid))

    def block(self, uid, tidx, p, state):
        walk, state = _cumsum_from(state, p["sig_walk"] * _gauss(uid, tidx, 110))
        tsec = tidx.astype(np.float64)[None, :] * (STEP_MS / 1000.0)
        x = p["base"] + p["amp"] * np.sin(2 * math.pi * tsec / DAY_S + p["phase"]) + walk
        v = 100.0 / (1.0 + np.exp(-x)) + p["sig_noise"] * _gauss(uid, tidx, 111)
        np.clip(v, 0.0, 100.0, out=v)
        return np.round(v, 1), state


class MemShape(Shape):
    """memory used bytes: multiple of 4096; plateaus broken by occasional jumps."""

    name = "mem"

    def params(self, uid):
        u = lambda s: _series_uniform(uid, s)  # noqa: E731
        pages = np.exp2(21 + np.floor(u(201) * 6))  # 8 GiB .. 256 GiB in 4 KiB pages
        return {
            "pages": pages[:, None],
            "base": np.floor(pages * (0.2 + 0.5 * u(202)))[:, None],
            "p_event": (0.003 + 0.03 * u(203) ** 2)[:, None],
            "size": (pages * 0.01 * (0.3 + u(204)))[:, None],
        }

    def init_state(self, uid, p):
        return np.zeros(len(uid))

    def block(self, uid, tidx, p, state):
        ev = _uniform(uid, tidx, 210) < p["p_event"]
        incr = np.where(ev, np.round(_gauss(uid, tidx, 211) * p["size"]), 0.0)
        walk, state = _cumsum_from(state, incr)
        used = np.clip(p["base"] + walk, np.floor(0.05 * p["pages"]), np.floor(0.95 * p["pages"]))
        return used * 4096.0, state


class CounterShape(Shape):
    """monotonic byte counter: increments = smooth traffic rate x (1 + 15% noise) x 10 s."""

    name = "counter"

    def params(self, uid):
        u = lambda s: _series_uniform(uid, s)[:, None]  # noqa: E731
        return {
            "peak": np.exp(math.log(1e4) + u(301) * (math.log(5e7) - math.log(1e4))),  # bytes/s
            "phase": 2 * math.pi * u(302),
            "phase2": 2 * math.pi * u(303),
            "period2": 3600.0 * (1.0 + 5.0 * u(304)),
            "start": np.floor(u(305)[:, 0] * float(1 << 40)),
        }

    def init_state(self, uid, p):
        return p["start"].copy()

    def block(self, uid, tidx, p, state):
        tsec = tidx.astype(np.float64)[None, :] * (STEP_MS / 1000.0)
        shape = (
            0.5
            + 0.35 * np.sin(2 * math.pi * tsec / DAY_S + p["phase"])
            + 0.15 * np.sin(2 * math.pi * tsec / p["period2"] + p["phase2"])
        )
        rate = p["peak"] * shape * (1.0 + 0.15 * _gauss(uid, tidx, 310))
        incr = np.floor(np.maximum(rate, 0.0) * (STEP_MS / 1000.0))
        return _cumsum_from(state, incr)


class IopsShape(Shape):
    """bursty op rate: mostly 0, one-minute bursts at a per-series level, rare blips."""

    name = "iops"

    def params(self, uid):
        u = lambda s: _series_uniform(uid, s)[:, None]  # noqa: E731
        return {
            "p_burst": 0.01 + 0.12 * u(401) ** 2,
            "scale": np.exp(math.log(5.0) + u(402) * math.log(100.0)),
        }

    def block(self, uid, tidx, p, state):
        blk = tidx // 6  # 1-minute blocks
        active = _uniform(uid, blk, 410) < p["p_burst"]
        level = p["scale"] * np.exp(0.7 * _gauss(uid, blk, 411))
        burst = level * (0.5 + _uniform(uid, tidx, 412))
        blip = _uniform(uid, tidx, 413) < 0.01
        small = 0.1 + 4.9 * _uniform(uid, tidx, 414)
        v = np.where(active, burst, np.where(blip, small, 0.0))
        return np.round(v, 1), state


class DiskCounterShape(CounterShape):
    """disk byte counter: whole 512-byte sectors; busy minutes follow the smooth rate, idle
    minutes mostly add nothing (sometimes a few 4 KiB pages of journal/metadata writes)."""

    name = "diskcounter"

    def params(self, uid):
        p = super().params(uid)
        u = lambda s: _series_uniform(uid, s)[:, None]  # noqa: E731
        p["p_busy"] = 0.1 + 0.9 * u(351)
        p["start"] = np.floor(p["start"] / 512.0) * 512.0
        return p

    def block(self, uid, tidx, p, state):
        tsec = tidx.astype(np.float64)[None, :] * (STEP_MS / 1000.0)
        shape = (
            0.5
            + 0.35 * np.sin(2 * math.pi * tsec / DAY_S + p["phase"])
            + 0.15 * np.sin(2 * math.pi * tsec / p["period2"] + p["phase2"])
        )
        rate = p["peak"] * shape * (1.0 + 0.15 * _gauss(uid, tidx, 360))
        busy_sectors = np.floor(np.maximum(rate, 0.0) * (STEP_MS / 1000.0) / 512.0)
        busy = _uniform(uid, tidx // 6, 361) < p["p_busy"]
        pages = np.floor(_uniform(uid, tidx, 362) * 24.0) - 16.0  # <=0 most of the time
        idle_sectors = np.maximum(pages, 0.0) * 8.0
        incr = np.where(busy, busy_sectors, idle_sectors) * 512.0
        return _cumsum_from(state, incr)


SHAPES: dict[str, Shape] = {
    s.name: s for s in (CpuShape(), MemShape(), CounterShape(), IopsShape(), DiskCounterShape())
}
SHAPE_CODES = {name: i for i, name in enumerate(SHAPES)}

# metric templates per group: (metric name, extra dimensions, shape)
GROUPS: dict[str, list[tuple[str, dict[str, str], str]]] = {
    "cpu": [("cpu.percent", {}, "cpu")],
    "mem": [("mem.used_bytes", {}, "mem")],
    "net": [("net.in_bytes", {"device": "eth0"}, "counter"), ("net.out_bytes", {"device": "eth0"}, "counter")],
    "disk": [("disk.read_bytes", {"device": "vda"}, "diskcounter"),
             ("disk.write_bytes", {"device": "vda"}, "diskcounter")],
    "iops": [("io.read_ops_sec", {"device": "vda"}, "iops"), ("io.write_ops_sec", {"device": "vda"}, "iops")],
}
ALL_GROUPS = tuple(GROUPS)


def parse_groups(spec: str | dict | Sequence[str] | None, hosts: int) -> dict[str, int]:
    """'cpu,mem' -> {cpu: hosts, mem: hosts};  'cpu=1000,mem=157' -> explicit host counts."""
    if spec is None or spec == "" or spec == "all":
        return {g: hosts for g in ALL_GROUPS}
    if isinstance(spec, dict):
        out = dict(spec)
    else:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        out = {}
        for it in items:
            it = it.strip()
            if not it:
                continue
            g, _, n = it.partition("=")
            out[g.strip()] = int(n) if n else hosts
    for g in out:
        if g not in GROUPS:
            raise ValueError(f"unknown group {g!r}; known: {', '.join(GROUPS)}")
    return out


def align_down(ms: int, step_ms: int = STEP_MS) -> int:
    return ms - ms % step_ms


# The product keeps raw samples for one day by default and refuses older ones, so
# benchmark data must sit inside the last 24 h for the whole run.
RAW_RETENTION_S = 86_400
END_MARGIN_S = 300.0


def past_window(points: int, step_ms: int = STEP_MS, margin_s: float = 120.0, align_ms: int | None = None) -> int:
    """Start (ms) of a window of ``points`` steps that ends ``margin_s`` before now.

    ``align_ms`` aligns the window END down to a multiple (e.g. a statistics period).
    """
    end = align_down(int((time.time() - margin_s) * 1000), align_ms or step_ms)
    end = align_down(end, step_ms)
    return end - points * step_ms


def max_recent_points(step_ms: int = STEP_MS, margin_s: float = END_MARGIN_S, safety_s: float = 300.0) -> int:
    """Most points per series that fit in the raw retention with ``margin_s`` at the end and
    ``safety_s`` at the start (so the oldest samples do not age out while the bench runs)."""
    return int((RAW_RETENTION_S - margin_s - safety_s) * 1000 // step_ms)


# --------------------------------------------------------------------------
# the dataset: a catalog of series + generation
# --------------------------------------------------------------------------
class Dataset:
    """A deterministic set of series (host-major order) with a fixed start time.

    ``entity='host'``: hypervisors ``compute-00042`` with dims hostname, region,
    zone, cluster, service (+ device).  ``entity='vm'``: instances with
    resource_id (UUID), tenant_id, hostname (their hypervisor), region, zone,
    service (+ device); metric names get a ``vm.`` prefix.
    """

    def __init__(
        self,
        hosts: int = 200,
        groups: str | dict | Sequence[str] | None = None,
        *,
        entity: str = "host",
        start_ms: int | None = None,
        points: int = 8640,
        step_ms: int = STEP_MS,
        seed: int = 1,
    ):
        if entity not in ("host", "vm"):
            raise ValueError("entity must be 'host' or 'vm'")
        self.entity = entity
        self.seed = int(seed)
        self.step_ms = int(step_ms)
        self.points = int(points)
        self.groups = parse_groups(groups, hosts)
        self.hosts = max(self.groups.values()) if self.groups else 0
        self.start_ms = align_down(int(start_ms), step_ms) if start_ms is not None else past_window(points, step_ms)

        # templates in a fixed order; rows = (entity, template) pairs, entity-major
        self.templates: list[tuple[str, dict[str, str], str, str]] = []  # name, extra dims, shape, group
        ents, tmps = [], []
        for g, count in self.groups.items():
            for name, extra, shape in GROUPS[g]:
                if entity == "vm":
                    name = "vm." + name
                    extra = {k: ("tap0" if v == "eth0" else v) for k, v in extra.items()}
                j = len(self.templates)
                self.templates.append((name, extra, shape, g))
                ents.append(np.arange(count, dtype=np.int64))
                tmps.append(np.full(count, j, dtype=np.int32))
        ent = np.concatenate(ents) if ents else np.zeros(0, np.int64)
        tmp = np.concatenate(tmps) if tmps else np.zeros(0, np.int32)
        order = np.lexsort((tmp, ent))
        self.row_entity = ent[order]
        self.row_template = tmp[order]
        self.n_series = len(self.row_entity)
        shape_of_template = np.array([SHAPE_CODES[t[2]] for t in self.templates] or [0], dtype=np.int8)
        self.row_shape = shape_of_template[self.row_template] if self.n_series else np.zeros(0, np.int8)
        kind = 0x5EED if entity == "host" else 0x0FF1CE
        k = (
            np.uint64(self.seed) * np.uint64(0x9E3779B97F4A7C15)
            ^ (self.row_entity.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))
            ^ (self.row_template.astype(np.uint64) * np.uint64(0xA0761D6478BD642F))
            ^ np.uint64(kind)
        )
        self.row_uid = _mix(_mix(k))
        self._entity_dims: dict[int, dict[str, str]] = {}
        self._caches: dict[str, dict[int, object]] = {}

    # ---- catalog ---------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return self.n_series * self.points

    def timestamps(self, t0: int = 0, n: int | None = None) -> np.ndarray:
        n = self.points - t0 if n is None else n
        return self.start_ms + (np.arange(t0, t0 + n, dtype=np.int64) * self.step_ms)

    def hostname(self, i: int) -> str:
        return f"compute-{i:05d}"

    def entity_dims(self, i: int) -> dict[str, str]:
        d = self._entity_dims.get(i)
        if d is None:
            if self.entity == "host":
                d = {
                    "hostname": self.hostname(i),
                    "region": "RegionOne",
                    "zone": f"nova-az{i % 3 + 1}",
                    "cluster": f"rack-{i // 40:03d}",
                    "service": "compute",
                }
            else:
                hi = _mix(np.array([self.seed * 7919 + i], np.uint64))
                rid = uuid.UUID(int=int(hi[0]) << 64 | int(_mix(hi ^ np.uint64(0x5851F42D4C957F2D))[0]), version=4)
                tenant = int(_mix(np.array([self.seed * 104729 + i // 25], np.uint64))[0])
                d = {
                    "resource_id": str(rid),
                    "tenant_id": f"{tenant:016x}{tenant ^ 0x5A5A5A5A5A5A5A5A:016x}",
                    "hostname": self.hostname(i // 30),
                    "region": "RegionOne",
                    "zone": f"nova-az{(i // 30) % 3 + 1}",
                    "service": "compute",
                }
            if len(self._entity_dims) < 200_000:
                self._entity_dims[i] = d
        return d

    def series_name(self, row: int) -> str:
        return self.templates[self.row_template[row]][0]

    def series_dims(self, row: int) -> dict[str, str]:
        t = self.templates[self.row_template[row]]
        d = self.entity_dims(int(self.row_entity[row]))
        return {**d, **t[1]} if t[1] else dict(d)

    def series_def(self, row: int) -> dict:
        return {"name": self.series_name(row), "dimensions": self.series_dims(row)}

    def rows_where(self, name: str | None = None, **dims: str) -> np.ndarray:
        """Row indices whose name (and given dimensions) match."""
        out = []
        for r in range(self.n_series):
            if name is not None and self.series_name(r) != name:
                continue
            d = self.series_dims(r)
            if all(d.get(k) == v for k, v in dims.items()):
                out.append(r)
        return np.array(out, dtype=np.int64)

    def _cached(self, kind: str, row: int, build):
        c = self._caches.setdefault(kind, {})
        v = c.get(row)
        if v is None:
            v = build(row)
            if len(c) < 2_000_000:
                c[row] = v
        return v

    def monasca_prefix(self, row: int) -> bytes:
        return self._cached(
            "monasca",
            row,
            lambda r: orjson.dumps({"name": self.series_name(r), "dimensions": self.series_dims(r)})[:-1]
            + b',"timestamp":',
        )

    def vm_metric(self, row: int) -> bytes:
        return self._cached(
            "vm", row, lambda r: orjson.dumps({"__name__": self.series_name(r), **self.series_dims(r)})
        )

    def prom_prefix(self, row: int) -> bytes:
        def build(r):
            labels = ",".join(f'{k}="{_prom_escape(v)}"' for k, v in self.series_dims(r).items())
            return f"{self.series_name(r)}{{{labels}}} ".encode()

        return self._cached("prom", row, build)

    # ---- generation ------------------------------------------------------
    def stream(self, rows=None, t0: int = 0) -> "Stream":
        return Stream(self, rows, t0)

    def block(self, rows=None, t0: int = 0, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(timestamps (n,), values (R, n)) for rows over steps [t0, t0+n) (walks replayed from 0)."""
        s = self.stream(rows, t0)
        return s.take(self.points - t0 if n is None else n)

    def describe(self) -> dict:
        return {
            "entity": self.entity,
            "hosts": self.hosts,
            "groups": self.groups,
            "series": self.n_series,
            "points_per_series": self.points,
            "samples": self.n_samples,
            "step_s": self.step_ms / 1000,
            "start_ms": self.start_ms,
            "end_ms": self.start_ms + self.points * self.step_ms,
            "seed": self.seed,
        }


def _prom_escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Stream:
    """Forward iterator over a set of rows; carries walk/counter state between chunks."""

    def __init__(self, ds: Dataset, rows=None, t0: int = 0):
        self.ds = ds
        if rows is None:
            rows = np.arange(ds.n_series, dtype=np.int64)
        elif isinstance(rows, slice):
            rows = np.arange(ds.n_series, dtype=np.int64)[rows]
        self.rows = np.asarray(rows, dtype=np.int64)
        self.t = 0
        self.parts = []  # (shape, positions, uid, params, state)
        codes = ds.row_shape[self.rows] if len(self.rows) else np.zeros(0, np.int8)
        for name, code in SHAPE_CODES.items():
            pos = np.nonzero(codes == code)[0]
            if len(pos) == 0:
                continue
            shape = SHAPES[name]
            uid = ds.row_uid[self.rows[pos]]
            p = shape.params(uid)
            self.parts.append([shape, pos, uid, p, shape.init_state(uid, p)])
        if t0:
            self.skip(t0)

    def skip(self, n: int, chunk: int = 2048) -> None:
        while n > 0:
            k = min(n, chunk)
            self.take(k)
            n -= k

    def take(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        tidx = np.arange(self.t, self.t + n, dtype=np.int64)
        out = np.empty((len(self.rows), n), dtype=np.float64)
        for part in self.parts:
            shape, pos, uid, p, state = part
            vals, part[4] = shape.block(uid, tidx, p, state)
            out[pos] = vals
        ts = self.ds.start_ms + tidx * self.ds.step_ms
        self.t += n
        return ts, out


# --------------------------------------------------------------------------
# renderers
# --------------------------------------------------------------------------
def _num_tokens(a: np.ndarray) -> list[bytes]:
    """orjson-format every number of a 1-D array (C speed) and split into tokens."""
    if len(a) == 0:
        return []
    return orjson.dumps(np.ascontiguousarray(a), option=_NUMPY)[1:-1].split(b",")


def flatten_time_major(rows: np.ndarray, ts: np.ndarray, values: np.ndarray):
    """(R,), (n,), (R,n) -> flat rows/ts/values ordered timestamp-major (agent-like)."""
    R, n = values.shape
    return np.tile(rows, n), np.repeat(ts, R), values.T.ravel()


def render_monasca(ds: Dataset, rows_flat, ts_flat, vals_flat) -> bytes:
    """Monasca ``POST /v2.0/metrics`` body: JSON array of metric objects.

    Byte-identical to ``orjson.dumps([{name, dimensions, timestamp, value, value_meta: None}, ...])``.
    """
    pre = [ds.monasca_prefix(int(r)) for r in rows_flat]
    tss = _num_tokens(np.asarray(ts_flat, dtype=np.int64))
    vals = _num_tokens(np.asarray(vals_flat, dtype=np.float64))
    mid, end = b',"value":', b',"value_meta":null}'
    return b"[" + b",".join([p + t + mid + v + end for p, t, v in zip(pre, tss, vals)]) + b"]"


def render_monasca_reference(ds: Dataset, rows_flat, ts_flat, vals_flat) -> bytes:
    """Slow, obviously-correct version of :func:`render_monasca` (used by the self-test)."""
    return orjson.dumps(
        [
            {"name": ds.series_name(int(r)), "dimensions": ds.series_dims(int(r)), "timestamp": int(t),
             "value": float(v), "value_meta": None}
            for r, t, v in zip(rows_flat, ts_flat, vals_flat)
        ]
    )


def render_vm_rows(ds: Dataset, rows_flat, ts_flat, vals_flat) -> bytes:
    """VictoriaMetrics ``/api/v1/import`` JSON lines, one line per sample (row-wise, like Monasca)."""
    met = [ds.vm_metric(int(r)) for r in rows_flat]
    tss = _num_tokens(np.asarray(ts_flat, dtype=np.int64))
    vals = _num_tokens(np.asarray(vals_flat, dtype=np.float64))
    a, b, c = b'{"metric":', b',"values":[', b'],"timestamps":['
    return b"".join([a + m + b + v + c + t + b"]}\n" for m, t, v in zip(met, tss, vals)])


def render_vm_columnar(ds: Dataset, rows, ts, values) -> bytes:
    """VictoriaMetrics ``/api/v1/import`` JSON lines, one line per series with all its points."""
    tsj = orjson.dumps(np.ascontiguousarray(ts, dtype=np.int64), option=_NUMPY)
    vj = orjson.dumps(np.ascontiguousarray(values, dtype=np.float64), option=_NUMPY)
    lines = vj[1:-1].split(b"],[") if len(rows) else []
    if lines:
        lines[0] = lines[0][1:]
        lines[-1] = lines[-1][:-1]
    out = []
    for r, v in zip(rows, lines):
        out.append(b'{"metric":' + ds.vm_metric(int(r)) + b',"values":[' + v + b'],"timestamps":' + tsj + b"}\n")
    return b"".join(out)


def render_prometheus(ds: Dataset, rows_flat, ts_flat, vals_flat) -> bytes:
    """Prometheus text exposition lines with ms timestamps (``/api/v1/import/prometheus``)."""
    pre = [ds.prom_prefix(int(r)) for r in rows_flat]
    tss = _num_tokens(np.asarray(ts_flat, dtype=np.int64))
    vals = _num_tokens(np.asarray(vals_flat, dtype=np.float64))
    return b"".join([p + v + b" " + t + b"\n" for p, t, v in zip(pre, tss, vals)])


def flatten_series_major(rows, ts, values):
    R, n = values.shape
    return np.repeat(rows, n), np.tile(ts, R), values.ravel()


_MSGPACK = msgspec.msgpack.Encoder()


def compress(body: bytes, codec: str | None, level: int = 3) -> bytes:
    if not codec or codec == "identity":
        return body
    if codec == "zstd":
        return bytes(cramjam.zstd.compress(body, level=level))
    if codec == "gzip":
        return gzip.compress(body, compresslevel=min(max(level, 1), 9))
    raise ValueError(f"unknown compression {codec!r}")


def encode_native(
    series: list[dict],
    series_index,
    timestamp,
    value=None,
    *,
    count=None,
    sum=None,  # noqa: A002 - wire field name
    min=None,  # noqa: A002
    max=None,  # noqa: A002
    last=None,
    content_type: str = "msgpack",
    compression: str | None = "zstd",
    level: int = 3,
    as_lists: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """Encode a native ``POST /v1/points`` batch. Returns (body, headers).

    Columns are little-endian byte strings (uint32 series_index, int64 timestamp,
    float64 value / sum / min / max / last, uint32 count) unless ``as_lists`` or
    JSON content is requested, in which case they are plain lists.
    """
    cols: dict[str, object] = {"series": series}
    spec = [("series_index", series_index, "<u4"), ("timestamp", timestamp, "<i8")]
    if value is not None:
        spec.append(("value", value, "<f8"))
    else:
        spec += [("count", count, "<u4"), ("sum", sum, "<f8"), ("min", min, "<f8"), ("max", max, "<f8"),
                 ("last", last, "<f8")]
    use_lists = as_lists or content_type == "json"
    for key, arr, dt in spec:
        if arr is None:
            raise ValueError(f"native batch needs column {key!r}")
        a = np.ascontiguousarray(arr, dtype=dt)
        cols[key] = a.tolist() if use_lists else a.tobytes()
    if content_type == "json":
        raw = orjson.dumps(cols)
        headers = {"Content-Type": "application/json"}
    else:
        raw = _MSGPACK.encode(cols)
        headers = {"Content-Type": "application/msgpack"}
    body = compress(raw, compression, level)
    if compression and compression != "identity":
        headers["Content-Encoding"] = compression
    return body, headers


def encode_series_table(ds: Dataset, rows) -> msgspec.Raw:
    """Pre-encode the ``series`` list of a native batch (msgpack) for reuse across batches."""
    return msgspec.Raw(_MSGPACK.encode([ds.series_def(int(r)) for r in rows]))


def render_native(ds: Dataset, rows, ts, values, *, compression="zstd", level=3, content_type="msgpack",
                  series_table: msgspec.Raw | None = None):
    """Native batch for a (R rows x n points) block, series-major. Returns (body, headers)."""
    R, n = values.shape
    if series_table is not None and content_type == "msgpack":
        series = series_table
    else:
        series = [ds.series_def(int(r)) for r in rows]
    idx = np.repeat(np.arange(R, dtype=np.uint32), n)
    tsc = np.tile(np.asarray(ts, dtype=np.int64), R)
    return encode_native(series, idx, tsc, values.ravel(), compression=compression, level=level,
                         content_type=content_type)


def decode_native(body: bytes, headers: dict[str, str]) -> dict:
    """Inverse of :func:`encode_native` (for tests/stubs): columns as numpy arrays."""
    enc = {k.lower(): v for k, v in headers.items()}.get("content-encoding")
    if enc == "zstd":
        body = bytes(cramjam.zstd.decompress(body))
    elif enc == "gzip":
        body = gzip.decompress(body)
    ct = {k.lower(): v for k, v in headers.items()}.get("content-type", "application/msgpack")
    doc = orjson.loads(body) if "json" in ct else msgspec.msgpack.decode(body)
    dts = {"series_index": "<u4", "count": "<u4", "timestamp": "<i8"}
    out = {"series": doc["series"]}
    for k, v in doc.items():
        if k == "series":
            continue
        dt = dts.get(k, "<f8")
        out[k] = np.frombuffer(v, dtype=dt) if isinstance(v, (bytes, bytearray)) else np.asarray(v, dtype=dt)
    return out


# --------------------------------------------------------------------------
# batch iterators over a (rows x points) grid
# --------------------------------------------------------------------------
@dataclass
class Batch:
    body: bytes
    samples: int
    headers: dict[str, str] | None = None


def grid_blocks(ds: Dataset, rows: np.ndarray, points: int, chunk_points: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (ts, values) chunks covering steps [0, points) for ``rows``."""
    st = ds.stream(rows)
    done = 0
    while done < points:
        k = min(chunk_points, points - done)
        yield st.take(k)
        done += k


def row_batches(ds: Dataset, rows: np.ndarray, points: int, batch: int, render) -> Iterator[Batch]:
    """Timestamp-major sample order cut into batches of exactly ``batch`` samples (last may be short).

    ``render(ds, rows_flat, ts_flat, vals_flat) -> bytes`` (Monasca, VM rows, Prometheus).
    """
    rows = np.asarray(rows, dtype=np.int64)
    chunk_points = max(1, min(points, (200_000 // max(1, len(rows))) + 1))
    carry = None
    for ts, vals in grid_blocks(ds, rows, points, chunk_points):
        fr, ft, fv = flatten_time_major(rows, ts, vals)
        if carry is not None:
            fr, ft, fv = (np.concatenate([carry[0], fr]), np.concatenate([carry[1], ft]), np.concatenate([carry[2], fv]))
        full = (len(fr) // batch) * batch
        for i in range(0, full, batch):
            yield Batch(render(ds, fr[i:i + batch], ft[i:i + batch], fv[i:i + batch]), batch)
        carry = (fr[full:], ft[full:], fv[full:]) if full < len(fr) else None
    if carry is not None and len(carry[0]):
        yield Batch(render(ds, *carry), len(carry[0]))


def columnar_batches(ds: Dataset, rows: np.ndarray, points: int, series_per_batch: int, points_per_batch: int,
                     kind: str, *, compression="zstd", level=3) -> Iterator[Batch]:
    """Batches of (series_per_batch x points_per_batch), time chunk outer, series group inner.

    kind: 'native' (msgpack columnar), 'vm-json' (VM JSON lines, one per series),
    'prom' / 'vm-rows' / 'monasca' (same blocks, rendered per sample, series-major).
    """
    rows = np.asarray(rows, dtype=np.int64)
    for ts, vals in grid_blocks(ds, rows, points, points_per_batch):
        for g in range(0, len(rows), series_per_batch):
            r = rows[g:g + series_per_batch]
            v = vals[g:g + series_per_batch]
            n = v.size
            if kind == "native":
                body, headers = render_native(ds, r, ts, v, compression=compression, level=level)
                yield Batch(body, n, headers)
            elif kind == "vm-json":
                yield Batch(render_vm_columnar(ds, r, ts, v), n)
            elif kind == "prom":
                yield Batch(render_prometheus(ds, *flatten_series_major(r, ts, v)), n)
            elif kind == "vm-rows":
                yield Batch(render_vm_rows(ds, *flatten_series_major(r, ts, v)), n)
            elif kind == "monasca":
                yield Batch(render_monasca(ds, *flatten_series_major(r, ts, v)), n)
            else:
                raise ValueError(kind)


# --------------------------------------------------------------------------
# self-test / preview
# --------------------------------------------------------------------------
def _selftest(args) -> int:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    ds = Dataset(hosts=args.hosts, groups=args.groups, entity=args.entity, points=args.points, seed=args.seed)
    con.print(ds.describe())
    t = time.perf_counter()
    ts, full = ds.block()
    gen_s = time.perf_counter() - t
    con.print(f"generated {full.size:,} samples in {gen_s:.2f}s ({full.size / gen_s / 1e6:.1f} M samples/s)")
    # chunk invariance
    st = ds.stream()
    parts = [st.take(k)[1] for k in (1, 7, 100, ds.points - 108)] if ds.points > 108 else [st.take(ds.points)[1]]
    assert np.array_equal(np.concatenate(parts, axis=1), full), "chunked generation differs"
    half = ds.n_series // 2
    assert np.array_equal(ds.block(np.arange(half, ds.n_series))[1], full[half:]), "row subset differs"
    assert np.all(np.diff(ts) == ds.step_ms) and ts[0] % ds.step_ms == 0
    tab = Table("series", "shape", "min", "max", "mean", "distinct", "zero %", "repeat %")
    for r in range(min(ds.n_series, 10)):
        v = full[r]
        tab.add_row(f"{ds.series_name(r)} {ds.series_dims(r).get('device', '')}", SHAPES[list(SHAPES)[ds.row_shape[r]]].name,
                    f"{v.min():.6g}", f"{v.max():.6g}", f"{v.mean():.6g}", str(len(np.unique(v))),
                    f"{100 * np.mean(v == 0):.1f}", f"{100 * np.mean(v[1:] == v[:-1]):.1f}")
    con.print(tab)
    # shape checks
    for r in range(ds.n_series):
        v = full[r]
        kind = list(SHAPES)[ds.row_shape[r]]
        if kind == "cpu":
            assert v.min() >= 0 and v.max() <= 100 and np.allclose(v * 10, np.round(v * 10))
        elif kind == "mem":
            assert np.all(v % 4096 == 0)
        elif kind in ("counter", "diskcounter"):
            assert np.all(np.diff(v) >= 0)
            if kind == "diskcounter":
                assert np.all(v % 512 == 0)
    # renderers
    rows = np.arange(min(ds.n_series, 300))
    fr, ft, fv = flatten_time_major(rows, ts[:5], full[rows, :5])
    assert render_monasca(ds, fr, ft, fv) == render_monasca_reference(ds, fr, ft, fv)
    doc = orjson.loads(render_monasca(ds, fr, ft, fv))
    assert len(doc) == len(fr) and doc[0]["timestamp"] == int(ts[0])
    for line, (r, t_, v) in zip(render_vm_rows(ds, fr, ft, fv).splitlines(), zip(fr, ft, fv)):
        o = orjson.loads(line)
        assert o["values"] == [v] and o["timestamps"] == [t_] and o["metric"]["__name__"] == ds.series_name(int(r))
    cols = render_vm_columnar(ds, rows, ts[:5], full[rows, :5]).splitlines()
    assert len(cols) == len(rows) and orjson.loads(cols[-1])["values"] == full[rows[-1], :5].tolist()
    body, headers = render_native(ds, rows, ts[:5], full[rows, :5])
    dec = decode_native(body, headers)
    assert np.array_equal(dec["value"], full[rows, :5].ravel()) and len(dec["series"]) == len(rows)
    assert np.array_equal(dec["timestamp"], np.tile(ts[:5], len(rows)))
    # encoding speed / size
    n = min(ds.n_series, 2000)
    rr = np.arange(n)
    sub = full[:n, : max(1, 100_000 // n)]
    fr, ft, fv = flatten_time_major(rr, ts[: sub.shape[1]], sub)
    tab = Table("format", "bytes/sample", "M samples/s encode")
    for label, fn in (
        ("monasca json", lambda: render_monasca(ds, fr, ft, fv)),
        ("vm json rows", lambda: render_vm_rows(ds, fr, ft, fv)),
        ("prometheus", lambda: render_prometheus(ds, fr, ft, fv)),
        ("vm json columnar", lambda: render_vm_columnar(ds, rr, ts[: sub.shape[1]], sub)),
        ("native msgpack", lambda: render_native(ds, rr, ts[: sub.shape[1]], sub, compression=None)[0]),
        ("native msgpack+zstd", lambda: render_native(ds, rr, ts[: sub.shape[1]], sub)[0]),
    ):
        t = time.perf_counter()
        b = fn()
        dt = time.perf_counter() - t
        tab.add_row(label, f"{len(b) / sub.size:.2f}", f"{sub.size / dt / 1e6:.2f}")
    con.print(tab)
    con.print("[green]datasets self-test passed")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Self-test and preview of the deterministic cloud-series generators "
        "(chunk invariance, value shapes, renderer correctness, encode speed and bytes/sample).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--hosts", type=int, default=50, help="number of hosts/VMs")
    ap.add_argument("--groups", default="all", help="metric groups, e.g. 'cpu,mem' or 'cpu=1000,mem=157'; "
                    f"known: {','.join(GROUPS)}")
    ap.add_argument("--entity", choices=["host", "vm"], default="host")
    ap.add_argument("--points", type=int, default=8640, help="points per series (10 s apart)")
    ap.add_argument("--seed", type=int, default=1)
    return _selftest(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
