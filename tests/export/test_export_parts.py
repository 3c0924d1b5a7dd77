"""The pure parts of the export: rows, writers, the partition replace protocol and the plan (the watermark:
tests/state/test_watermarks.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pendulum
import pyarrow.parquet as pq
import pytest

from airflow_dtcal.core.errors import InvalidArgumentError
from airflow_dtcal.export.partition import SUCCESS, PartitionRun, partition_name
from airflow_dtcal.export.plan import make_plan, overall_mode
from airflow_dtcal.export.rows import (
    COLUMNS,
    RowContext,
    attendee_rows,
    change_kind,
    check_in_rows,
    event_row,
)
from airflow_dtcal.export.writers import JsonLinesWriter, ParquetTableWriter

CTX = RowContext("2026-03-09T00:00:00+00:00", "2026-03-10T00:00:00+00:00", "union-a", "primary")
EVENT = {
    "id": "ev-1",
    "summary": "Planning 计划",
    "status": "confirmed",
    "start": {"dateTime": "2026-03-09T10:00:00+08:00", "timeZone": "Asia/Shanghai"},
    "end": {"dateTime": "2026-03-09T11:00:00+08:00", "timeZone": "Asia/Shanghai"},
    "isAllDay": False,
    "organizer": {"id": "union-a", "displayName": "Ann"},
    "attendees": [
        {"id": "union-a", "displayName": "Ann", "responseStatus": "accepted", "isOptional": False},
        {"id": "union-b", "displayName": "Bo", "responseStatus": "declined", "isOptional": True},
    ],
    "location": {"displayName": "Room 1"},
    "updateTime": "2026-03-01T02:00Z",
}


# ---------------------------------------------------------------------------- rows


def test_event_row_flattens_the_event_and_keeps_it_whole():
    row = event_row(CTX, EVENT, "upsert")
    assert list(row) == [name for name, _ in COLUMNS["events"]]
    assert row["interval_start"] == "2026-03-09T00:00:00+00:00"
    assert (row["calendar_owner"], row["event_id"], row["change"]) == ("union-a", "ev-1", "upsert")
    assert (row["start"], row["time_zone"], row["organizer_id"]) == (
        "2026-03-09T10:00:00+08:00",
        "Asia/Shanghai",
        "union-a",
    )
    assert row["location"] == "Room 1" and row["series_master_id"] is None
    assert json.loads(row["event"]) == EVENT


def test_all_day_event_row_uses_the_date():
    row = event_row(
        CTX, {"id": "d", "start": {"date": "2026-03-09"}, "end": {"date": "2026-03-10"}}, "snapshot"
    )
    assert (row["start"], row["end"], row["time_zone"], row["summary"]) == (
        "2026-03-09",
        "2026-03-10",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (EVENT["start"], EVENT["end"]),
        (  # offset-less: read in its timeZone, not as UTC
            {"dateTime": "2026-03-09T10:00:00", "timeZone": "Asia/Shanghai"},
            {"dateTime": "2026-03-09T11:00:00", "timeZone": "Asia/Shanghai"},
        ),
        (
            {"dateTime": "2026-03-09T02:00:00Z", "timeZone": "Asia/Shanghai"},
            {"dateTime": "2026-03-09T03:00:00Z"},
        ),
    ],
)
def test_event_rows_carry_the_instants_in_utc_whichever_form_dingtalk_gave(start, end):
    row = event_row(CTX, {**EVENT, "start": start, "end": end}, "snapshot")
    assert (row["start"], row["end"]) == (start["dateTime"], end["dateTime"])  # DingTalk's text, kept
    assert (row["start_utc"], row["end_utc"]) == ("2026-03-09T02:00:00+00:00", "2026-03-09T03:00:00+00:00")
    assert row["start_utc"] >= row["interval_start"]  # one form: comparable as text with the interval


def test_event_rows_leave_the_instants_empty_for_days_and_unreadable_times():
    day = event_row(
        CTX, {"id": "d", "start": {"date": "2026-03-09"}, "end": {"date": "2026-03-10"}}, "snapshot"
    )
    assert (day["start_utc"], day["end_utc"]) == (None, None)
    odd = {
        **EVENT,
        "start": {"dateTime": "2026-03-09T10:00:00"},
        "end": {"dateTime": "soon", "timeZone": "UTC"},
    }
    row = event_row(CTX, odd, "snapshot")  # one odd event does not fail the export: its text stays
    assert (row["start"], row["end"], row["start_utc"], row["end_utc"]) == (
        "2026-03-09T10:00:00",
        "soon",
        None,
        None,
    )
    assert event_row(CTX, {"id": "x"}, "snapshot")["start_utc"] is None


def test_parquet_events_hold_the_utc_instants():
    buffer = io.BytesIO()
    writer = ParquetTableWriter(buffer, "events")
    offset_less = {
        "start": {"dateTime": "2026-03-09T18:00:00", "timeZone": "Asia/Shanghai"},
        "end": {"dateTime": "2026-03-09T19:00:00", "timeZone": "Asia/Shanghai"},
    }
    writer.write([event_row(CTX, EVENT, "snapshot"), event_row(CTX, {**EVENT, **offset_less}, "snapshot")])
    writer.close()
    buffer.seek(0)
    table = pq.read_table(buffer)
    assert table.column_names == [name for name, _ in COLUMNS["events"]]
    assert table.column("start_utc").to_pylist() == ["2026-03-09T02:00:00+00:00", "2026-03-09T10:00:00+00:00"]
    assert str(table.schema.field("end_utc").type) == "string"


def test_change_kinds():
    assert change_kind(EVENT, full=True) == "snapshot"
    assert change_kind({**EVENT, "status": "cancelled"}, full=True) == "snapshot"
    assert change_kind(EVENT, full=False) == "upsert"
    assert change_kind({**EVENT, "status": "cancelled"}, full=False) == "delete"


def test_attendee_and_check_in_rows():
    rows = attendee_rows(CTX, EVENT, "upsert", EVENT["attendees"])
    assert [(r["attendee_id"], r["response_status"], r["is_optional"], r["is_organizer"]) for r in rows] == [
        ("union-a", "accepted", False, True),
        ("union-b", "declined", True, False),
    ]
    assert all(list(r) == [n for n, _ in COLUMNS["attendees"]] for r in rows)
    users = [{"userId": "union-b", "displayName": "Bo", "checkInTime": 1773021600000}, {"userId": "union-c"}]
    checks = check_in_rows(CTX, EVENT, "snapshot", users)
    assert [(r["user_id"], r["check_in_time"]) for r in checks] == [
        ("union-b", 1773021600000),
        ("union-c", None),
    ]
    assert check_in_rows(CTX, EVENT, "x", [{"userId": "u", "checkInTime": "1773021600000"}])[0][
        "check_in_time"
    ] == (1773021600000)
    with pytest.raises(ValueError, match="checkInTime"):
        check_in_rows(CTX, EVENT, "x", [{"userId": "u", "checkInTime": "yesterday"}])


# ---------------------------------------------------------------------------- writers


def test_json_lines_writer_streams_batches():
    buffer = io.BytesIO()
    writer = JsonLinesWriter(buffer, "events")
    writer.write([event_row(CTX, EVENT, "snapshot")])
    writer.write([])
    writer.write([event_row(CTX, {**EVENT, "id": "ev-2"}, "snapshot")])
    writer.close()
    lines = buffer.getvalue().decode("utf-8").splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == ["ev-1", "ev-2"]
    assert "计划" in lines[0]  # UTF-8, not \\u escapes
    assert writer.rows == 2


def test_parquet_writer_writes_a_row_group_per_batch():
    buffer = io.BytesIO()
    writer = ParquetTableWriter(buffer, "attendees")
    writer.write(attendee_rows(CTX, EVENT, "snapshot", EVENT["attendees"]))
    writer.write(attendee_rows(CTX, {**EVENT, "id": "ev-2"}, "snapshot", EVENT["attendees"][:1]))
    writer.close()
    buffer.seek(0)
    parquet = pq.ParquetFile(buffer)
    assert parquet.metadata.num_row_groups == 2
    table = parquet.read()
    assert table.column_names == [name for name, _ in COLUMNS["attendees"]]
    assert table.column("event_id").to_pylist() == ["ev-1", "ev-1", "ev-2"]
    assert table.column("is_optional").to_pylist() == [False, True, False]


def test_parquet_file_without_rows_still_has_the_schema():
    buffer = io.BytesIO()
    writer = ParquetTableWriter(buffer, "check_ins")
    writer.close()
    buffer.seek(0)
    table = pq.read_table(buffer)
    assert table.num_rows == 0 and str(table.schema.field("check_in_time").type) == "int64"


# ---------------------------------------------------------------------------- partitions


def test_partition_name_is_the_utc_start_without_colons():
    start = pendulum.datetime(2026, 3, 9, 8, 10, tz="Asia/Shanghai")
    assert partition_name(start) == "interval_start=2026-03-09T00-10-00+00-00"
    with pytest.raises(ValueError):
        partition_name(start.naive())


def _run(root: Path, formats=("jsonl",), tag="run1", tables=("events", "attendees")) -> PartitionRun:
    run = PartitionRun(root, tables, formats, "interval_start=X", tag)
    run.open()
    return run


def test_a_run_replaces_the_partition_and_writes_success_last(tmp_path):
    first = _run(tmp_path, formats=("jsonl", "parquet"))
    first.write("events", [event_row(CTX, EVENT, "snapshot")] * 3)
    # While a run writes, only its temporary files are new, and no _SUCCESS is there.
    names = sorted(p.name for p in (tmp_path / "events" / "interval_start=X").iterdir())
    assert names == ["_tmp-run1-part-0.jsonl", "_tmp-run1-part-0.parquet"]
    files = first.commit()
    partition = tmp_path / "events" / "interval_start=X"
    assert sorted(p.name for p in partition.iterdir()) == ["_SUCCESS", "part-0.jsonl", "part-0.parquet"]
    assert files[0] == str(partition / "part-0.jsonl")
    assert len((partition / "part-0.jsonl").read_text().splitlines()) == 3
    assert (tmp_path / "attendees" / "interval_start=X" / SUCCESS).exists()

    second = _run(tmp_path, tag="run2")  # JSON Lines only this time
    assert not (partition / SUCCESS).exists()  # incomplete while the run writes
    second.write("events", [event_row(CTX, EVENT, "snapshot")])
    second.commit()
    assert sorted(p.name for p in partition.iterdir()) == ["_SUCCESS", "part-0.jsonl"]
    assert len((partition / "part-0.jsonl").read_text().splitlines()) == 1
    assert second.rows == {"events": 1, "attendees": 0}


def test_a_failed_run_leaves_the_old_files_and_no_success(tmp_path):
    first = _run(tmp_path)
    first.write("events", [event_row(CTX, EVENT, "snapshot")])
    first.commit()
    partition = tmp_path / "events" / "interval_start=X"
    (partition / "_tmp-crashed-part-0.jsonl").write_text("left by a killed run\n")
    failed = _run(tmp_path, tag="run2")
    failed.write("events", [event_row(CTX, EVENT, "snapshot")] * 5)
    failed.abort()
    assert sorted(p.name for p in partition.iterdir()) == ["_tmp-crashed-part-0.jsonl", "part-0.jsonl"]
    assert len((partition / "part-0.jsonl").read_text().splitlines()) == 1
    _run(tmp_path, tag="run3").commit()  # the next run cleans up what a killed run left
    assert sorted(p.name for p in partition.iterdir()) == ["_SUCCESS", "part-0.jsonl"]


# ---------------------------------------------------------------------------- plan


def _plan(**changes):
    args = {
        "calendars": ["union-a", "union-b"],
        "mode": "full",
        "attendees": True,
        "check_ins": False,
        "formats": ["jsonl", "parquet"],
        "interval_start": pendulum.datetime(2026, 3, 9),
        "interval_end": pendulum.datetime(2026, 3, 10),
    }
    args.update(changes)
    return make_plan(**args)


def test_plan_defaults_to_the_data_interval():
    plan = _plan()
    assert (plan.time_min, plan.time_max) == ("2026-03-09T00:00:00Z", "2026-03-10T00:00:00Z")
    assert plan.tables == ("events", "attendees") and plan.formats == ("jsonl", "parquet")
    assert _plan(mode="incremental").time_max is None
    assert _plan(check_ins=True, attendees=False).tables == ("events", "check_ins")
    assert _plan(check_outs=True).tables == ("events", "attendees", "check_outs")


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"calendars": "union-a"}, "calendars", "list"),
        ({"calendars": []}, "calendars", "at least one"),
        ({"calendars": ["union-a", " "]}, "calendars[1]", "non-empty"),
        ({"calendars": ["union-a", "union-a"]}, "calendars[1]", "repeats"),
        ({"calendars": [f"u{n}" for n in range(50_001)]}, "calendars", "at most 50,000"),
        ({"calendars": ["union-a", "u" * 257]}, "calendars[1]", "at most 256 characters"),
        ({"mode": "delta"}, "mode", "full, incremental"),
        ({"formats": ["csv"]}, "formats", "unknown format"),
        ({"formats": ["parquet"]}, "formats", "jsonl"),
        ({"attendees": "yes"}, "attendees", "true or false"),
        ({"page_size": 500}, "page_size", "1 to 100"),
        ({"mode": "incremental", "time_max": "2026-03-10"}, "time_max", "no syncToken"),
        ({"interval_end": pendulum.datetime(2026, 3, 9)}, "interval_end", "data interval"),
        ({"interval_start": None}, "interval_start", "no data interval"),
        ({"time_min": "not a time"}, "time_min", ""),
    ],
)
def test_plan_refuses_bad_arguments_naming_the_field(changes, field, words):
    with pytest.raises(InvalidArgumentError) as caught:
        _plan(**changes)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_parquet_without_pyarrow_names_pyarrow(monkeypatch):
    import airflow_dtcal.export.plan as plan_module

    monkeypatch.setattr(plan_module, "pyarrow_missing", lambda: True)
    with pytest.raises(InvalidArgumentError, match="needs pyarrow.*airflow-dtcal\\[parquet\\]") as caught:
        _plan()
    assert caught.value.field == "formats"
    assert _plan(formats=["jsonl"]).formats == ("jsonl",)  # JSON Lines needs nothing


def test_overall_mode():
    assert overall_mode(["full", "full"]) == "full"
    assert overall_mode(["full", "incremental"]) == "incremental"
    assert overall_mode(["incremental", "resync", "full"]) == "resync"
