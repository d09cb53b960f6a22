"""``nephoscope logs classify`` through typer's CliRunner: tables, JSON, template state across
runs, operator rules, clear errors, and a --help that teaches."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nephoscope.cli import app
from tests.support.log_samples import OsloOutput, request_context

runner = CliRunner()


@pytest.fixture
def nova_log(tmp_path: Path) -> Path:
    out = OsloOutput("nova.compute.manager")
    context = request_context()
    for index in range(30):
        out.log.info("Took %.2f seconds to build instance.", 10 + index, context=context)
    image_cache = OsloOutput("nova.virt.libvirt.imagecache")
    image_cache.log.warning("Unknown base file: /var/lib/nova/instances/_base/%s", "a" * 40)
    try:
        raise RuntimeError("libvirt connection lost")
    except RuntimeError:
        out.log.exception("Failed to spawn instance", context=context)
    path = tmp_path / "nova-compute.log"
    path.write_text("\n".join(out.lines + image_cache.lines) + "\nthis line has no known shape\n")
    return path


def test_tables(nova_log: Path) -> None:
    result = runner.invoke(app, ["logs", "classify", str(nova_log)])
    assert result.exit_code == 0, result.output
    assert "Records by service and category" in result.output
    assert "True errors" in result.output and "Failed to spawn instance" in result.output
    assert "RuntimeError" in result.output and "Top templates" in result.output
    assert "Took <*> to build instance." in result.output


def test_json(nova_log: Path) -> None:
    result = runner.invoke(app, ["logs", "classify", "--json", str(nova_log)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["records"] == 33 and report["unparsed"] == 1
    assert report["by_category"]["error"] == 1 and report["by_category"]["noise"] == 1  # the image-cache WARNING
    assert report["by_service"]["nova"]["error"] == 1
    (error,) = report["true_errors"]
    assert error["template"] == "Failed to spawn instance" and error["exception_type"] == "RuntimeError"
    top = report["top_templates"][0]
    assert top["template"] == "Took <*> to build instance." and top["count"] == 30
    nova = report["hygiene"]["services"][0]
    assert nova["service"] == "nova" and nova["unparsed_share"] == pytest.approx(1 / 33)
    assert {t["template"] for t in report["new_templates"]} >= {"Took <*> to build instance."}


def test_template_state_across_runs_and_gzip(nova_log: Path, tmp_path: Path) -> None:
    state = tmp_path / "templates.json"
    compressed = tmp_path / "nova-compute.log.1.gz"
    compressed.write_bytes(gzip.compress(nova_log.read_bytes()))
    first = json.loads(runner.invoke(app, ["logs", "classify", "--json", "-t", str(state), str(nova_log)]).output)
    assert state.exists() and first["new_templates"]
    second = runner.invoke(app, ["logs", "classify", "--json", "-t", str(state), str(compressed)])
    assert second.exit_code == 0, second.output
    assert json.loads(second.output)["new_templates"] == []  # same ids, nothing new since the last run


def test_operator_rules_and_errors(nova_log: Path, tmp_path: Path) -> None:
    rules = tmp_path / "site.yaml"
    rules.write_text("rules:\n  - name: lab-libvirt-flap\n    category: noise\n    match:\n"
                     "      exception: RuntimeError\n")
    result = json.loads(runner.invoke(app, ["logs", "classify", "--json", "-r", str(rules), str(nova_log)]).output)
    assert result["true_errors"] == [] and result["by_category"]["error"] == 0
    rules.write_text("rules:\n  - name: broken\n    category: loud\n    match: {level: ERROR}\n")
    failed = runner.invoke(app, ["logs", "classify", "-r", str(rules), str(nova_log)])
    assert failed.exit_code == 2
    assert "rule 1 'broken'" in failed.output and "field 'category'" in failed.output


def test_help_teaches() -> None:
    result = runner.invoke(app, ["logs", "classify", "--help"])
    assert result.exit_code == 0
    for text in ("Examples", "nephoscope logs classify /var/log/nova/nova-compute.log", "--json", "--templates",
                 "--rules", "true error"):
        assert text in result.output
    assert "classify" in runner.invoke(app, ["logs", "--help"]).output
