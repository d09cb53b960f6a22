"""The template miner: ids from masked messages, clustering limits, exact (JSON) templates, the
new-template flag, and ids that survive a restart through the saved state."""

from __future__ import annotations

from pathlib import Path

from nephoscope.logs.processing.pipeline import LogPipeline
from nephoscope.logs.processing.templates import TemplateMiner, template_id

LINE = "2024-01-02 03:04:05.678 77 INFO nova.compute.manager [-] {}"


def test_masked_messages_found_and_stable() -> None:
    miner = TemplateMiner()
    ids, new = miner.assign(["Took <*> to spawn the instance on the hypervisor.", "Took <*> to spawn the instance on the hypervisor."])
    assert ids[0] == ids[1] and new == [True, False]
    assert ids[0] == template_id("Took <*> to spawn the instance on the hypervisor.")


def test_words_are_never_merged_but_variable_tokens_are() -> None:
    miner = TemplateMiner()
    (spawn,), _ = miner.assign(["Took <*> to spawn the instance on the hypervisor."])
    (destroy,), _ = miner.assign(["Took <*> to destroy the instance on the hypervisor."])
    assert spawn != destroy  # one word differs: two events, however similar (Drain merges them)
    (paused,), _ = miner.assign(["VM Paused (Lifecycle Event)"])
    (resumed,), _ = miner.assign(["VM Resumed (Lifecycle Event)"])
    assert paused != resumed
    (first,), _ = miner.assign(["Auditing locally available compute resources for node compute-a1.example.org"])
    (second,), new = miner.assign(["Auditing locally available compute resources for node compute-b7.example.org"])
    assert first == second and new == [False]  # host names the masks leave are generalised
    assert miner.text(first) == "Auditing locally available compute resources for node <*>"
    (quoted,), _ = miner.assign(["Successfully synced instances from host 'controller'."])
    (other,), _ = miner.assign(["Successfully synced instances from host 'compute'."])
    assert quoted == other  # a quoted token is a value


def test_lists_of_values_are_one_value() -> None:
    miner = TemplateMiner()
    (one,), _ = miner.assign(["Active base files: <*>"])
    (three,), new = miner.assign(["Active base files: <*> <*> <*>"])
    assert one == three and new == [False]


def test_exact_templates() -> None:
    miner = TemplateMiner()
    ids, new = miner.assign_exact(["Claim %(what)s", "Claim %(what)s", "Lock %s released"])
    assert ids[0] == ids[1] != ids[2] and new == [True, False, True]
    assert miner.text(ids[0]) == "Claim %(what)s"


def test_new_template_flag_marks_the_founding_record_only() -> None:
    pipeline = LogPipeline()
    lines = [LINE.format("Claim successful"), LINE.format("Claim successful"), LINE.format("Terminating instance")]
    first = pipeline.process(lines).column("is_new_template").to_pylist()
    assert first == [True, False, True]
    again = pipeline.process(lines).column("is_new_template").to_pylist()
    assert again == [False, False, False]


def test_ids_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "templates.json"
    lines = [LINE.format(message) for message in (
        "Claim successful", "Deleting instance files /var/lib/nova/instances/abc_del",
        "Auditing locally available compute resources for node compute-a1.example.org",
        "Auditing locally available compute resources for node compute-b2.example.org",
        "Total usable vcpus: 16, total allocated vcpus: 3")]
    before = LogPipeline()
    ids = before.process(lines).column("template_id").to_pylist()
    before.miner.save(state)
    after = LogPipeline(miner=TemplateMiner.load(state))
    records = after.process(lines)
    assert records.column("template_id").to_pylist() == ids
    assert not any(records.column("is_new_template").to_pylist())
    assert {t.id: t.count for t in after.miner.templates()}[ids[0]] == 2  # counts carry on
    assert not state.with_name("templates.json.tmp").exists()


def test_state_file_errors() -> None:
    import pytest

    with pytest.raises(ValueError, match="not a template state file"):
        TemplateMiner.from_json(b"[1, 2]")
    with pytest.raises(ValueError, match="version"):
        TemplateMiner.from_json(b'{"format": "nephoscope.logs.templates", "version": 99, "similarity": 0.5, "templates": []}')


def test_parallel_batches_give_the_same_records_as_one_thread() -> None:
    from nephoscope.logs.processing.batching import record_batches

    lines = [LINE.format(f"Took {n}.5 seconds to build instance.") for n in range(3000)]
    lines += [LINE.format(f"Deleting instance files /var/lib/nova/instances/{n}_del") for n in range(3000)]
    lines += [LINE.format(f"Auditing locally available compute resources for node compute-x{n % 7}.example")
              for n in range(3000)]
    sequential = LogPipeline()
    expected = [t.column("template_id").to_pylist() for t in sequential.process_many(record_batches(lines, 1000),
                                                                                   workers=1)]
    parallel = LogPipeline()
    got = [t.column("template_id").to_pylist() for t in parallel.process_many(record_batches(lines, 1000), workers=2)]
    assert got == expected
    assert sorted(t.id for t in parallel.miner.templates()) == sorted(t.id for t in sequential.miner.templates())
    assert sum(t.count for t in parallel.miner.templates()) == len(lines)
