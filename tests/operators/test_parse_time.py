"""Arguments known when the DAG is parsed are checked then: a DAG with a bad one fails to import, naming the
argument and the rule (Airflow shows it as an import error), instead of failing its runs one by one. A
template or an XComArg is checked in execute(), once rendered, by the same rule.

Before, a bad ``state_key`` of a watch was refused only on the triggerer, and every other argument only when
a task ran.
"""

from __future__ import annotations

import textwrap

import pytest

from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
from tests.airflow_compat import dag_bag_class
from tests.helpers import task_context

HEADER = """
import pendulum
from airflow.sdk import DAG
from airflow_dtcal.operators.events import EnsureEventOperator, SyncEventsOperator
from airflow_dtcal.transfers.export import ExportEventsOperator

with DAG("dtcal_parse_{name}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
"""

BAD_DAGS = {
    "export_destination": (
        "ExportEventsOperator(task_id='x', calendars=['u1'], destination='data/lake')",
        "destination: is a relative path",
    ),
    "export_mode": (
        "ExportEventsOperator(task_id='x', calendars=['u1'], destination='/data/lake', mode='delta')",
        "mode: must be 'full' or 'incremental'",
    ),
    "ensure_key": (
        "EnsureEventOperator(task_id='x', organizer_id='o', dedup_key=' ', summary='s', start='2026-03-09')",
        "dedup_key: must be a non-empty string",
    ),
    "ensure_id_type": (
        "EnsureEventOperator(task_id='x', organizer_id='o', dedup_key='k', summary='s', start='2026-03-09', "
        "id_type='email')",
        "id_type: must be one of",
    ),
    "sync_scope": (
        "SyncEventsOperator(task_id='x', organizer_id='o', events=[], scope='', time_min='2026-04-01', "
        "time_max='2026-05-01')",
        "scope: must be a non-empty string",
    ),
    "sync_attendees": (
        "SyncEventsOperator(task_id='x', organizer_id='o', scope='s', time_min='2026-04-01', "
        "time_max='2026-05-01', events=[{'key': 'a', 'attendees': ['u1', 42]}])",
        r"events[0].attendees[1]",
    ),
}


def parse(tmp_path, name: str, body: str) -> dict:
    path = tmp_path / f"dtcal_parse_{name}.py"
    path.write_text(HEADER.format(name=name) + textwrap.indent(body, "    ") + "\n")
    return dag_bag_class()(dag_folder=str(path)).import_errors


@pytest.mark.parametrize(("body", "words"), list(BAD_DAGS.values()), ids=list(BAD_DAGS))
def test_a_dag_with_a_bad_literal_argument_fails_to_import_naming_it(tmp_path, body, words):
    errors = parse(tmp_path, "bad", body)
    assert len(errors) == 1, errors
    [message] = errors.values()
    assert "DingTalkInvalidArgumentError" in message and words in message, message


def test_a_watch_with_a_bad_state_key_fails_the_dag_parse_not_the_triggerer(tmp_path):
    body = textwrap.dedent(
        """
        from airflow.sdk import Asset, AssetWatcher
        from airflow_dtcal.triggers.watch import CalendarChangeTrigger

        trigger = CalendarChangeTrigger(calendars=["u1"], source="poll", state_key="ceo watch")
        Asset(name="ceo", uri="dingtalk://calendar/u1", watchers=[AssetWatcher(name="w", trigger=trigger)])
        """
    )
    errors = parse(tmp_path, "watch", body)
    [message] = errors.values()
    assert "state_key: must be 1-250 characters" in message, message


def test_templates_and_xcom_args_are_left_for_the_run(tmp_path):
    body = textwrap.dedent(
        """
        from airflow.sdk import task

        @task
        def key():
            return "k"

        ExportEventsOperator(
            task_id="export", calendars="{{ params.calendars }}", destination="{{ params.lake }}",
            mode="incremental",
        )
        EnsureEventOperator(
            task_id="ensure", organizer_id="{{ params.o }}", dedup_key=key(), summary="s", start="2026-03-09",
        )
        SyncEventsOperator(
            task_id="sync", organizer_id="o", events=[{"key": "{{ params.k }}", "attendees": ["{{ x }}"]}],
            scope="{% if true %}s{% endif %}", time_min="2026-04-01", time_max="2026-05-01",
        )
        """
    )
    assert parse(tmp_path, "templates", body) == {}


def test_the_same_rule_runs_again_on_the_rendered_value(dtcal_emulator):
    from airflow_dtcal.operators.events import EnsureEventOperator

    operator = EnsureEventOperator(
        task_id="ensure", organizer_id="o", dedup_key="{{ params.key }}", summary="s", start="2026-03-09"
    )
    operator.dedup_key = "   "  # what rendering gave
    with pytest.raises(DingTalkInvalidArgumentError, match="^dedup_key: must be a non-empty string"):
        operator.execute(task_context("ensure"))
    assert dtcal_emulator.requests() == []
