"""The ``nephoscope`` command as an operator meets it: ``--version``, help that shows flags as flags,
one-line errors with a non-zero exit for what goes wrong in ordinary use (connection refused, a
refused token, an unknown id, a bad configuration), and tables that fit 80 columns without
breaking words. Every command runs as a subprocess, output piped as a script would read it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from nephoscope import __version__
from tests.conftest import ROOT, ServerProcess, free_port, missing, shared_data

COMMANDS = [(), ("serve",), ("agent",), ("keys",), ("keys", "create"), ("keys", "list"), ("keys", "revoke"),
            ("logs",), ("logs", "classify"), ("trace",)]


def nephoscope(*args: str, columns: int = 80, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEPHOSCOPE_")}
    environment.update({"COLUMNS": str(columns), **env})
    return subprocess.run([sys.executable, "-m", "nephoscope", *args], capture_output=True, text=True, cwd=ROOT,
                          env=environment, timeout=120)


def one_line_failure(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def test_version() -> None:
    for flag in ("--version", "-V"):
        result = nephoscope(flag)
        assert result.returncode == 0 and result.stdout.strip() == f"nephoscope {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "nephoscope")
def test_help_shows_flags_as_flags_within_80_columns(command: tuple[str, ...]) -> None:
    result = nephoscope(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "<bool>" not in result.stdout and "--help" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_trace_against_no_server_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    one_line_failure(nephoscope("trace", "req-1", "--url", url, "--token", "t"), "cannot connect to", url,
                     "connection refused")


def test_trace_with_a_refused_token_and_an_unknown_request(shared_server: ServerProcess) -> None:
    one_line_failure(nephoscope("trace", "req-1", "--url", shared_server.url, "--token", "not-a-key"),
                     "refused the token", "--token")
    one_line_failure(nephoscope("trace", "req-unknown", "--url", shared_server.url, "--token",
                                shared_server.admin_token), "404", "req-unknown")


def test_trace_without_a_token() -> None:
    result = subprocess.run([sys.executable, "-m", "nephoscope", "trace", "req-1", "--url", "http://127.0.0.1:9"],
                            capture_output=True, text=True, timeout=60, cwd="/",
                            env={**{k: v for k, v in os.environ.items() if k != "NEPHOSCOPE_TOKEN"},
                                 "PYTHONPATH": str(ROOT)})  # elsewhere than the checkout: no var/admin-token
    one_line_failure(result, "no token")


def test_keys_failures_are_one_line(tmp_path) -> None:  # noqa: ANN001
    data = str(tmp_path / "data")
    one_line_failure(nephoscope("keys", "revoke", "0123456789ab", "--data-dir", data), "no active key")
    one_line_failure(nephoscope("keys", "create", "--project", "p", "--role", "root", "--data-dir", data), "role")


def test_a_bad_configuration_names_its_section(tmp_path) -> None:  # noqa: ANN001
    config = tmp_path / "nephoscope.toml"
    config.write_text("[server]\nprot = 8070\n")
    one_line_failure(nephoscope("keys", "list", "--config", str(config)), "[server]", "prot", "did you mean 'port'?")
    one_line_failure(nephoscope("keys", "list", NEPHOSCOPE_PORT="eighty"), "NEPHOSCOPE_PORT", "[server] port",
                     "whole number")


def test_keys_list_is_a_table_within_80_columns(tmp_path) -> None:  # noqa: ANN001
    data = str(tmp_path / "data")
    project = "8a3f5b2c9d0e4f1a8b7c6d5e4f3a2b1c"  # a Keystone project id: 32 characters
    created = nephoscope("keys", "create", "--project", project, "--role", "monasca-user", "--role",
                         "monasca-read-only-user", "--description", "the grafana datasource of the operations team",
                         "--data-dir", data)
    assert created.returncode == 0, created.stderr
    key_id = re.search(r"created key (\w+)", created.stdout).group(1)
    listing = nephoscope("keys", "list", "--data-dir", data).stdout
    lines = listing.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert re.search(r"^key\s+project / roles\s+created\s+description", lines[1]), listing
    assert key_id in listing and project in listing and "monasca-read-only-user" in listing
    words = set(listing.split())
    assert {"grafana", "datasource", "operations", "team"} <= words, listing  # wrapped between words only
    scripted = nephoscope("keys", "list", "--json", "--data-dir", data)
    assert '"id": "%s"' % key_id in scripted.stdout


def test_logs_classify_fits_80_columns_without_breaking_words() -> None:
    sample = shared_data("loghub-openstack", "OpenStack_2k.log")
    if not sample.exists():
        missing(f"{sample} is not here", "see ../shared/data/README.md")
    result = nephoscope("logs", "classify", str(sample))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    words = set(result.stdout.split())
    assert {"(Lifecycle", "Event)", "(spawning).", "Skip.", "sharing", "instance", "storage", "telemetry"} <= words


def test_agent_once_print_fits_80_columns(tmp_path) -> None:  # noqa: ANN001
    result = nephoscope("agent", "--once", "--print", NEPHOSCOPE_AGENT_AGENT_SPOOL_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if not line.startswith("would POST")]
    assert max(len(line) for line in table) <= 80
    # Two CPU samples, neither of them the agent's own start-up; the two may straddle a window boundary
    # (then two rows of one sample each).
    counts = [int(count) for count in re.findall(r"^cpu\.idle_perc\s+(\d+)\s", result.stdout, re.M)]
    assert sum(counts) == 2, result.stdout


def test_an_unknown_role_is_one_line() -> None:
    one_line_failure(nephoscope("serve", "--role", "api,ingestor"), "--role", "unknown role 'ingestor'")
    one_line_failure(nephoscope("serve", "--role", "querier"), "--role", "[cluster] servers")
