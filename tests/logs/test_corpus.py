"""The second evaluation corpus (``bench/log_corpus.py``): what it reads from the services'
source, the ground-truth rules it states, that it is deterministic, and that the pipeline holds
GA >= 0.98 and true-error precision and recall >= 0.95 on a slice of it."""

from __future__ import annotations

import filecmp

import pytest

from tests.support.oslo_corpus import calls_of, corpus_slice, generator

NOVA_SOURCE = '''
import logging
from nova.i18n import _
LOG = logging.getLogger(__name__)


class Conductor:
    _log_format = "%(REMOTE_ADDR)s \\"%(REQUEST_METHOD)s %(REQUEST_URI)s\\" status: %(status)s len: %(len)s"

    def build(self, context, instance, ex):
        LOG.warning("Failed to %(service)s_%(method)s: %(ex)s",
                    {"service": "compute_task", "method": "build_instances", "ex": ex}, instance=instance)
        LOG.exception(_("Failed to schedule instances"))
        LOG.debug("Filter %s returned %d host(s)", filter_name, len(hosts))
        LOG.info(self._log_format, data)
        LOG.info(f"not a format string {ex}")
'''


def test_extraction_reads_format_strings_levels_and_argument_names() -> None:
    calls = {call.fmt: call for call in calls_of(NOVA_SOURCE)}
    failed = calls["Failed to %(service)s_%(method)s: %(ex)s"]
    assert (failed.level, failed.logger, failed.instance, failed.named) == ("WARNING", "nova.conductor.manager", True, True)
    assert [hint.split()[0] for hint in failed.hints] == ["service", "method", "ex"]
    assert failed.function == "build"
    exception = calls["Failed to schedule instances"]
    assert exception.level == "ERROR" and exception.traceback and exception.literal  # _() unwrapped
    assert calls["Filter %s returned %d host(s)"].hints == ["filter_name", "len(hosts)"]
    assert any("status: %(status)s" in fmt for fmt in calls)  # a class constant, as nova's request log
    assert not any(fmt.startswith("not a format string") for fmt in calls)  # f-strings are skipped


@pytest.mark.parametrize("hint, conversion, kind", [
    ("filter_name", "s", "word:filter"), ("method", "s", "word:method"), ("vm_state", "s", "word:state"),
    ("instance.uuid", "s", "uuid"), ("host", "s", "host"), ("len(hosts)", "d", "int"), ("elapsed", "f", "float"),
    ("ex", "s", "text"), ("six.text_type(e)", "s", "text"), ("path", "s", "path"), ("mystery", "s", "fixed"),
])
def test_argument_kinds_follow_conversion_and_name(hint: str, conversion: str, kind: str) -> None:
    assert generator().kind_of(hint, conversion) == kind


@pytest.mark.parametrize("level, logger, service, fmt, category", [
    ("WARNING", "nova.scheduler.utils", "nova", "Failed to %(service)s_%(method)s: %(ex)s", "error"),
    ("ERROR", "cinder.volume.manager", "cinder", "Volume %s is busy", "error"),
    ("WARNING", "nova.virt.libvirt.imagecache", "nova", "Unknown base file: %s", "info"),
    ("WARNING", "keystone.server.flask.common", "keystone", "Authorization failed. %s", "audit"),
    ("DEBUG", "oslo_concurrency.lockutils", "nova", 'Lock "%s" acquired by "%s" :: waited %.3fs', "noise"),
    ("DEBUG", "oslo_service.periodic_task", "nova", "Running periodic task %(full_task_name)s", "noise"),
    ("INFO", "nova.compute.manager", "nova", "Took %0.2f seconds to spawn the instance on the hypervisor.", "telemetry"),
    ("DEBUG", "nova.compute.manager", "nova", "Building network info cache for instance", "noise"),
    ("INFO", "nova.compute.manager", "nova", "Terminating instance", "info"),
])
def test_truth_rules(level: str, logger: str, service: str, fmt: str, category: str) -> None:
    corpus = generator()
    call = corpus.Call(service, logger, level, fmt, False, False)
    assert corpus.category_of(call, service, corpus.template_of(fmt, False)) == category


def test_truth_template_is_the_format_string_with_constants_kept() -> None:
    corpus = generator()
    assert corpus.template_of("Filter %(name)s returned %(n)d hosts", False) == "Filter <*> returned <*> hosts"
    assert corpus.template_of("Retrying: %s (%s)", False, {1: "Connection reset by peer"}) == \
        "Retrying: <*> (Connection reset by peer)"
    assert corpus.template_of("100%% done", True) == "100%% done"  # logged without arguments: as written


def test_generation_is_deterministic(tmp_path) -> None:
    corpus = generator()
    corpus_slice(templates=40)  # fetches the sdists (or skips) before generating twice
    cache = corpus.default_cache()
    for name in ("a", "b"):
        corpus.generate(tmp_path / name, cache, seed=5, templates=40)
    for name in ("truth.csv", *(f"{service}.log" for service in corpus.SERVICES)):
        assert filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False), name


def test_lines_are_oslo_log_and_truth_matches_records() -> None:
    data = corpus_slice()
    assert len({row["template"] for row in data.truth}) > 250
    assert {row["category"] for row in data.truth} == {"error", "audit", "noise", "telemetry", "info"}
    assert sum(int(row["lines"]) for row in data.truth) == sum(len(lines) for lines in data.lines.values())
    first = data.lines["nova"][0]
    assert first[:4].isdigit() and (" [None req-" in first or " [req-" in first or " [-] " in first)


def test_pipeline_holds_the_thresholds_on_a_slice() -> None:
    scores = generator().evaluate(corpus_slice())
    assert scores.grouping.group_accuracy >= 0.98, scores.grouping
    assert scores.errors.precision >= 0.95 and scores.errors.recall >= 0.95, scores.errors
    assert scores.errors.actual > 1000  # the slice has true errors to find, ERRORs and WARNINGs
