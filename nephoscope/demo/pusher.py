"""The demo's push loop: the simulated cloud through the server's real HTTP API, as agents send it.

* Metrics: each step's samples go to ``POST /v2.0/metrics`` as Monasca JSON, in batches of at most
  1,000. Operator series (hypervisors, ``vm.*``) are posted to the token's own project; each VM's
  owner-facing series on behalf of its project with ``?tenant_id=<project>``.
* Log lines (``story``): each host's records go to ``POST /v3.0/logs`` in the Monasca log API shape
  the edge agent uses (the host in the global dimensions; each record's file, service and component
  in its own), tracebacks as one record.
* Notifications (``story``): ``POST /v1/events``, as oslo.messaging's ``messagingv2`` envelopes.

At start the loop asks the server what it already holds (the newest measurement of the cloud's first
hypervisor): a restarted demo goes on from there instead of writing its history again, and a cloud
seen for the first time gets its inventory (the instances and volumes it holds) and
``backfill_minutes`` of history. Then one step per ``interval`` on a wall-clock grid. Both are the
same loop: it posts every step that is due, oldest first, and sleeps only once it has caught up. It
retries 429/503 after ``Retry-After``, logs and drops what cannot be delivered, and never raises out
of :func:`run_demo`: it runs inside the server process it feeds.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeVar

import httpx
import numpy as np
import orjson

from nephoscope.demo.cloud import DemoCloud
from nephoscope.demo.config import DemoPlan
from nephoscope.demo.story import CloudStory, Happenings

log = logging.getLogger("nephoscope.demo")

_T = TypeVar("_T")
_RETRYABLE = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 60.0
_FLUSH_POINTS = 10_000
"""Points buffered while catching up before they are posted: big enough to fill 1,000-metric
batches for every tenant, small enough that encoding one flush never stalls the event loop."""
_SUFFIX = b',"value_meta":null}'
_STORY_CHUNK_S = 600.0
"""The most of the services' history posted at once while catching up (about 2,500 log records)."""
_LOG_BODY_BYTES = 2 << 20  # well under the log API's 5 MB
_EVENTS_PER_POST = 1000


class _Stopped(Exception):
    """The stop event was set while waiting; unwinds the loop without posting more."""


@dataclass
class DemoStats:
    """Counters of one run, for logs and tests."""

    steps: int = 0
    requests: int = 0
    metrics_sent: int = 0
    metrics_dropped: int = 0
    log_records_sent: int = 0
    notifications_sent: int = 0
    dropped: int = 0  # log records and notifications that could not be delivered
    resumed_from_ms: int | None = None  # the newest step the server already had at start
    retries: int = 0
    failures: int = 0
    skipped_steps: int = 0
    backfill_done: bool = False


@dataclass(slots=True)
class _Frame:
    timestamp_ms: int
    values: np.ndarray


async def _until_stopped(awaitable: Awaitable[_T], stop: asyncio.Event) -> _T:
    """Await ``awaitable`` unless ``stop`` is set first, in which case it is cancelled."""
    if stop.is_set():
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise _Stopped
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        # Cancelled from outside: leave no orphaned request behind.
        task.cancel()
        raise
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    # asyncio.wait, unlike awaiting the task, lets an outer cancellation through untouched.
    await asyncio.wait({task})
    raise _Stopped


async def _sleep(seconds: float, stop: asyncio.Event) -> None:
    """Sleep, but return early (raising :class:`_Stopped`) as soon as ``stop`` is set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
    except TimeoutError:
        return
    raise _Stopped


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), capped."""
    if not value:
        return default
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return default
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


class DemoPusher:
    """Drives a :class:`DemoCloud` and posts its samples; :meth:`run` is the whole lifecycle."""

    def __init__(
        self,
        base_url: str,
        token: str,
        config: DemoPlan | None = None,
        *,
        cloud: DemoCloud | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config or DemoPlan()
        self.cloud = cloud or DemoCloud(self.config)
        self.story = CloudStory(self.cloud) if self.config.logs_and_events else None
        self._story_until = 0.0
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.stats = DemoStats()
        self._transport = transport
        self._failing = False
        # Each series' JSON up to its timestamp, encoded once: a step then only formats
        # numbers, instead of building and serialising ~2,500 dicts.
        self._prefixes = [
            orjson.dumps({"name": s.name, "dimensions": s.dimensions})[:-1] + b',"timestamp":'
            for s in self.cloud.series
        ]
        groups: dict[str | None, list[int]] = {}
        for index, series in enumerate(self.cloud.series):
            groups.setdefault(series.tenant_id, []).append(index)
        self._groups = {tenant: np.array(idx, dtype=np.int64) for tenant, idx in groups.items()}

    # -- encoding ------------------------------------------------------------------

    def _encode(self, frames: list[_Frame], indices: np.ndarray) -> list[bytes]:
        """One JSON object per (frame, series), in frame order."""
        items: list[bytes] = []
        prefixes = [self._prefixes[i] for i in indices.tolist()]
        for frame in frames:
            middle = str(frame.timestamp_ms).encode() + b',"value":'
            # orjson formats the floats in C; splitting its array text is safe for numbers.
            numbers = orjson.dumps(np.nan_to_num(frame.values[indices]).tolist())[1:-1].split(b",")
            items.extend([p + middle + v + _SUFFIX for p, v in zip(prefixes, numbers)])
        return items

    # -- HTTP ----------------------------------------------------------------------

    async def _send(self, client: httpx.AsyncClient, path: str, body: bytes, params: dict | None, what: str,
                    stop: asyncio.Event) -> bool:
        """POST until accepted, retrying 429/5xx and connection errors with backoff; False when dropped."""
        backoff = 1.0
        problem = ""
        for attempt in range(1, self.config.max_attempts + 1):
            wait: float | None = None
            try:
                self.stats.requests += 1
                response = await _until_stopped(client.post(path, content=body, params=params), stop)
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
                wait = backoff
            else:
                if response.status_code in (200, 201, 202, 204):
                    if self._failing:
                        log.info("demo: the server accepts the cloud's data again")
                        self._failing = False
                    return True
                problem = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code in _RETRYABLE:
                    wait = retry_after_seconds(response.headers.get("retry-after"), backoff)
            self.stats.failures += 1
            if wait is None or attempt == self.config.max_attempts:
                break
            self.stats.retries += 1
            log.debug("demo: POST %s for %s failed (%s), retrying in %.1f s", path, what, problem, wait)
            await _sleep(wait, stop)
            backoff = min(backoff * 2.0, 30.0)
        # One warning per outage, not one per batch: a down server must not flood the log.
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "demo: dropped %s after %s", what, problem)
        self._failing = True
        return False

    async def _post(
        self, client: httpx.AsyncClient, tenant: str | None, items: list[bytes], stop: asyncio.Event
    ) -> None:
        body = b"[" + b",".join(items) + b"]"
        params = {"tenant_id": tenant} if tenant else None
        what = f"{len(items)} metrics for {tenant or 'the operator project'}"
        if await self._send(client, "/v2.0/metrics", body, params, what, stop):
            self.stats.metrics_sent += len(items)
        else:
            self.stats.metrics_dropped += len(items)

    async def _post_story(self, client: httpx.AsyncClient, happenings: Happenings, stop: asyncio.Event) -> None:
        """The services' log records, one host's agent at a time, then their notifications."""
        by_host: dict[str, list[dict]] = {}
        for process, records in happenings.records.items():
            local = {"service": process.service, "component": process.component, "path": process.path}
            by_host.setdefault(process.host, []).extend(
                {"message": text, "dimensions": local} for _, text in records)
        for host, logs in by_host.items():
            common = {"hostname": host, "region": self.config.region}
            batch: list[bytes] = []
            size = 0
            for item in logs:
                encoded = orjson.dumps(item)
                if batch and size + len(encoded) > _LOG_BODY_BYTES:
                    await self._post_logs(client, common, batch, stop)
                    batch, size = [], 0
                batch.append(encoded)
                size += len(encoded) + 1
            if batch:
                await self._post_logs(client, common, batch, stop)
        envelopes = happenings.outbox.envelopes
        for start in range(0, len(envelopes), _EVENTS_PER_POST):
            chunk = envelopes[start:start + _EVENTS_PER_POST]
            if await self._send(client, "/v1/events", orjson.dumps(chunk), None, f"{len(chunk)} notifications", stop):
                self.stats.notifications_sent += len(chunk)
            else:
                self.stats.dropped += len(chunk)

    async def _post_logs(self, client: httpx.AsyncClient, common: dict, batch: list[bytes],
                         stop: asyncio.Event) -> None:
        body = b'{"dimensions":' + orjson.dumps(common) + b',"logs":[' + b",".join(batch) + b"]}"
        if await self._send(client, "/v3.0/logs", body, None, f"{len(batch)} log records of {common['hostname']}",
                            stop):
            self.stats.log_records_sent += len(batch)
        else:
            self.stats.dropped += len(batch)

    async def _tell_story(self, client: httpx.AsyncClient, until_ms: int, stop: asyncio.Event) -> None:
        """Post what the services wrote and sent from where the last post ended up to ``until_ms``."""
        if self.story is None:
            return
        until = until_ms / 1000.0
        while self._story_until < until:
            end = min(until, self._story_until + _STORY_CHUNK_S)
            happenings = await asyncio.to_thread(self.story.between, self._story_until, end)
            await self._post_story(client, happenings, stop)
            self._story_until = end

    async def _flush(self, client: httpx.AsyncClient, frames: list[_Frame], stop: asyncio.Event) -> None:
        size = self.config.batch_size
        for tenant, indices in self._groups.items():
            items = self._encode(frames, indices)
            for start in range(0, len(items), size):
                await self._post(client, tenant, items[start : start + size], stop)

    # -- loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Backfill, then push live samples until ``stop`` is set. Never raises (but honours cancel)."""
        cfg = self.config
        interval_ms = max(int(round(cfg.interval * 1000)), 1)
        backfill_ms = max(int(round(cfg.backfill_interval * 1000)), 1)
        now_ms = int(time.time() * 1000)
        live_from = -(-now_ms // interval_ms) * interval_ms  # first live grid point
        next_ms = live_from - cfg.backfill_minutes * 60_000 if cfg.backfill_minutes else live_from
        # A stall longer than this (server down, laptop asleep) is skipped, not replayed.
        max_lag_ms = max(cfg.backfill_minutes, 5) * 60_000
        points_per_step = len(self.cloud.series)
        log.info(
            "demo: simulating %d hypervisors and %d instances in %d projects (%d series), pushing to %s every %gs",
            len(self.cloud.hypervisors), len(self.cloud.instances), len(cfg.projects), points_per_step,
            self.base_url, cfg.interval,
        )  # fmt: skip
        started = time.monotonic()
        headers = {"X-Auth-Token": self.token, "Content-Type": "application/json", "Accept": "application/json"}
        try:
            # trust_env=False: the server posts to itself; an HTTP(S)_PROXY must not intercept that.
            async with httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=cfg.request_timeout,
                transport=self._transport,
                trust_env=False,
            ) as client:
                definitions_made = False
                resumed, asked = False, 0
                while not stop.is_set():
                    try:
                        if not definitions_made:  # the server may not be listening yet: retried each step
                            definitions_made = await _ensure_alarm_definitions(client)
                        if not resumed:  # what the server already holds decides where to start
                            start = await self._resume(client, next_ms, live_from, interval_ms, backfill_ms, stop)
                            asked += 1
                            if start is None and asked < cfg.max_attempts:
                                await _sleep(1.0, stop)  # the server is starting: it listens in a moment
                                continue
                            if start is None:  # the outage's one warning (the drops that follow say less)
                                log.warning("demo: cannot reach %s to ask what it holds; starting afresh",
                                            self.base_url)
                                self._failing = True
                                self._story_until = next_ms / 1000.0
                            next_ms, resumed = start or next_ms, True
                        next_ms = await self._catch_up(client, stop, next_ms, live_from, interval_ms, backfill_ms,
                                                       max_lag_ms, points_per_step)  # fmt: skip
                        if not self.stats.backfill_done and next_ms >= live_from:
                            self.stats.backfill_done = True
                            if cfg.backfill_minutes:
                                log.info(
                                    "demo: backfill done in %.1f s (%d metrics, %d log records, %d notifications "
                                    "sent, %d metrics dropped)", time.monotonic() - started, self.stats.metrics_sent,
                                    self.stats.log_records_sent, self.stats.notifications_sent,
                                    self.stats.metrics_dropped,
                                )  # fmt: skip
                        await _sleep((next_ms - time.time() * 1000) / 1000.0, stop)
                    except _Stopped:
                        break
                    except Exception:  # noqa: BLE001 - a demo bug must never take the server down
                        log.exception("demo: unexpected error in the push loop; continuing")
                        try:
                            await _sleep(cfg.interval, stop)
                        except _Stopped:
                            break
                        next_ms = max(next_ms, (int(time.time() * 1000) // interval_ms) * interval_ms)
        except Exception:  # noqa: BLE001 - e.g. a client that cannot be built: log, do not crash
            log.exception("demo: push loop failed")
        log.info(
            "demo: stopped after %d steps (%d metrics, %d log records, %d notifications sent; %d metrics and %d "
            "records or notifications dropped)", self.stats.steps, self.stats.metrics_sent,
            self.stats.log_records_sent, self.stats.notifications_sent, self.stats.metrics_dropped, self.stats.dropped,
        )  # fmt: skip

    async def _resume(self, client: httpx.AsyncClient, first_ms: int, live_from: int, interval_ms: int,
                      backfill_ms: int, stop: asyncio.Event) -> int | None:
        """The first step to post. A cloud the server has never seen: its inventory now, then the
        whole backfill from ``first_ms``. One it holds: the step after the newest it has (within the
        backfill window), so a restart never writes the same history twice. None while the server
        cannot say (not listening yet)."""
        selector = {"name": "cpu.idle_perc", "dimensions": f"hostname:{self.cloud.hypervisors[0].hostname}"}
        try:
            known = await client.get("/v2.0/metrics", params={**selector, "limit": "1"})
            # an answer that is not a list (a receiver that does not read): nothing is known, start afresh
            if known.status_code != 200 or not known.json().get("elements"):
                log.info("demo: a cloud new to this server: its inventory, then %s of history",
                         f"{(live_from - first_ms) // 60_000} minutes" if live_from > first_ms else "none")
                self._story_until = first_ms / 1000.0
                if self.story is not None:
                    await self._post_story(client, Happenings(outbox=self.story.inventory(self._story_until)), stop)
                return first_ms
            newest = await _newest_measurement(client, {**selector, "start_time": _iso(first_ms),
                                                        "merge_metrics": "true", "limit": "10000"})
        except (httpx.HTTPError, ValueError, KeyError) as error:
            log.debug("demo: cannot ask the server what it holds yet: %s", error)
            return None
        if newest is None:  # seen before, but nothing in the window: its history is older; fill the window
            log.info("demo: the server's history of this cloud is older than %s; filling the window", _iso(first_ms))
            self._story_until = first_ms / 1000.0
            return first_ms
        self.stats.resumed_from_ms = newest
        self._story_until = newest / 1000.0
        log.info("demo: the server holds this cloud's history up to %s; going on from there", _iso(newest))
        return min(newest + backfill_ms, live_from) if newest < live_from else newest + interval_ms

    async def _catch_up(
        self,
        client: httpx.AsyncClient,
        stop: asyncio.Event,
        next_ms: int,
        live_from: int,
        interval_ms: int,
        backfill_ms: int,
        max_lag_ms: int,
        points_per_step: int,
    ) -> int:
        """Post every step due by now, oldest first; returns the timestamp of the next step."""
        frames: list[_Frame] = []
        while True:
            now_ms = int(time.time() * 1000)
            if next_ms >= live_from and now_ms - next_ms > max_lag_ms:
                skipped = (now_ms - next_ms) // interval_ms
                self.stats.skipped_steps += int(skipped)
                log.warning("demo: %d s behind; skipping to now", (now_ms - next_ms) // 1000)
                next_ms += skipped * interval_ms
                self._story_until = max(self._story_until, next_ms / 1000.0 - self.config.interval)
            if next_ms > now_ms:
                break
            frames.append(_Frame(next_ms, self.cloud.advance(next_ms)))
            self.stats.steps += 1
            if next_ms < live_from:
                next_ms = min(next_ms + backfill_ms, live_from)  # the coarse grid joins the live one exactly
            else:
                next_ms += interval_ms
            if len(frames) * points_per_step >= _FLUSH_POINTS:
                await self._flush(client, frames, stop)
                await self._tell_story(client, frames[-1].timestamp_ms, stop)
                frames = []
            await asyncio.sleep(0)  # let the server serve requests between steps
        if frames:
            await self._flush(client, frames, stop)
            await self._tell_story(client, frames[-1].timestamp_ms, stop)
        return next_ms


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def _epoch_ms(text: str) -> int:
    """Monasca's ``2026-01-01T00:00:00.000Z``."""
    moment = datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return int(round(moment.timestamp() * 1000))


async def _newest_measurement(client: httpx.AsyncClient, params: dict) -> int | None:
    """The timestamp (ms) of the last measurement the query answers, following ``next`` links."""
    newest = None
    answer = await client.get("/v2.0/metrics/measurements", params=params)
    while True:
        answer.raise_for_status()
        body = answer.json()
        for element in body.get("elements", []):
            if element.get("measurements"):
                newest = max(newest or 0, _epoch_ms(element["measurements"][-1][0]))
        following = next((link["href"] for link in body.get("links", []) if link.get("rel") == "next"), None)
        if following is None:
            return newest
        answer = await client.get(following)


DEMO_ALARM_DEFINITIONS = (
    {"name": "demo: hypervisor CPU busy", "severity": "HIGH", "match_by": ["hostname"],
     "description": "Three minutes above 90 % on a hypervisor: sustained load, not a spike.",
     "expression": "avg(cpu.percent) > 90 times 3"},
    {"name": "demo: hypervisor disk filling", "severity": "MEDIUM", "match_by": ["hostname", "device"],
     "expression": "max(disk.space_used_perc) > 85"},
)


async def _ensure_alarm_definitions(client: httpx.AsyncClient) -> bool:
    """Give the demo's operator project alarms to watch; an existing name (409) is left alone.
    False when the server could not be reached (try again later)."""
    for body in DEMO_ALARM_DEFINITIONS:
        try:
            response = await client.post("/v2.0/alarm-definitions", json=body)
        except httpx.HTTPError as error:  # the server is not reachable: the metric pushes will say so
            log.debug("demo: could not create alarm definition %r: %s", body["name"], error)
            return False
        if response.status_code not in (201, 409):
            log.warning("demo: alarm definition %r answered %d: %s", body["name"], response.status_code,
                        response.text[:200])
    return True


async def run_demo(
    base_url: str,
    token: str,
    config: DemoPlan | None = None,
    stop: asyncio.Event | None = None,
) -> DemoStats:
    """Run the simulated cloud against ``base_url`` until ``stop`` is set (or the task is cancelled).

    ``token`` should carry the admin and delegate roles: operator metrics go to its own
    project, VM metrics to their owners' projects via ``tenant_id``. Never raises.
    """
    pusher = DemoPusher(base_url, token, config)
    await pusher.run(stop or asyncio.Event())
    return pusher.stats
