"""Every operator that names people, and the sensor, honours ``id_type`` on the wire.

Each one runs with ``id_type="userId"`` and with ``id_type="mobile"`` against the emulator over real HTTP;
the emulator's request log must show no raw userId or mobile in any calendar request (path, query or body),
only unionIds, and the return value must name people by unionId too. The operators are found by walking
the package (every calendar operator that declares people), so a new operator without a scenario here fails
:func:`test_every_operator_naming_people_has_a_scenario`.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pendulum
import pytest

from airflow_dtcal.get_provider_info import get_provider_info
from airflow_dtcal.operators.base import DingTalkCalendarBaseOperator
from airflow_dtcal.planning import people as people_cache
from tests.airflow_compat import TaskDeferred
from tests.helpers import task_context

# name: (userId, unionId, mobile); no id is a part of another, so a substring search cannot mistake them.
PEOPLE = {
    "lead": ("emp-lead-01", "uid-lead-7f3a", "13900000001"),
    "ada": ("emp-ada-02", "uid-ada-7f3a", "13900000002"),
    "bo": ("emp-bo-03", "uid-bo-7f3a", "13900000003"),
    "cy": ("emp-cy-04", "uid-cy-7f3a", "13900000004"),
}
COLUMN = {"userId": 0, "unionId": 1, "mobile": 2}
TZ = "Asia/Shanghai"
DAY = pendulum.datetime(2026, 3, 9, tz=TZ)  # a Monday
WINDOW = {"time_min": DAY.isoformat(), "time_max": DAY.add(days=7).isoformat()}


def union(name: str) -> str:
    return PEOPLE[name][1]


@dataclass
class Scenario:
    """How to run one operator: its class path, its arguments (``who`` names a person in the id type under
    test; ``event`` is an event of the lead with Ada (accepted) and Bo invited) and what must happen first."""

    path: str
    arguments: Callable[[Callable[[str], str], str, Any], dict]
    prepare: Callable[[Any, str], None] = lambda emulator, event: None
    deferred: bool = False  # the sensor in deferrable mode: execute() raises TaskDeferred


def _book_room(emulator, event):
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    DingTalkCalendarHook().add_meeting_rooms(union("lead"), event, ["room-1"])


#: The subscribed calendar a scenario works on (made by its ``prepare``).
TEAM: dict[str, str] = {}


def _team_calendar() -> None:
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    scope = {"unionIds": [union("ada"), union("bo")]}
    TEAM["id"] = DingTalkCalendarHook().create_subscribed_calendar(
        union("lead"), "Team", subscribe_scope=scope
    )


SCENARIOS = {
    "CreateEventOperator": Scenario(
        "airflow_dtcal.operators.events.CreateEventOperator",
        lambda who, event, tmp: {
            "organizer_id": who("lead"),
            "attendees": [who("ada"), {"id": who("bo"), "isOptional": True}],
            "summary": "Planning",
            "start": DAY.set(hour=10),
            "end": DAY.set(hour=11),
        },
    ),
    "EnsureEventOperator": Scenario(
        "airflow_dtcal.operators.events.EnsureEventOperator",
        lambda who, event, tmp: {
            "organizer_id": who("lead"),
            "attendees": [who("ada")],
            "summary": "Weekly",
            "start": DAY.set(hour=14),
            "end": DAY.set(hour=15),
            "dedup_key": "weekly-2026-W11",
        },
    ),
    "UpdateEventOperator": Scenario(
        "airflow_dtcal.operators.events.UpdateEventOperator",
        lambda who, event, tmp: {"organizer_id": who("lead"), "event_id": event, "summary": "Renamed"},
    ),
    "CancelEventOperator": Scenario(
        "airflow_dtcal.operators.events.CancelEventOperator",
        lambda who, event, tmp: {"organizer_id": who("lead"), "event_id": event},
    ),
    "TransferEventOperator": Scenario(
        "airflow_dtcal.operators.events.TransferEventOperator",
        lambda who, event, tmp: {
            "organizer_id": who("lead"),
            "event_id": event,
            "new_organizer_id": who("cy"),
        },
    ),
    "DeleteEventOperator": Scenario(
        "airflow_dtcal.operators.events.DeleteEventOperator",
        lambda who, event, tmp: {"user_id": who("lead"), "event_id": event},
    ),
    "ListEventsOperator": Scenario(
        "airflow_dtcal.operators.events.ListEventsOperator",
        lambda who, event, tmp: {"user_id": who("lead"), **WINDOW},
    ),
    "ListInstancesOperator": Scenario(
        "airflow_dtcal.operators.events.ListInstancesOperator",
        lambda who, event, tmp: {"user_id": who("lead"), "event_id": event, **WINDOW},
    ),
    "SyncEventsOperator": Scenario(
        "airflow_dtcal.operators.events.SyncEventsOperator",
        lambda who, event, tmp: {
            "organizer_id": who("lead"),
            "scope": "trainings",
            "events": [
                {
                    "key": "k1",
                    "summary": "Training",
                    "start": DAY.set(hour=16),
                    "end": DAY.set(hour=17),
                    "attendees": [who("ada"), {"id": who("cy"), "isOptional": True}],
                }
            ],
            **WINDOW,
        },
    ),
    "AddAttendeesOperator": Scenario(
        "airflow_dtcal.operators.attendees.AddAttendeesOperator",
        lambda who, event, tmp: {"organizer_id": who("lead"), "event_id": event, "attendees": [who("cy")]},
    ),
    "RemoveAttendeesOperator": Scenario(
        "airflow_dtcal.operators.attendees.RemoveAttendeesOperator",
        lambda who, event, tmp: {"organizer_id": who("lead"), "event_id": event, "attendee_ids": [who("bo")]},
    ),
    "SyncAttendeesOperator": Scenario(
        "airflow_dtcal.operators.attendees.SyncAttendeesOperator",
        lambda who, event, tmp: {
            "organizer_id": who("lead"),
            "event_id": event,
            "attendees": [who("ada"), who("cy")],
        },
    ),
    "ListAttendeesOperator": Scenario(
        "airflow_dtcal.operators.attendees.ListAttendeesOperator",
        lambda who, event, tmp: {"user_id": who("ada"), "event_id": event},
    ),
    "RespondEventOperator": Scenario(
        "airflow_dtcal.operators.attendees.RespondEventOperator",
        lambda who, event, tmp: {"attendee_id": who("bo"), "event_id": event, "response_status": "accepted"},
    ),
    "AddMeetingRoomsOperator": Scenario(
        "airflow_dtcal.operators.rooms.AddMeetingRoomsOperator",
        lambda who, event, tmp: {"organizer_id": who("lead"), "event_id": event, "room_ids": ["room-1"]},
    ),
    "RemoveMeetingRoomsOperator": Scenario(
        "airflow_dtcal.operators.rooms.RemoveMeetingRoomsOperator",
        lambda who, event, tmp: {"organizer_id": who("lead"), "event_id": event, "room_ids": ["room-1"]},
        prepare=_book_room,
    ),
    "FindSlotOperator": Scenario(
        "airflow_dtcal.operators.slots.FindSlotOperator",
        lambda who, event, tmp: {
            "organizer_id": who("lead"),
            "attendees": [who("ada"), who("bo")],
            "required_attendees": [who("ada")],
            "window_start": DAY,
            "window_end": DAY.add(days=2),
            "duration_minutes": 30,
            "timezone": TZ,
            "rooms": ["room-1"],
        },
    ),
    "ExportEventsOperator": Scenario(
        "airflow_dtcal.transfers.export.ExportEventsOperator",
        lambda who, event, tmp: {
            "calendars": [who("lead"), who("ada")],
            "destination": f"file://{tmp}",
            "check_ins": True,
            "time_min": DAY,
            "time_max": DAY.add(days=1),
        },
    ),
    "AttendeeResponseSensor": Scenario(
        "airflow_dtcal.sensors.attendees.AttendeeResponseSensor",
        lambda who, event, tmp: {
            "organizer_id": who("lead"),
            "event_id": event,
            "condition": "accepted_by",
            "attendee_ids": [who("ada")],
            "poke_interval": 0.05,
            "timeout": 30,
        },
    ),
    "AttendeeResponseSensor (deferrable)": Scenario(
        "airflow_dtcal.sensors.attendees.AttendeeResponseSensor",
        lambda who, event, tmp: {
            "organizer_id": who("lead"),
            "event_id": event,
            "condition": "accepted_by",
            "attendee_ids": [who("bo")],
            "deferrable": True,
            "poke_interval": 60,
            "timeout": 600,
        },
        deferred=True,
    ),
    "DingTalkCalendarApiOperator": Scenario(
        "airflow_dtcal.operators.calendars.DingTalkCalendarApiOperator",
        lambda who, event, tmp: {"operation": "ListAcls", "user_id": who("lead")},
    ),
    "SyncCalendarAclOperator": Scenario(
        "airflow_dtcal.operators.calendars.SyncCalendarAclOperator",
        lambda who, event, tmp: {
            "owner_id": who("lead"),
            "sharing": {who("ada"): "reader", who("bo"): "writer"},
        },
    ),
    "EnsureSubscribedCalendarOperator": Scenario(
        "airflow_dtcal.operators.calendars.EnsureSubscribedCalendarOperator",
        lambda who, event, tmp: {
            "owner_id": who("lead"),
            "key": "team",
            "name": "Team",
            "managers": [who("ada")],
            "members": [who("bo")],
        },
    ),
    "UpdateSubscribedCalendarOperator": Scenario(
        "airflow_dtcal.operators.calendars.UpdateSubscribedCalendarOperator",
        lambda who, event, tmp: {"owner_id": who("lead"), "calendar_id": TEAM["id"], "managers": [who("cy")]},
        prepare=lambda emulator, event: _team_calendar(),
    ),
    "DeleteSubscribedCalendarOperator": Scenario(
        "airflow_dtcal.operators.calendars.DeleteSubscribedCalendarOperator",
        lambda who, event, tmp: {"owner_id": who("lead"), "calendar_id": TEAM["id"]},
        prepare=lambda emulator, event: _team_calendar(),
    ),
    "SubscribeCalendarOperator": Scenario(
        "airflow_dtcal.operators.calendars.SubscribeCalendarOperator",
        lambda who, event, tmp: {"calendar_id": TEAM["id"], "subscribers": [who("ada"), who("bo")]},
        prepare=lambda emulator, event: _team_calendar(),
    ),
    "UnsubscribeCalendarOperator": Scenario(
        "airflow_dtcal.operators.calendars.UnsubscribeCalendarOperator",
        lambda who, event, tmp: {"calendar_id": TEAM["id"], "subscribers": [who("ada")]},
        prepare=lambda emulator, event: _team_calendar(),
    ),
}


def operators_naming_people() -> set[str]:
    """Every calendar operator of the package (from the provider info) that declares people."""
    info = get_provider_info()
    modules = [m for entry in info["operators"] for m in entry["python-modules"]]
    modules += [entry["python-module"] for entry in info["transfers"]]
    found = set()
    for name in modules:
        for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if (
                issubclass(cls, DingTalkCalendarBaseOperator)
                and cls.people
                and not cls.__name__.startswith("_")
            ):
                found.add(cls.__name__)
    return found


def test_every_operator_naming_people_has_a_scenario():
    found = operators_naming_people()
    assert len(found) >= 17
    missing = sorted(found - {name.split(" ")[0] for name in SCENARIOS})
    assert not missing, f"operators naming people with no id_type scenario here: {missing}"


@pytest.fixture
def world(dtcal_emulator):
    """The directory (userIds, unionIds, mobiles), a room, and an event of the lead's."""
    people_cache.clear_directory_cache()
    dtcal_emulator.seed_users(
        [{"userId": u, "unionId": n, "mobile": m, "name": name} for name, (u, n, m) in PEOPLE.items()]
    )
    dtcal_emulator.seed_rooms([{"roomId": "room-1", "roomName": "Room 1"}])
    [event] = dtcal_emulator.seed_events(
        [
            {
                "organizer": union("lead"),
                "summary": "Seeded",
                "start": {"dateTime": DAY.set(hour=12).isoformat(), "timeZone": TZ},
                "end": {"dateTime": DAY.set(hour=13).isoformat(), "timeZone": TZ},
                "attendees": [
                    {"id": union("ada"), "responseStatus": "accepted"},
                    {"id": union("bo"), "responseStatus": "needsAction"},
                ],
            }
        ]
    )
    yield dtcal_emulator, event
    people_cache.clear_directory_cache()


#: The ids that must never reach a calendar request: every userId and mobile (a mobile resolves through a
#: userId, so neither may appear whichever was given).
RAW_IDS = [ids[COLUMN["userId"]] for ids in PEOPLE.values()] + [
    ids[COLUMN["mobile"]] for ids in PEOPLE.values()
]


@pytest.mark.parametrize("id_type", ["userId", "mobile"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_people_reach_the_wire_as_union_ids(world, tmp_path, name, id_type):
    emulator, event = world
    scenario = SCENARIOS[name]
    module, cls_name = scenario.path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), cls_name)
    scenario.prepare(emulator, event)
    seen_before = len(emulator.requests())

    def who(person: str) -> str:
        return PEOPLE[person][COLUMN[id_type]]

    operator = cls(task_id="task", id_type=id_type, **scenario.arguments(who, event, tmp_path))
    context = task_context("task")
    context.update({"data_interval_start": DAY, "data_interval_end": DAY.add(days=1)})
    context["ti"].xcom_push = lambda key, value: None
    if scenario.deferred:
        with pytest.raises(TaskDeferred) as deferred:
            operator.execute(context)
        trigger = deferred.value.trigger
        result: Any = {"organizer_id": trigger.organizer_id, "attendee_ids": trigger.attendee_ids}
        assert result == {"organizer_id": union("lead"), "attendee_ids": [union("bo")]}
    else:
        result = operator.execute(context)

    requests = emulator.requests()[seen_before:]
    lookups = [r for r in requests if r["path"].startswith("/topapi/")]
    calendar = [r for r in requests if r["path"].startswith("/v1.0/calendar/")]
    assert lookups, "the ids were not looked up"
    assert calendar, "no calendar request was sent"
    wire = json.dumps([[r["path"], r["query"], r["body"]] for r in calendar], ensure_ascii=False)
    leaked = [raw for raw in RAW_IDS if raw in wire]
    assert not leaked, f"{name} sent raw ids {leaked} in: {wire[:2000]}"
    # The organizer's (or the listing user's) unionId is what the calendar paths carry.
    assert any(f"/users/{union(p)}/" in r["path"] for r in calendar for p in PEOPLE), wire[:2000]
    returned = json.dumps(result, default=str, ensure_ascii=False)
    assert not [raw for raw in RAW_IDS if raw in returned], returned[:2000]
