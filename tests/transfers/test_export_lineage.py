"""The export's OpenLineage facets: the export runs in a real Airflow (dag.test()) against the emulator, and
``get_openlineage_facets_on_complete`` is called on the operator that ran, with the finished task instance,
as the OpenLineage provider's listener does. Skipped when the OpenLineage provider is not installed (only the
newest Airflow line of the matrix installs it: ``make venv``, dependency group ``lineage``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip(
    "airflow.providers.openlineage.extractors",
    reason="apache-airflow-providers-openlineage is not installed (the `lineage` dependency group, newest line)",
)

from airflow.listeners import hookimpl  # noqa: E402
from openlineage.client.serde import Serde  # noqa: E402

from airflow_dtcal.export.lineage import MAX_CALENDAR_DATASETS, export_lineage  # noqa: E402
from airflow_dtcal.transfers.export import ExportEventsOperator, _lineage_of  # noqa: E402
from tests.transfers.test_export_in_airflow import MONDAY_RUN, TEAM, daily_export, meeting  # noqa: E402

pytestmark = pytest.mark.airflow


class _FinishedTasks:
    """A task-instance listener (as the OpenLineage provider's is): keeps each successful task instance."""

    def __init__(self) -> None:
        self.instances: dict[str, object] = {}

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance) -> None:
        self.instances[task_instance.task_id] = task_instance


@pytest.fixture
def finished_tasks():
    from airflow.sdk.listener import get_listener_manager

    listener = _FinishedTasks()
    manager = get_listener_manager()
    manager.add_listener(listener)
    try:
        yield listener
    finally:
        manager.pm.unregister(listener)


def _jsonl_columns(root: Path, table: str) -> list[str]:
    [part] = (root / table).glob("interval_start=*/part-0.jsonl")
    return list(json.loads(part.read_text().splitlines()[0]))


def test_the_facets_name_the_calendars_read_and_the_tables_written(
    airflow_db, dtcal_emulator, hook, tmp_path, finished_tasks
):
    hook.create_event(TEAM[0], meeting("Planning", 10))
    from tests.airflow_runs import run_dag

    result = run_dag(
        daily_export(), logical_date=MONDAY_RUN, conf={"destination": f"file://{tmp_path}", "team": TEAM}
    )
    assert result.state == "success", result.task_states
    export = result.xcom("export_team_calendars")
    ti = finished_tasks.instances["export_team_calendars"]
    calls_before = len(dtcal_emulator.requests())

    lineage = ti.task.get_openlineage_facets_on_complete(ti)

    assert len(dtcal_emulator.requests()) == calls_before  # made from the run's record: nothing listed again
    host = dtcal_emulator.base_url.split("://", 1)[1].rstrip("/")
    assert [(d.namespace, d.name, d.facets) for d in lineage.inputs] == [
        (f"dingtalk://{host}", f"{owner}/primary", {}) for owner in TEAM
    ]
    outputs = {d.name: d for d in lineage.outputs}
    # The tables the run wrote (no check_ins: not asked for), as directories under the destination.
    assert sorted(outputs) == [f"{tmp_path}/{t}" for t in ("attendees", "calendars", "events")]
    for table in ("events", "attendees", "calendars"):
        dataset = outputs[f"{tmp_path}/{table}"]
        assert dataset.namespace == "file"
        fields = dataset.facets["schema"].fields
        # The schema is the columns of the rows actually written, in order.
        assert [f.name for f in fields] == _jsonl_columns(tmp_path, table)
    types = {f.name: f.type for f in outputs[f"{tmp_path}/events"].facets["schema"].fields}
    assert types["event_id"] == "string" and types["is_all_day"] == "bool"
    counts = {
        name.rsplit("/", 1)[1]: d.outputFacets["outputStatistics"].rowCount for name, d in outputs.items()
    }
    assert counts == {
        "events": export["rows"]["events"],
        "attendees": export["rows"]["attendees"],
        "calendars": len(TEAM),
    }
    # What the OpenLineage client sends: plain JSON.
    json.dumps(Serde.to_dict(lineage.outputs[0]))


def test_an_operator_that_has_not_run_has_no_lineage():
    op = ExportEventsOperator(task_id="export", calendars=["a"], destination="file:///tmp/x")
    lineage = op.get_openlineage_facets_on_complete(None)
    assert lineage.inputs == [] and lineage.outputs == []


@pytest.mark.parametrize(
    "count", [MAX_CALENDAR_DATASETS, MAX_CALENDAR_DATASETS + 1, 10 * MAX_CALENDAR_DATASETS]
)
def test_beyond_the_bound_the_calendars_are_one_dataset_with_their_count(count):
    op = ExportEventsOperator(task_id="export", calendars=["a"], destination="file:///tmp/x")
    owners = [f"union-{i:05d}" for i in range(count)]
    op._lineage = export_lineage(
        base_url="https://api.dingtalk.com",
        calendar_id="primary",
        owners=owners,
        protocol="file",
        bucket="",
        key="/data/dingtalk",
        rows={"events": 5, "calendars": count},
    )
    lineage = op.get_openlineage_facets_on_complete(None)
    if count <= MAX_CALENDAR_DATASETS:
        assert len(lineage.inputs) == count
        assert lineage.inputs[-1].name == f"union-{count - 1:05d}/primary"
        assert lineage.inputs[0].facets == {}
    else:
        [one] = lineage.inputs
        assert (one.namespace, one.name) == ("dingtalk://api.dingtalk.com", "*/primary")
        assert Serde.to_dict(one)["facets"]["dingtalkCalendars"]["count"] == count
    # The event stays small however many calendars: ~100 bytes a calendar up to the bound, then one.
    size = len(json.dumps([Serde.to_dict(d) for d in lineage.inputs]))
    assert size < 120 * min(count, MAX_CALENDAR_DATASETS) + 1000


def test_an_object_store_destination_is_named_by_scheme_and_bucket_without_the_connection():
    from airflow.sdk import ObjectStoragePath

    class Files:
        rows = {"events": 1, "attendees": 2, "calendars": 1}

    destination = ObjectStoragePath("s3://aws_default@my-bucket/dingtalk/export")
    lineage = _lineage_of("https://api.dingtalk.com", "primary", ["u1"], destination, Files())  # type: ignore[arg-type]
    assert [(t.namespace, t.name, t.rows) for t in lineage.tables] == [
        ("s3://my-bucket", "dingtalk/export/events", 1),
        ("s3://my-bucket", "dingtalk/export/attendees", 2),
        ("s3://my-bucket", "dingtalk/export/calendars", 1),
    ]
    at_root = _lineage_of("https://api.dingtalk.com", "primary", ["u1"], ObjectStoragePath("gs://b"), Files())  # type: ignore[arg-type]
    assert [t.name for t in at_root.tables] == ["events", "attendees", "calendars"]
    assert at_root.tables[0].namespace == "gs://b"


@pytest.fixture
def openlineage_to_file(tmp_path, monkeypatch):
    """The OpenLineage provider's own listener, enabled with a file transport (events as JSON lines) and
    emitting in a thread (not a fork) so the in-process dag.test() waits for it."""
    from airflow.providers.openlineage import conf
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
    from airflow.sdk.listener import get_listener_manager

    log = tmp_path / "openlineage.jsonl"
    monkeypatch.setenv(
        "AIRFLOW__OPENLINEAGE__TRANSPORT",
        json.dumps({"type": "file", "log_file_path": str(log), "append": True}),
    )
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True")
    cached = [f for f in vars(conf).values() if callable(getattr(f, "cache_clear", None))]
    for function in cached:
        function.cache_clear()
    get_openlineage_listener.cache_clear()
    listener = get_openlineage_listener()
    manager = get_listener_manager()
    manager.add_listener(listener)
    try:
        yield log
    finally:
        manager.pm.unregister(listener)
        get_openlineage_listener.cache_clear()
        monkeypatch.undo()
        for function in cached:
            function.cache_clear()


def test_the_openlineage_listener_emits_the_facets_on_complete(
    airflow_db, dtcal_emulator, hook, tmp_path, openlineage_to_file
):
    from tests.airflow_runs import run_dag

    hook.create_event(TEAM[0], meeting("Planning", 10))
    destination = tmp_path / "export"
    result = run_dag(
        daily_export(), logical_date=MONDAY_RUN, conf={"destination": f"file://{destination}", "team": TEAM}
    )
    assert result.state == "success", result.task_states
    events = [json.loads(line) for line in openlineage_to_file.read_text().splitlines()]
    [complete] = [
        e
        for e in events
        if e.get("eventType") == "COMPLETE"
        and e["job"]["name"] == "dingtalk_daily_export.export_team_calendars"
    ]
    host = dtcal_emulator.base_url.split("://", 1)[1].rstrip("/")
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [
        (f"dingtalk://{host}", f"{owner}/primary") for owner in TEAM
    ]
    outputs = {d["name"]: d for d in complete["outputs"]}
    assert sorted(outputs) == [f"{destination}/{t}" for t in ("attendees", "calendars", "events")]
    events_table = outputs[f"{destination}/events"]
    assert events_table["namespace"] == "file"
    assert [f["name"] for f in events_table["facets"]["schema"]["fields"]] == _jsonl_columns(
        destination, "events"
    )
    assert events_table["outputFacets"]["outputStatistics"]["rowCount"] == 3
    # No secret in what is sent.
    text = openlineage_to_file.read_text()
    assert dtcal_emulator.app_secret not in text
