"""``serve --demo`` as a newcomer sees it: the server started, the dashboard opened with the admin
token, and within the first minute every page shows the simulated cloud's own live data — the
Overview's tiles (instances, volumes, error lines, recent failures), Events, Failures, Logs,
Templates, Hygiene, Traces and Scheduling — with nothing posted by the test."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import ServerProcess
from tests.support.browser import assert_clean, connect, go, screenshot

FIRST_MINUTE_MS = 60_000


@pytest.fixture(scope="module")
def fresh_demo(tmp_path_factory: pytest.TempPathFactory):
    started = time.monotonic()
    process = ServerProcess(tmp_path_factory.mktemp("freshdemo") / "data", extra_args=["--demo"], extra_env={
        "NEPHOSCOPE_DEMO_HYPERVISORS": "6", "NEPHOSCOPE_DEMO_INSTANCES_PER_HYPERVISOR": "5"}).start()
    process.started = started  # type: ignore[attr-defined]
    yield process
    process.stop()


def _left_ms(process: ServerProcess) -> float:
    """What is left of the server's first minute (at least a few seconds, for the page to draw)."""
    return max(FIRST_MINUTE_MS - (time.monotonic() - process.started) * 1000, 5_000)  # type: ignore[attr-defined]


def test_every_page_has_live_data_within_the_first_minute(page, fresh_demo: ServerProcess) -> None:
    from playwright.sync_api import expect

    connect(page, fresh_demo, fresh_demo.admin_token)
    number = re.compile(r"^[1-9][\d,.]*")
    tile = lambda key: page.locator(f'[data-tile="{key}"] .tile-value')  # noqa: E731
    for key in ("hosts", "instances", "lifecycle", "volumes", "errors"):
        expect(tile(key)).to_have_text(number, timeout=_left_ms(fresh_demo))
    expect(page.locator(".failure-list .failure").first).to_be_visible(timeout=_left_ms(fresh_demo))
    screenshot(page, "overview-demo.png", full_page=True)

    go(page, "#/events")
    expect(page.locator("#event-results details.event").first).to_be_visible(timeout=_left_ms(fresh_demo))
    go(page, "#/events/failures")
    failures = page.locator("#failure-list .failure")
    expect(failures.first).to_be_visible(timeout=_left_ms(fresh_demo))
    expect(page.locator("#failure-list")).to_contain_text("no compute host could take it")

    go(page, "#/logs")
    expect(page.locator("#log-results details.log").first).to_be_visible(timeout=_left_ms(fresh_demo))
    expect(page.locator("#log-facets [data-facet=service] button")).to_have_count(5)
    go(page, "#/logs/templates")
    expect(page.locator("#template-list tbody tr").first).to_be_visible(timeout=_left_ms(fresh_demo))
    go(page, "#/logs/hygiene")
    expect(page.locator(".hygiene-card")).to_have_count(5, timeout=_left_ms(fresh_demo))

    go(page, "#/traces")  # the recent requests that failed, to start from
    recent = page.locator("#recent-requests a").first
    expect(recent).to_be_visible(timeout=_left_ms(fresh_demo))
    recent.click()
    expect(page.locator("#trace-banner")).to_contain_text("Failed", timeout=_left_ms(fresh_demo))
    go(page, "#/traces/scheduling")
    instances = page.locator("#recent-instances a")
    expect(instances.first).to_be_visible(timeout=_left_ms(fresh_demo))
    assert time.monotonic() - fresh_demo.started < 75  # type: ignore[attr-defined]  # the minute, and drawing time
    assert_clean(page)


def test_a_no_valid_host_explained_from_the_demos_own_lines(page, fresh_demo: ServerProcess) -> None:
    from playwright.sync_api import expect

    connect(page, fresh_demo, fresh_demo.admin_token)
    with fresh_demo.client() as admin:
        failed = next(f for f in admin.get("/v1/failures", params={"limit": 200}).json()["elements"]
                      if f["action"] == "compute_task.build_instances")
    go(page, f"#/traces/scheduling/{failed['resource_id']}")
    expect(page.locator("#sched-result")).to_have_text("FAILED")
    expect(page.locator("#sched-funnel g.is-cut")).to_contain_text("removed every remaining host")
    expect(page.locator("#sched-lines")).to_contain_text("Failed to schedule instances")
    assert_clean(page)
