"""ExportEventsOperator against the emulator over real HTTP, execute() called directly (the Airflow runs of
the example DAG are in test_export_in_airflow.py). The incremental watermark lives beside the data, in the
destination's ``calendars`` table.
"""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

import pendulum
import pyarrow.parquet as pq
import pytest
import requests

from airflow_dtcal.exceptions import DingTalkConfigurationError, DingTalkInvalidArgumentError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.transfers.export import ExportEventsOperator

ANN, BO, CY = "union-ann-001", "union-bo-002", "union-cy-003"
DAY1 = pendulum.datetime(2026, 3, 9, tz="UTC")
DAY2, DAY3 = DAY1.add(days=1), DAY1.add(days=2)
EXPIRED = {
    "status": 400,
    "code": "invalidSyncToken",
    "message": "syncToken is invalid or expired; list again without syncToken",
}


def when(day: pendulum.DateTime, hour: int) -> dict:
    return {
        "dateTime": day.set(hour=hour).in_timezone("Asia/Shanghai").isoformat(),
        "timeZone": "Asia/Shanghai",
    }


def new_event(summary: str, day=DAY1, hour=2, attendees=(BO,)) -> dict:
    return {
        "summary": summary,
        "start": when(day, hour),
        "end": when(day, hour + 1),
        "attendees": [{"id": a} for a in attendees],
    }


class Run:
    """An operator run: execute() with the context Airflow would give, and what it wrote."""

    def __init__(self, op: ExportEventsOperator, start, end) -> None:
        self.pushed: dict = {}
        ti = types.SimpleNamespace(
            dag_id="dtcal_export_unit",
            task_id=op.task_id,
            run_id=f"scheduled__{start}",
            map_index=-1,
            try_number=1,
            xcom_push=lambda key, value: self.pushed.__setitem__(key, value),
        )
        self.result = op.execute({"ti": ti, "data_interval_start": start, "data_interval_end": end})

    def rows(self, root: Path, table: str) -> list[dict]:
        part = root / table / self.result["partition"] / "part-0.jsonl"
        return [json.loads(line) for line in part.read_text().splitlines()]


def export(root: Path, start=DAY1, end=None, **kwargs) -> Run:
    kwargs.setdefault("calendars", [ANN, BO])
    op = ExportEventsOperator(task_id="export", destination=f"file://{root}", **kwargs)
    return Run(op, start, end or start.add(days=1))


@pytest.fixture
def hook(dtcal_emulator):
    return DingTalkCalendarHook()


# ---------------------------------------------------------------------------- full mode


def test_full_export_of_the_interval_with_attendees_and_parquet(dtcal_emulator, hook, tmp_path):
    review = hook.create_event(ANN, new_event("Review", attendees=(BO, CY)))
    hook.respond_event(BO, review["id"], "accepted")
    hook.create_event(BO, new_event("Bo's 1:1", attendees=(ANN,)))
    hook.create_event(ANN, new_event("Next day", day=DAY2))  # outside the interval
    run = export(tmp_path, formats=["jsonl", "parquet"])

    assert run.result["mode"] == "full" and run.result["calendars"] == {ANN: "full", BO: "full"}
    assert run.result["modes"] == {"full": 2}
    assert run.result["rows"] == {"events": 4, "attendees": 10, "check_ins": None, "check_outs": None}
    events = run.rows(tmp_path, "events")
    assert sorted((r["calendar_owner"], r["summary"]) for r in events) == [
        (ANN, "Bo's 1:1"),
        (ANN, "Review"),
        (BO, "Bo's 1:1"),
        (BO, "Review"),
    ]
    assert {r["change"] for r in events} == {"snapshot"}
    assert {r["interval_start"] for r in events} == {"2026-03-09T00:00:00+00:00"}
    answers = {
        (r["calendar_owner"], r["attendee_id"]): r["response_status"]
        for r in run.rows(tmp_path, "attendees")
        if r["event_id"] == review["id"]
    }
    assert answers[(ANN, BO)] == "accepted" and answers[(BO, CY)] == "needsAction"
    # The Parquet files hold the same rows as the JSON Lines files.
    partition = tmp_path / "events" / "interval_start=2026-03-09T00-00-00+00-00"
    assert pq.read_table(partition / "part-0.parquet").to_pylist() == events
    assert sorted(p.name for p in partition.iterdir()) == ["_SUCCESS", "part-0.jsonl", "part-0.parquet"]
    assert run.result["files"][0] == f"file://{partition}/part-0.jsonl"
    # The calls it spent: one ListEvents per calendar, attendees came inside the events.
    spent = run.pushed["dingtalk_calls"]["by_operation"]
    assert {op: n for op, n in spent.items() if op != "GetAccessToken"} == {"ListEvents": 2}


def test_rows_carry_utc_instants_of_offset_less_events(dtcal_emulator, hook, tmp_path):
    """DingTalk holds an event's dateTime as it was written, offset-less too; the rows' start_utc/end_utc
    read it in its timeZone, and the interval's window holds it by its instant (06:00 on the 10th in Shanghai
    is 22:00 UTC on the 9th: inside the UTC day of the 9th; read as UTC it would be outside)."""
    hook.create_event(
        ANN,
        {
            "summary": "Late",
            "start": {"dateTime": "2026-03-10T06:00:00", "timeZone": "Asia/Shanghai"},
            "end": {"dateTime": "2026-03-10T07:00:00", "timeZone": "Asia/Shanghai"},
        },
    )
    hook.create_event(ANN, new_event("Early", hour=1))
    run = export(tmp_path, calendars=[ANN], formats=["jsonl", "parquet"])
    rows = {r["summary"]: r for r in run.rows(tmp_path, "events")}
    assert sorted(rows) == ["Early", "Late"]
    late, early = rows["Late"], rows["Early"]
    assert (late["start"], late["time_zone"]) == ("2026-03-10T06:00:00", "Asia/Shanghai")
    assert (late["start_utc"], late["end_utc"]) == ("2026-03-09T22:00:00+00:00", "2026-03-09T23:00:00+00:00")
    assert (early["start"], early["start_utc"]) == ("2026-03-09T09:00:00+08:00", "2026-03-09T01:00:00+00:00")
    partition = tmp_path / "events" / run.result["partition"]
    assert pq.read_table(partition / "part-0.parquet").to_pylist() == run.rows(tmp_path, "events")


def test_an_event_with_more_attendees_than_listed_inline_costs_list_attendees(dtcal_emulator, hook, tmp_path):
    many = [f"union-p-{i:03d}" for i in range(130)]
    big = hook.create_event(ANN, new_event("All hands", attendees=many))
    hook.create_event(ANN, new_event("Small"))
    run = export(tmp_path, calendars=[ANN])
    people = [r for r in run.rows(tmp_path, "attendees") if r["event_id"] == big["id"]]
    assert len(people) == 131 and len({r["attendee_id"] for r in people}) == 131  # with the organizer
    assert run.pushed["dingtalk_calls"]["by_operation"]["ListAttendees"] == 1


def test_a_rerun_of_the_interval_replaces_its_partition(dtcal_emulator, hook, tmp_path):
    hook.create_event(ANN, new_event("One"))
    first = export(tmp_path, formats=["jsonl", "parquet"])
    second = export(tmp_path)  # the same interval, JSON Lines only this time
    assert second.result["rows"] == first.result["rows"]
    assert second.rows(tmp_path, "events") == first.rows(tmp_path, "events")
    partition = tmp_path / "events" / first.result["partition"]
    assert sorted(p.name for p in partition.iterdir()) == ["_SUCCESS", "part-0.jsonl"]


def test_destination_as_an_object_storage_path(dtcal_emulator, hook, tmp_path):
    from airflow.sdk import ObjectStoragePath

    hook.create_event(ANN, new_event("One"))
    op = ExportEventsOperator(
        task_id="export", destination=ObjectStoragePath(f"file://{tmp_path}/lake"), calendars=[ANN]
    )
    run = Run(op, DAY1, DAY2)
    assert run.result["path"] == f"file://{tmp_path}/lake"
    assert [r["summary"] for r in run.rows(tmp_path / "lake", "events")] == ["One"]


def test_an_object_store_that_is_not_the_local_disk(dtcal_emulator, hook):
    """fsspec's in-memory filesystem stands in for S3/GCS: no local rename, files moved by the filesystem;
    a re-run replaces the partition there too."""
    import uuid

    import fsspec
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach

    attach("memory", fs=fsspec.filesystem("memory"))  # as a provider registers s3:// or gs://
    hook.create_event(ANN, new_event("One"))
    root = f"memory://dtcal-test-{uuid.uuid4().hex[:8]}/lake"
    first = Run(ExportEventsOperator(task_id="export", destination=root, calendars=[ANN]), DAY1, DAY2)
    hook.create_event(ANN, new_event("Two", hour=3))
    op = ExportEventsOperator(
        task_id="export", destination=root, calendars=[ANN], formats=["jsonl", "parquet"]
    )
    second = Run(op, DAY1, DAY2)
    assert (first.result["rows"]["events"], second.result["rows"]["events"]) == (1, 2)
    partition = ObjectStoragePath(root) / "events" / second.result["partition"]
    assert sorted(p.name for p in partition.iterdir()) == ["_SUCCESS", "part-0.jsonl", "part-0.parquet"]
    lines = (partition / "part-0.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["summary"] for line in lines) == ["One", "Two"]


def sign_in(emulator, hook, attendee: str, event_id: str) -> int:
    """SignIn as ``attendee`` (the path user), over HTTP; the check-in time DingTalk answers."""
    url = f"{emulator.base_url}/v1.0/calendar/users/{attendee}/calendars/primary/events/{event_id}/signin"
    answer = requests.post(url, headers={"x-acs-dingtalk-access-token": hook.get_access_token()}, timeout=5)
    answer.raise_for_status()
    return answer.json()["checkInTime"]


def test_check_ins_of_the_events_the_owner_organizes(dtcal_emulator, hook, tmp_path):
    review = hook.create_event(ANN, new_event("Review", attendees=(BO, CY)))
    other = hook.create_event(BO, new_event("Bo's", attendees=(ANN,)))
    checked_in = sign_in(dtcal_emulator, hook, BO, review["id"])
    sign_in(dtcal_emulator, hook, ANN, other["id"])
    run = export(tmp_path, check_ins=True, formats=["jsonl", "parquet"])
    # Each event's list is read once, from its organizer's calendar.
    assert run.pushed["dingtalk_calls"]["by_operation"].get("GetSignInList") == 2
    got = sorted((r["calendar_owner"], r["event_id"], r["user_id"]) for r in run.rows(tmp_path, "check_ins"))
    assert got == [(ANN, review["id"], BO), (BO, other["id"], ANN)]
    bo = next(r for r in run.rows(tmp_path, "check_ins") if r["user_id"] == BO)
    assert bo["check_in_time"] == checked_in and bo["change"] == "snapshot"
    partition = tmp_path / "check_ins" / run.result["partition"]
    assert pq.read_table(partition / "part-0.parquet").to_pylist() == run.rows(tmp_path, "check_ins")
    assert run.result["rows"]["check_ins"] == 2


def test_check_outs_beside_check_ins(dtcal_emulator, hook, tmp_path):
    review = hook.create_event(ANN, new_event("Review", attendees=(BO, CY)))
    sign_in(dtcal_emulator, hook, BO, review["id"])
    sign_in(dtcal_emulator, hook, CY, review["id"])
    url = (
        f"{dtcal_emulator.base_url}/v1.0/calendar/users/{BO}/calendars/primary/events/{review['id']}/signOut"
    )
    answer = requests.post(url, headers={"x-acs-dingtalk-access-token": hook.get_access_token()}, timeout=5)
    answer.raise_for_status()
    checked_out = answer.json()["checkOutTime"]
    run = export(tmp_path, check_ins=True, check_outs=True, formats=["jsonl", "parquet"])
    calls = run.pushed["dingtalk_calls"]["by_operation"]
    assert calls.get("GetSignInList") == 1 and calls.get("GetSignOutList") == 1
    [out] = run.rows(tmp_path, "check_outs")
    assert (out["event_id"], out["user_id"], out["check_out_time"]) == (review["id"], BO, checked_out)
    assert "check_in_time" not in out and out["change"] == "snapshot"
    assert sorted(r["user_id"] for r in run.rows(tmp_path, "check_ins")) == sorted([BO, CY])
    partition = tmp_path / "check_outs" / run.result["partition"]
    assert pq.read_table(partition / "part-0.parquet").to_pylist() == run.rows(tmp_path, "check_outs")
    assert run.result["rows"]["check_outs"] == 1
    only_outs = export(tmp_path / "outs", check_outs=True)
    assert "GetSignInList" not in only_outs.pushed["dingtalk_calls"]["by_operation"]
    assert only_outs.result["rows"]["check_ins"] is None and only_outs.result["rows"]["check_outs"] == 1


def test_pages_stream_into_the_files(dtcal_emulator, hook, tmp_path):
    for n in range(5):
        hook.create_event(ANN, new_event(f"Meeting {n}", attendees=()))
    run = export(tmp_path, calendars=[ANN], page_size=2, formats=["jsonl", "parquet"])
    assert run.result["rows"]["events"] == 5
    partition = tmp_path / "events" / run.result["partition"]
    # One ListEvents page at a time, each page written as it came: a row group per page.
    assert pq.ParquetFile(partition / "part-0.parquet").metadata.num_row_groups == 3
    assert run.pushed["dingtalk_calls"]["by_operation"]["ListEvents"] == 3


# ---------------------------------------------------------------------------- incremental mode


def test_incremental_export_across_runs(airflow_db, dtcal_emulator, hook, tmp_path):
    keep = hook.create_event(ANN, new_event("Keep"))
    change = hook.create_event(ANN, new_event("Change"))
    drop = hook.create_event(ANN, new_event("Drop"))
    first = export(tmp_path, mode="incremental", formats=["jsonl", "parquet"])
    assert first.result["mode"] == "full"  # no watermark yet: a full listing from the interval start
    assert sorted(r["summary"] for r in first.rows(tmp_path, "events")) == [
        "Change",
        "Change",
        "Drop",
        "Drop",
        "Keep",
        "Keep",
    ]

    added = hook.create_event(BO, new_event("Added", day=DAY2, attendees=(ANN,)))
    hook.patch_event(ANN, change["id"], {"summary": "Changed"})
    hook.cancel_event(ANN, drop["id"])
    second = export(tmp_path, start=DAY2, mode="incremental", formats=["jsonl", "parquet"])
    assert second.result["mode"] == "incremental"
    assert second.result["calendars"] == {ANN: "incremental", BO: "incremental"}
    rows = second.rows(tmp_path, "events")
    got = sorted((r["calendar_owner"], r["event_id"], r["change"]) for r in rows)
    assert got == sorted(
        [
            (owner, event_id, kind)
            for owner in (ANN, BO)
            for event_id, kind in ((added["id"], "upsert"), (change["id"], "upsert"), (drop["id"], "delete"))
        ]
    )
    assert keep["id"] not in {r["event_id"] for r in rows}
    assert {r["interval_start"] for r in rows} == {"2026-03-10T00:00:00+00:00"}
    assert {r["summary"] for r in rows if r["event_id"] == change["id"]} == {"Changed"}
    # The first day's partition is untouched.
    assert len(first.rows(tmp_path, "events")) == 6

    # A re-run of the second day replays from where that day started: the same rows, replaced.
    again = export(tmp_path, start=DAY2, mode="incremental", formats=["jsonl", "parquet"])
    assert again.result["rows"] == second.result["rows"]
    assert again.rows(tmp_path, "events") == rows
    table = pq.read_table(tmp_path / "events" / second.result["partition"] / "part-0.parquet")
    assert table.num_rows == len(rows)

    # The next day starts where the second day ended: nothing changed since.
    third = export(tmp_path, start=DAY3, mode="incremental")
    assert third.result["rows"]["events"] == 0 and third.result["mode"] == "incremental"


def test_an_attendee_removed_from_an_event_gets_a_delete_row(airflow_db, dtcal_emulator, hook, tmp_path):
    review = hook.create_event(ANN, new_event("Review", attendees=(BO, CY)))
    export(tmp_path, mode="incremental", calendars=[ANN, BO])
    hook.remove_attendees(ANN, review["id"], [BO])
    run = export(tmp_path, start=DAY2, mode="incremental", calendars=[ANN, BO])
    changes = sorted((r["calendar_owner"], r["change"]) for r in run.rows(tmp_path, "events"))
    # Ann's calendar: the event changed (its attendees); Bo's: the event left it.
    assert changes == [(ANN, "upsert"), (BO, "delete")]
    left = {r["attendee_id"] for r in run.rows(tmp_path, "attendees") if r["calendar_owner"] == ANN}
    assert left == {ANN, CY}


def test_an_expired_token_resyncs_in_full(airflow_db, dtcal_emulator, hook, tmp_path):
    # A resync lists from the interval's start: the events are on the later days.
    hook.create_event(ANN, new_event("One", day=DAY2))
    export(tmp_path, mode="incremental", calendars=[ANN])
    hook.create_event(ANN, new_event("Two", day=DAY3))
    dtcal_emulator.expire_sync_tokens()  # the emulator's control: every token issued so far is refused
    run = export(tmp_path, start=DAY2, mode="incremental", calendars=[ANN])
    assert run.result["mode"] == "resync" and run.result["calendars"] == {ANN: "resync"}
    rows = run.rows(tmp_path, "events")
    assert sorted(r["summary"] for r in rows) == ["One", "Two"] and {r["change"] for r in rows} == {
        "snapshot"
    }
    # The new token was kept: the next day follows it.
    hook.create_event(ANN, new_event("Three", day=DAY3))
    after = export(tmp_path, start=DAY3, mode="incremental", calendars=[ANN])
    assert after.result["mode"] == "incremental"
    assert [r["summary"] for r in after.rows(tmp_path, "events")] == ["Three"]
    # A re-run of the resynced day lists in full again (that day started from a full listing), without
    # a wasted call with the expired token.
    before = len(dtcal_emulator.requests())
    again = export(tmp_path, start=DAY2, mode="incremental", calendars=[ANN])
    assert again.result["mode"] == "full"
    assert sorted(r["summary"] for r in again.rows(tmp_path, "events")) == ["One", "Three", "Two"]
    lists = [r for r in dtcal_emulator.requests()[before:] if r["operation"] == "ListEvents"]
    assert len(lists) == 1


def test_one_calendar_refused_its_token_the_others_continue(airflow_db, dtcal_emulator, hook, tmp_path):
    export(tmp_path, mode="incremental", calendars=[ANN, BO])
    hook.create_event(BO, new_event("Bo's", day=DAY2, attendees=(ANN,)))
    # DingTalk's answer to a token it refuses, to the first ListEvents of the run (Ann's delta) only.
    dtcal_emulator.add_fault("fail", operation="ListEvents", **EXPIRED)
    run = export(tmp_path, start=DAY2, mode="incremental", calendars=[ANN, BO])
    assert run.result["calendars"] == {ANN: "resync", BO: "incremental"}
    assert run.result["mode"] == "resync"
    assert sorted((r["calendar_owner"], r["change"]) for r in run.rows(tmp_path, "events")) == [
        (ANN, "snapshot"),
        (BO, "upsert"),
    ]


def test_a_token_that_expires_mid_way_rewrites_the_partition(airflow_db, dtcal_emulator, hook, tmp_path):
    export(tmp_path, mode="incremental", calendars=[ANN, BO])
    for n in range(3):
        hook.create_event(ANN, new_event(f"New {n}", day=DAY2))
    op = ExportEventsOperator(
        task_id="export",
        destination=f"file://{tmp_path}",
        calendars=[ANN, BO],
        mode="incremental",
        page_size=1,
    )
    delta = op.get_hook().iter_event_changes

    def expire_after_the_first_page(*args, **kwargs):
        for number, page in enumerate(delta(*args, **kwargs)):
            yield page
            if number == 0 and kwargs.get("sync_token"):
                dtcal_emulator.expire_sync_tokens()  # the delta's next page is refused

    op.get_hook().iter_event_changes = expire_after_the_first_page
    run = Run(op, DAY2, DAY3)
    assert run.result["calendars"][ANN] == "resync"
    rows = run.rows(tmp_path, "events")
    ann = [r for r in rows if r["calendar_owner"] == ANN]
    # Only the full listing's rows: the page written before the token expired is not in the partition.
    assert sorted(r["summary"] for r in ann) == ["New 0", "New 1", "New 2"]
    assert {r["change"] for r in ann} == {"snapshot"}
    partition = tmp_path / "events" / run.result["partition"]
    assert sorted(p.name for p in partition.iterdir()) == ["_SUCCESS", "part-0.jsonl"]


def test_a_damaged_watermark_fails_naming_its_file_before_any_request(dtcal_emulator, tmp_path):
    export(tmp_path, mode="incremental", calendars=[ANN])
    record = tmp_path / "calendars" / "interval_start=2026-03-09T00-00-00+00-00" / "part-0.jsonl"
    record.write_text('{"interval_start": "2026-03-09T00:00:00+00:00", "calendar_owner": 7}\n')
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    calls = len(dtcal_emulator.requests())
    with pytest.raises(
        DingTalkConfigurationError,
        match=f"{re.escape(str(record))} line 1 has no calendar_owner.*remove its directory",
    ):
        export(tmp_path, start=DAY2, mode="incremental", calendars=[ANN])
    assert len(dtcal_emulator.requests()) == calls
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


# ---------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"calendars": "union-ann-001"}, "calendars"),
        ({"calendars": [ANN, None]}, "calendars[1]"),
        ({"mode": "delta"}, "mode"),
        ({"formats": ["jsonl", "csv"]}, "formats"),
        ({"destination": ""}, "destination"),
        ({"destination": "nosuchprotocol://bucket/x"}, "destination"),
        ({"mode": "incremental", "time_max": "2026-03-10T00:00:00Z"}, "time_max"),
        ({"calendars": [ANN, "x" * 257]}, "calendars[1]"),
        ({"calendar_id": "c" * 257}, "calendar_id"),
        ({"page_size": 0}, "page_size"),
        ({"id_type": "email"}, "id_type"),
        ({"destination": "relative/lake"}, "destination"),
        ({"destination": "file://relative/lake"}, "destination"),
        ({"destination": "/data/../etc/lake"}, "destination"),
        ({"destination": "/data/lake\x00/x"}, "destination"),
    ],
)
def test_bad_arguments_fail_before_any_request(dtcal_emulator, tmp_path, kwargs, field):
    kwargs = {"destination": f"file://{tmp_path}", "calendars": [ANN], **kwargs}
    try:  # a value known when the DAG is parsed is refused there; the rest in execute()
        op = ExportEventsOperator(task_id="export", **kwargs)
    except DingTalkInvalidArgumentError as error:
        caught = error
    else:
        with pytest.raises(DingTalkInvalidArgumentError) as raised:
            Run(op, DAY1, DAY2)
        caught = raised.value
    assert caught.field == field
    assert dtcal_emulator.requests() == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "destination", ["relative/lake", "file://relative/lake", "/data/../etc/lake", "/data/lake\x00/x"]
)
def test_a_rendered_destination_is_held_to_the_same_rules_when_the_task_runs(dtcal_emulator, destination):
    op = ExportEventsOperator(task_id="export", destination="{{ params.lake }}", calendars=[ANN])
    op.destination = destination  # what rendering the template gave
    with pytest.raises(DingTalkInvalidArgumentError, match="^destination: "):
        Run(op, DAY1, DAY2)
    assert dtcal_emulator.requests() == []


def test_a_partition_directory_that_is_a_link_fails_the_export_and_leaves_its_target_alone(
    dtcal_emulator, hook, tmp_path
):
    import os

    from airflow_dtcal.export.partition import UnsafeDestinationError, partition_name

    precious = tmp_path / "someone-else"
    precious.mkdir()
    (precious / "precious.csv").write_text("a,b\n")
    (precious / "dag.py").write_text("# a DAG\n")
    lake = tmp_path / "lake"
    (lake / "events").mkdir(parents=True)
    os.symlink(precious, lake / "events" / partition_name(DAY1))
    hook.create_event(ANN, new_event("One"))
    with pytest.raises(UnsafeDestinationError, match="is a symbolic link"):
        export(lake)
    assert sorted(p.name for p in precious.iterdir()) == ["dag.py", "precious.csv"]


def test_full_mode_needs_a_window(dtcal_emulator, tmp_path):
    op = ExportEventsOperator(task_id="export", destination=f"file://{tmp_path}", calendars=[ANN])
    with pytest.raises(DingTalkInvalidArgumentError, match="interval_end: must be after time_min"):
        Run(op, DAY1, DAY1)  # a manual run of an unscheduled DAG has an empty data interval
    op = ExportEventsOperator(
        task_id="export", destination=f"file://{tmp_path}", calendars=[ANN], time_max="2026-03-09T12:00:00Z"
    )
    assert Run(op, DAY1, DAY1).result["rows"]["events"] == 0


def test_calendars_by_user_id(dtcal_emulator, hook, tmp_path):
    dtcal_emulator.seed_users([{"userId": "ann.hr", "unionId": ANN, "name": "Ann"}])
    hook.create_event(ANN, new_event("One"))
    run = export(tmp_path, calendars=["ann.hr"], id_type="userId")
    assert run.result["calendars"] == {ANN: "full"}
    assert [r["calendar_owner"] for r in run.rows(tmp_path, "events")] == [ANN]


def test_parquet_without_pyarrow_fails_naming_pyarrow_before_any_request(
    dtcal_emulator, tmp_path, monkeypatch
):
    import airflow_dtcal.export.plan as plan

    monkeypatch.setattr(plan, "pyarrow_missing", lambda: True)  # as if pyarrow were not installed
    op = ExportEventsOperator(
        task_id="export", destination=f"file://{tmp_path}", calendars=[ANN], formats=["jsonl", "parquet"]
    )
    with pytest.raises(
        DingTalkInvalidArgumentError, match="formats: .*needs pyarrow.*airflow-dtcal\\[parquet\\]"
    ):
        Run(op, DAY1, DAY2)
    assert dtcal_emulator.requests() == [] and list(tmp_path.iterdir()) == []


def test_beyond_the_named_calendars_the_xcom_holds_counts_only(dtcal_emulator, hook, tmp_path, monkeypatch):
    """The return value (an XCom) stays small however many calendars: past MAX_NAMED_CALENDARS each
    calendar's mode is left to the calendars table, and only the counts per mode remain."""
    from airflow_dtcal.transfers import export as module

    monkeypatch.setattr(module, "MAX_NAMED_CALENDARS", 1)
    run = export(tmp_path)
    assert run.result["calendars"] is None and run.result["modes"] == {"full": 2}
    assert {r["calendar_owner"] for r in run.rows(tmp_path, "calendars")} == {ANN, BO}
