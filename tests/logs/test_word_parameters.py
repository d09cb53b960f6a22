"""Word arguments as parameters: lines of one format string whose argument is a word (a filter,
a periodic task, a method, a state) are one template, through the real oslo.log formatter and
the whole pipeline; words that are the template stay apart (four lifecycle words, one word per
module); a call site named by the DEBUG suffix is one format string; merged ids survive a restart."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nephoscope.logs.processing.pipeline import LogPipeline
from nephoscope.logs.processing.sources import Source
from nephoscope.logs.processing.templates import WORD_PARAMETER, TemplateMiner
from tests.support.log_samples import OsloOutput

WORDS = st.sampled_from([
    "ComputeFilter", "AvailabilityZoneFilter", "RamFilter", "ImagePropertiesFilter", "NUMATopologyFilter",
    "PciPassthroughFilter", "ServerGroupAntiAffinityFilter", "heal_instance_info_cache", "sync_power_states",
    "update_available_resource", "reclaim_queued_deletes", "active", "building", "paused", "shelved", "error",
    "in-use", "available", "compute_resources", "iptables", "qcow2", "raw", "vxlan", "network-vif-plugged",
])
UUIDS = st.uuids().map(str)
NUMBERS = st.integers(0, 10_000)
# (format string, argument strategies): each has one or two word arguments, besides values
FORMATS = [
    ("Filter %s returned %d hosts", (WORDS, NUMBERS)),
    ("Running periodic task ComputeManager.%s", (WORDS,)),
    ("Instance %s changed state to %s during the task", (UUIDS, WORDS)),
    ("Volume %(volume)s is %(status)s, expected available", ({"volume": UUIDS, "status": WORDS})),
    ("Lock %(lock)s acquired by method %(method)s after %(waited)d tries", (
        {"lock": WORDS, "method": WORDS, "waited": NUMBERS})),
]


def render(fmt: str, arguments: list, logger: str = "nova.scheduler.filter_scheduler", level: str = "info") -> list[str]:
    out = OsloOutput(logger)
    for argument in arguments:
        if isinstance(argument, dict):
            getattr(out.log, level)(fmt, argument)
        else:
            getattr(out.log, level)(fmt, *argument)
    return out.lines


def canonical_ids(pipeline: LogPipeline, lines: list[str]) -> list[str]:
    ids = pipeline.process(lines, Source(service="nova")).column("template_id").to_pylist()
    return [pipeline.miner.canonical(identifier) for identifier in ids]


@st.composite
def lines_of_one_format(draw) -> tuple[str, list]:
    fmt, strategies = draw(st.sampled_from(FORMATS))
    if isinstance(strategies, dict):
        argument = st.fixed_dictionaries(strategies)
    else:
        argument = st.tuples(*strategies)
    arguments = draw(st.lists(argument, min_size=12, max_size=40))
    return fmt, arguments


def distinct_words(fmt: str, arguments: list) -> list[int]:
    """Distinct words per word argument."""
    if isinstance(arguments[0], dict):
        keys = [k for k in arguments[0] if isinstance(arguments[0][k], str) and not _is_uuid(arguments[0][k])]
        return [len({a[k] for a in arguments}) for k in keys]
    positions = [i for i, v in enumerate(arguments[0]) if isinstance(v, str) and not _is_uuid(v)]
    return [len({a[i] for a in arguments}) for i in positions]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines_of_one_format())
def test_one_format_string_with_word_arguments_is_one_template(case: tuple[str, list]) -> None:
    fmt, arguments = case
    if min(distinct_words(fmt, arguments)) < WORD_PARAMETER:
        return  # fewer distinct words than make a parameter: indistinguishable from words of the template
    ids = canonical_ids(LogPipeline(), render(fmt, arguments))
    assert len(set(ids)) == 1, fmt


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines_of_one_format())
def test_debug_lines_of_one_call_site_are_one_template_from_two_words(case: tuple[str, list]) -> None:
    fmt, arguments = case
    if min(distinct_words(fmt, arguments)) < 2:
        return
    lines = render(fmt, arguments, level="debug")
    assert all(line.rstrip()[-1].isdigit() for line in lines)  # oslo.log's suffix: funcName path:line
    assert len(set(canonical_ids(LogPipeline(), lines))) == 1


def test_later_lines_get_the_merged_id_and_the_template_shows_the_parameter() -> None:
    pipeline = LogPipeline()
    words = ["ComputeFilter", "RamFilter", "DiskFilter", "ImagePropertiesFilter", "NUMATopologyFilter", "JsonFilter"]
    first = pipeline.process(render("Filter %s returned %d hosts", [(w, 3) for w in words]))
    ids = first.column("template_id").to_pylist()
    assert len(set(ids[:WORD_PARAMETER - 1])) == WORD_PARAMETER - 1  # four words: four templates so far
    assert len({pipeline.miner.canonical(i) for i in ids}) == 1
    later = pipeline.process(render("Filter %s returned %d hosts", [("AggregateCoreFilter", 0)]))
    assert later.column("template_id").to_pylist() == [pipeline.miner.canonical(ids[0])]
    assert later.column("template").to_pylist() == ["Filter <*> returned <*> hosts"]


def test_four_lifecycle_words_stay_four_templates() -> None:
    """nova writes "VM %(state)s (Lifecycle Event)" with four words; Loghub's annotators (and an
    operator) read them as four events, and four words are not enough to call it a parameter."""
    lines = render("VM %s (Lifecycle Event)", [(w,) for w in ["Started", "Paused", "Resumed", "Stopped"] * 5],
                   logger="nova.compute.manager")
    assert len(set(canonical_ids(LogPipeline(), lines))) == 4


def test_the_same_words_from_different_modules_stay_apart() -> None:
    """Each extension driver writes its own "Disabled <name> extension." from its own module: many
    format strings, not one with a parameter."""
    pipeline = LogPipeline()
    lines = []
    for name in ["allowed-address-pairs", "vlantransparent", "security-group", "dns-integration", "qos", "trunk"]:
        lines += render(f"Disabled {name} extension.", [()] * 3, logger=f"neutron.extensions.{name.replace('-', '_')}")
    assert len(set(canonical_ids(pipeline, lines))) == 6


def test_values_never_join_a_template_of_words() -> None:
    miner = TemplateMiner()
    (words,), _ = miner.assign(["manage_existing: exiting"])
    (value,), _ = miner.assign(["manage_existing: source_svm=<*>"])
    (other,), _ = miner.assign(["NetlinkDispatcher started"])
    (dotted,), _ = miner.assign(["data_motion::_failover started"])
    assert words != value and other != dotted


def test_merged_templates_survive_a_restart() -> None:
    miner = TemplateMiner()
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    ids, _ = miner.assign([f"Running periodic task {w} now" for w in words], ["nova.manager"] * len(words))
    survivor = miner.canonical(ids[0])
    assert {miner.canonical(i) for i in ids} == {survivor}
    restored = TemplateMiner.from_json(miner.to_json())
    assert {restored.canonical(i) for i in ids} == {survivor}
    again, new = restored.assign(["Running periodic task alpha now", "Running periodic task theta now"], ["nova.manager"] * 2)
    assert again == [survivor, survivor] and not any(new)
    assert len(restored) == len(miner) == 1
