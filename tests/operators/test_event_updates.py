"""UpdateEventOperator, CancelEventOperator and TransferEventOperator over real HTTP (emulator), called
directly and in a real Airflow run (dag.test())."""

from __future__ import annotations

import pendulum
import pytest

from airflow_dtcal.exceptions import DingTalkNotFoundError, DingTalkPermissionError
from airflow_dtcal.hooks.calendar import DingTalkCalendarHook
from airflow_dtcal.operators.events import CancelEventOperator, TransferEventOperator, UpdateEventOperator
from tests.airflow_runs import run_dag
from tests.helpers import ROOT, load_module, task_context

ORG = "org"
TZ = "Asia/Shanghai"


@pytest.fixture
def event_id(dtcal_emulator) -> str:
    body = {
        "summary": "Review",
        "start": {"dateTime": "2026-03-09T16:00:00+08:00", "timeZone": TZ},
        "end": {"dateTime": "2026-03-09T17:00:00+08:00", "timeZone": TZ},
        "attendees": [{"id": "alice", "isOptional": False}],
        "reminders": [{"method": "dingtalk", "minutes": 15}],
    }
    return DingTalkCalendarHook().create_event(ORG, body)["id"]


def patches(emulator) -> list[dict]:
    return [r["body"] for r in emulator.requests() if r["operation"] == "PatchEvent"]


def test_update_sends_only_what_changed_and_nothing_the_second_time(dtcal_emulator, event_id):
    def update(try_number: int = 1):
        return UpdateEventOperator(
            task_id="update",
            organizer_id=ORG,
            event_id=event_id,
            summary="Review",
            start="2026-03-10T09:00:00",  # naive: read in the event's zone; keeps the hour-long length
            reminders=[15],
            location="Lotus",
        ).execute(task_context("update", try_number=try_number))

    assert update() == {"id": event_id, "changed": ["end", "isAllDay", "location", "start"]}
    [sent] = patches(dtcal_emulator)
    assert sent == {
        "start": {"dateTime": "2026-03-10T09:00:00+08:00", "timeZone": TZ},
        "end": {"dateTime": "2026-03-10T10:00:00+08:00", "timeZone": TZ},
        "isAllDay": False,
        "location": {"displayName": "Lotus"},
        "id": event_id,
    }
    assert update() == {"id": event_id, "changed": []}
    assert len(patches(dtcal_emulator)) == 1
    # Someone moves it back by hand; the cleared task moves it again (its write is sent, not replayed).
    DingTalkCalendarHook().patch_event(
        ORG,
        event_id,
        {
            "start": {"dateTime": "2026-03-09T16:00:00+08:00", "timeZone": TZ},
            "end": {"dateTime": "2026-03-09T17:00:00+08:00", "timeZone": TZ},
        },
    )
    assert update(try_number=2)["changed"] == ["end", "isAllDay", "start"]
    assert dtcal_emulator.event(event_id)["start"]["dateTime"] == "2026-03-10T09:00:00+08:00"


@pytest.mark.parametrize("written", ["offset-less", "with offset"])
def test_update_keeps_instants_whichever_form_dingtalk_holds(dtcal_emulator, written):
    """An event whose dateTime DingTalk holds without an offset (read in its timeZone): a timezone-only
    update shows the same instants in the new zone; the same instants written in another offset send no
    PatchEvent. The same with the offset written out."""
    suffix = "" if written == "offset-less" else "+08:00"
    hook = DingTalkCalendarHook()
    event_id = hook.create_event(
        ORG,
        {
            "summary": "Review",
            "start": {"dateTime": f"2026-03-09T16:00:00{suffix}", "timeZone": TZ},
            "end": {"dateTime": f"2026-03-09T17:00:00{suffix}", "timeZone": TZ},
        },
    )["id"]
    assert hook.get_event(ORG, event_id)["start"]["dateTime"] == f"2026-03-09T16:00:00{suffix}"

    def update(**kwargs) -> dict:
        operator = UpdateEventOperator(task_id="update", organizer_id=ORG, event_id=event_id, **kwargs)
        context = task_context("update")
        operator.render_template_fields(context)
        return operator.execute(context)

    def instants() -> tuple[pendulum.DateTime, pendulum.DateTime, str]:
        event = hook.get_event(ORG, event_id)
        start, end = event["start"], event["end"]
        for name, value in (("start", start), ("end", end)):  # read as DingTalk documents, by hand
            assert value["timeZone"] == end["timeZone"], name
        zone = start["timeZone"]
        return (
            pendulum.parse(start["dateTime"], tz=zone).in_timezone("UTC"),
            pendulum.parse(end["dateTime"], tz=zone).in_timezone("UTC"),
            zone,
        )

    eight_utc, nine_utc = pendulum.datetime(2026, 3, 9, 8), pendulum.datetime(2026, 3, 9, 9)
    assert instants() == (eight_utc, nine_utc, TZ)
    # the same instants in other offsets: no PatchEvent
    assert update(start="2026-03-09T08:00:00Z", end="2026-03-09T09:00:00Z") == {"id": event_id, "changed": []}
    assert update(start="2026-03-09T09:00:00+01:00", end="{{ '2026-03-09T17:00:00+08:00' }}")["changed"] == []
    assert update(timezone=TZ)["changed"] == []
    assert patches(dtcal_emulator) == []
    # a timezone-only update: the meeting does not move
    assert update(timezone="Europe/Berlin")["changed"] == ["end", "isAllDay", "start"]
    [sent] = patches(dtcal_emulator)
    assert sent["start"] == {"dateTime": "2026-03-09T09:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert instants() == (eight_utc, nine_utc, "Europe/Berlin")
    assert update(timezone="Europe/Berlin")["changed"] == []
    assert len(patches(dtcal_emulator)) == 1


def test_update_as_an_attendee_is_refused(dtcal_emulator, event_id):
    with pytest.raises(DingTalkPermissionError, match="PatchEvent"):
        UpdateEventOperator(task_id="u", organizer_id="alice", event_id=event_id, summary="Mine").execute(
            task_context("u")
        )
    assert dtcal_emulator.event(event_id)["summary"] == "Review"


def test_cancel_leaves_a_cancelled_event_readable(dtcal_emulator, event_id):
    hook = DingTalkCalendarHook()
    CancelEventOperator(task_id="c", organizer_id=ORG, event_id=event_id).execute(task_context("c"))
    assert hook.get_event("alice", event_id)["status"] == "cancelled"
    CancelEventOperator(task_id="c", organizer_id=ORG, event_id=event_id).execute(
        task_context("c", try_number=2)
    )
    hook.delete_event(ORG, event_id)
    with pytest.raises(DingTalkNotFoundError):
        CancelEventOperator(task_id="c", organizer_id=ORG, event_id=event_id).execute(
            task_context("c", try_number=3)
        )
    CancelEventOperator(task_id="c", organizer_id=ORG, event_id=event_id, ignore_missing=True).execute(
        task_context("c", try_number=4)
    )


def test_transfer_once_even_when_run_again(dtcal_emulator, event_id):
    def transfer(try_number: int = 1) -> str:
        return TransferEventOperator(
            task_id="t", organizer_id=ORG, event_id=event_id, new_organizer_id="alice", exit_calendar=True
        ).execute(task_context("t", try_number=try_number))

    assert transfer() == event_id
    assert dtcal_emulator.event(event_id)["organizer"]["id"] == "alice"
    assert [a["id"] for a in dtcal_emulator.attendees(event_id)] == ["alice"]
    assert transfer(try_number=2) == event_id  # the old organizer could no longer transfer: nothing is sent
    assert dtcal_emulator.stats()["applied"]["TransferEvent"] == 1


def test_async_cancel_and_transfer(dtcal_emulator, event_id):
    import asyncio

    hook = DingTalkCalendarHook()

    async def both():
        await hook.atransfer_event(ORG, event_id, "alice", notify=True)
        await hook.acancel_event("alice", event_id, scope="all")
        await hook.aclose()

    asyncio.run(both())
    event = dtcal_emulator.event(event_id)
    assert event["organizer"]["id"] == "alice" and event["status"] == "cancelled"


def test_lifecycle_flow_runs_in_airflow(airflow_db, dtcal_emulator):
    flow = load_module(ROOT / "tests" / "dags" / "dtcal_lifecycle_flow.py").lifecycle_flow
    result = run_dag(flow, logical_date=pendulum.datetime(2026, 5, 4, 9, tz=TZ))
    assert result.state == "success", result.task_states
    event_id = result.xcom("ensure_event")
    assert result.xcom("reschedule") == {"id": event_id, "changed": ["end", "isAllDay", "location", "start"]}
    assert result.xcom("hand_over") == event_id
    event = dtcal_emulator.event(event_id)
    assert event["start"] == {"dateTime": "2026-05-05T14:00:00+08:00", "timeZone": TZ}
    assert event["end"] == {"dateTime": "2026-05-05T15:00:00+08:00", "timeZone": TZ}
    assert event["organizer"]["id"] == "lead-1" and event["status"] == "cancelled"
    assert "org-1" not in {a["id"] for a in dtcal_emulator.attendees(event_id)}


def test_meeting_details_on_create_and_update(dtcal_emulator):
    """ui_configs and the notification switches on Create and Update; reminders none or a custom list."""
    from airflow_dtcal.exceptions import DingTalkInvalidArgumentError
    from airflow_dtcal.operators.events import CreateEventOperator

    event_id = CreateEventOperator(
        task_id="create",
        organizer_id=ORG,
        summary="Town hall",
        start="2026-03-11T10:00:00+08:00",
        end="2026-03-11T11:00:00+08:00",
        reminders=[],  # none
        online_meeting=True,
        chat_notification=False,
        push_notification=True,
        ui_configs={"comment": "disable", "deleteEventButton": "hide"},
    ).execute(task_context("create"))
    [created] = [r["body"] for r in dtcal_emulator.requests() if r["operation"] == "CreateEvent"]
    assert created["uiConfigs"] == [
        {"uiName": "deleteEventButton", "uiStatus": "hide"},
        {"uiName": "comment", "uiStatus": "disable"},
    ]
    assert created["extra"] == {"noChatNotification": "true", "noPushNotification": "false"}
    assert created["reminders"] == [] and created["onlineMeetingInfo"] == {"type": "dingtalk"}

    def update(**kwargs):
        return UpdateEventOperator(task_id="u", organizer_id=ORG, event_id=event_id, **kwargs).execute(
            task_context("u")
        )

    # The switches alone change nothing, so nothing is sent.
    assert update(chat_notification=False) == {"id": event_id, "changed": []}
    assert update(ui_configs={"comment": "enable"}, reminders=[10, 60], push_notification=False) == {
        "id": event_id,
        "changed": ["extra", "reminders", "uiConfigs"],
    }
    [sent] = patches(dtcal_emulator)
    assert sent["uiConfigs"] == [  # the element not named keeps its state
        {"uiName": "deleteEventButton", "uiStatus": "hide"},
        {"uiName": "comment", "uiStatus": "enable"},
    ]
    assert sent["extra"] == {"noPushNotification": "true"}
    assert update(ui_configs={"deleteEventButton": "hide"}) == {"id": event_id, "changed": []}
    before = len(dtcal_emulator.requests())
    with pytest.raises(DingTalkInvalidArgumentError, match=r"ui_configs\['shareButton'\]: is not one of"):
        update(ui_configs={"shareButton": "hide"})
    with pytest.raises(DingTalkInvalidArgumentError, match=r"ui_configs\['comment'\]: must be one of hide"):
        update(ui_configs={"comment": "off"})
    with pytest.raises(DingTalkInvalidArgumentError, match="online_meeting: .*no documented way to remove"):
        update(online_meeting=False)
    with pytest.raises(DingTalkInvalidArgumentError, match="push_notification: must be true or false"):
        update(summary="x", push_notification="yes")
    assert len(dtcal_emulator.requests()) == before  # refused before any request
