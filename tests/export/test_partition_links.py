"""The export touches only what it wrote: on a real filesystem, with symbolic links planted where it writes.

Before, a partition directory that was a link to another directory had everything in the target removed
at the commit (precious.csv, notes.txt, dag.py), leaving only the export's files there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_dtcal.core.errors import DingTalkError
from airflow_dtcal.export.partition import SUCCESS, PartitionRun, UnsafeDestinationError

PARTITION = "interval_start=2026-03-09T00-00-00+00-00"
PRECIOUS = {"precious.csv": "a,b\n1,2\n", "notes.txt": "do not delete\n", "dag.py": "# a DAG\n"}


def victim(tmp_path: Path) -> Path:
    """Someone else's directory, with files the export must never touch."""
    place = tmp_path / "someone-else"
    place.mkdir()
    for name, text in PRECIOUS.items():
        (place / name).write_text(text)
    return place


def untouched(place: Path) -> bool:
    return {p.name: p.read_text() for p in place.iterdir()} == PRECIOUS


def run(root: Path, formats=("jsonl",), tag: str = "run1") -> PartitionRun:
    files = PartitionRun(root, ["events"], formats, PARTITION, tag)
    files.open()
    files.write("events", [{"event_id": "e1"}])
    return files


def test_a_partition_directory_that_is_a_link_is_refused_and_its_target_left_alone(tmp_path):
    target = victim(tmp_path)
    root = tmp_path / "lake"
    (root / "events").mkdir(parents=True)
    os.symlink(target, root / "events" / PARTITION)
    with pytest.raises(UnsafeDestinationError, match="partition directory .* is a symbolic link") as caught:
        run(root)
    assert isinstance(caught.value, DingTalkError)
    assert untouched(target)


def test_a_table_directory_that_is_a_link_is_refused_before_anything_is_made_in_it(tmp_path):
    target = victim(tmp_path)
    root = tmp_path / "lake"
    root.mkdir()
    os.symlink(target, root / "events")
    with pytest.raises(UnsafeDestinationError, match="table directory .* is a symbolic link"):
        run(root)
    assert untouched(target)  # no partition directory was made inside it


def test_a_partition_swapped_for_a_link_during_the_run_is_refused_at_the_commit(tmp_path):
    target = victim(tmp_path)
    root = tmp_path / "lake"
    files = run(root)
    partition = root / "events" / PARTITION
    partition.rename(tmp_path / "moved-away")
    os.symlink(target, partition)
    with pytest.raises(UnsafeDestinationError, match="partition directory"):
        files.commit()
    assert untouched(target)


def test_only_our_own_names_are_removed_from_a_partition(tmp_path):
    root = tmp_path / "lake"
    partition = root / "events" / PARTITION
    partition.mkdir(parents=True)
    for name, text in PRECIOUS.items():
        (partition / name).write_text(text)
    (partition / "part-0.parquet").write_text("a format no longer asked for")
    (partition / "_tmp-crashed1-part-0.jsonl").write_text("left by a killed run")
    (partition / "part-1.jsonl").write_text("not a name we write")
    run(root).commit()
    names = sorted(p.name for p in partition.iterdir())
    assert names == sorted([*PRECIOUS, "_SUCCESS", "part-0.jsonl", "part-1.jsonl"])
    assert all((partition / name).read_text() == text for name, text in PRECIOUS.items())


@pytest.mark.parametrize("name", ["part-0.jsonl", SUCCESS, "part-0.parquet"])
def test_a_link_planted_at_one_of_our_names_is_replaced_never_followed(tmp_path, name):
    target = victim(tmp_path)
    root = tmp_path / "lake"
    files = run(root)
    partition = root / "events" / PARTITION
    os.symlink(target / "precious.csv", partition / name)
    files.commit()
    assert untouched(target)
    assert not (partition / "part-0.jsonl").is_symlink()
    assert not (partition / SUCCESS).is_symlink()
    assert (partition / "part-0.jsonl").read_text().strip() != ""
    assert not (partition / "part-0.parquet").exists()


def test_a_link_planted_at_the_success_marker_before_the_run_is_removed_not_followed(tmp_path):
    target = victim(tmp_path)
    root = tmp_path / "lake"
    partition = root / "events" / PARTITION
    partition.mkdir(parents=True)
    os.symlink(target / "notes.txt", partition / SUCCESS)
    run(root).commit()
    assert untouched(target)
    assert (partition / SUCCESS).is_file() and not (partition / SUCCESS).is_symlink()


def test_the_destination_itself_may_be_a_link(tmp_path):
    real = tmp_path / "real-lake"
    real.mkdir()
    os.symlink(real, tmp_path / "lake")
    run(tmp_path / "lake").commit()
    assert (real / "events" / PARTITION / "part-0.jsonl").is_file()
