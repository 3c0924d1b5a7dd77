"""Meeting rooms: a seedable room list, rooms on events (at most 5, no double booking) and room busy times.

Each handler runs with ``state.lock`` held, like those in ``operations.py``. A room must be seeded before an
event can book it (``seed_rooms``); an event keeps its rooms as ``ev["rooms"]`` (roomId -> wire entry).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow_dtcal.testing.emulator import events, recurrence
from airflow_dtcal.testing.emulator.contract import MAX_ROOM_SCHEDULE_SPAN, MAX_ROOMS_PER_EVENT
from airflow_dtcal.testing.emulator.errors import ApiError, invalid
from airflow_dtcal.testing.emulator.query import parse_int
from airflow_dtcal.testing.emulator.rules import id_list, schedule_window
from airflow_dtcal.testing.emulator.state import State

Result = tuple[int, Any]
#: How far ahead two recurring bookings of one room are compared.
CONFLICT_HORIZON = dt.timedelta(days=366)


def not_available(room: str) -> ApiError:
    return ApiError(400, "meetingRoomNotAvailable", f"Meeting room {room!r} is already booked at that time.")


def seed_rooms(state: State, rooms: Any) -> list[str]:
    """Add rooms (``[{roomId, roomName, roomCapacity}]`` or ``{"rooms": [...]}``); ``ValueError`` names the bad one."""
    if isinstance(rooms, dict):
        rooms = rooms.get("rooms", [])
    if not isinstance(rooms, list):
        raise ValueError("rooms must be a list of rooms or {'rooms': [...]}")
    ids = []
    with state.lock:
        for i, room in enumerate(rooms):
            if not isinstance(room, dict) or not isinstance(room.get("roomId"), str) or not room["roomId"]:
                raise ValueError(f"rooms[{i}].roomId is required (a string)")
            capacity = room.get("roomCapacity", 10)
            if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
                raise ValueError(f"rooms[{i}].roomCapacity must be an integer >= 1")
            name = room.get("roomName", room["roomId"])
            if not isinstance(name, str):
                raise ValueError(f"rooms[{i}].roomName must be a string")
            state.rooms[room["roomId"]] = {
                "roomId": room["roomId"],
                "roomName": name,
                "roomCapacity": capacity,
            }
            ids.append(room["roomId"])
    return ids


def list_seeded(state: State) -> list[dict]:
    with state.lock:
        return [dict(room) for room in state.rooms.values()]


def _room_list(body: Any, name: str) -> list[str]:
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    items = body.get(name)
    if not isinstance(items, list) or not items:
        raise invalid(f"{name} is required: a non-empty array of {{roomId}} objects")
    out = []
    for i, item in enumerate(items):
        room = item.get("roomId") if isinstance(item, dict) else None
        if not isinstance(room, str) or not room.strip():
            raise invalid(f"{name}[{i}].roomId must be a non-empty string")
        out.append(room)
    return out


def _span(ev: dict) -> list[tuple[dt.datetime, dt.datetime]]:
    return recurrence.occurrences(ev, ev["_start"], ev["_start"] + CONFLICT_HORIZON)


def _clash(a: list, b: list) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def add_meeting_rooms(state: State, p: dict, q: dict, body: Any) -> Result:
    wanted = _room_list(body, "meetingRoomsToAdd")
    ev = events.owned(state, p["event"], p["user"])
    rooms = ev.setdefault("rooms", {})
    new = [r for r in dict.fromkeys(wanted) if r not in rooms]
    for room in new:
        if room not in state.rooms:
            raise invalid(f"Meeting room {room!r} does not exist")
    if len(rooms) + len(new) > MAX_ROOMS_PER_EVENT:
        raise invalid(f"An event may book at most {MAX_ROOMS_PER_EVENT} meeting rooms")
    mine = _span(ev) if new else []
    for other in state.events.values():
        if other is ev or other["status"] == "cancelled" or not set(new) & set(other.get("rooms", {})):
            continue
        if _clash(mine, _span(other)):
            raise not_available(sorted(set(new) & set(other["rooms"]))[0])
    for room in new:
        rooms[room] = {
            "roomId": room,
            "responseStatus": "accepted",
            "displayName": state.rooms[room]["roomName"],
        }
    if new:
        events.touch(state, ev, "update", p["user"])
    return 200, {"result": True}


def remove_meeting_rooms(state: State, p: dict, q: dict, body: Any) -> Result:
    unwanted = _room_list(body, "meetingRoomsToRemove")
    ev = events.owned(state, p["event"], p["user"])
    rooms = ev.setdefault("rooms", {})
    removed = [r for r in unwanted if rooms.pop(r, None) is not None]
    if removed:
        events.touch(state, ev, "update", p["user"])
    return 200, {"result": True}


def get_meeting_rooms_schedule(state: State, p: dict, q: dict, body: Any) -> Result:
    """Busy times per room: every live booking's occurrences in the window, with eventId and organizer."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    room_ids = id_list(body, "roomIds", 100)
    start, end = schedule_window(body)
    if end - start > MAX_ROOM_SCHEDULE_SPAN:
        raise invalid("The span between startTime and endTime must not exceed 90 days")
    info: list[dict[str, Any]] = []
    for room in room_ids:
        if room not in state.rooms:
            info.append({"roomId": room, "error": "roomNotExist", "scheduleItems": []})
            continue
        items = []
        for ev in state.events.values():
            if ev["status"] == "cancelled" or room not in ev.get("rooms", {}):
                continue
            for s, e in recurrence.occurrences(ev, start, end):
                item = {"status": "BUSY", "eventId": ev["id"], "organizer": {"id": ev["organizer"]}}
                item["start"], item["end"] = events.wire_time(ev, s), events.wire_time(ev, e)
                items.append((s, item))
        items.sort(key=lambda pair: pair[0])
        info.append({"roomId": room, "scheduleItems": [item for _s, item in items]})
    return 200, {"scheduleInformation": info}


def query_room_list(state: State, p: dict, q: dict, body: Any) -> Result:
    """``GET /v1.0/rooms/meetingRoomLists?unionId=&maxResults=&nextToken=`` (a numeric offset)."""
    if not q.get("unionId"):
        raise invalid("unionId is required")
    size = parse_int(q, "maxResults", 20, 1, 100)
    offset = parse_int(q, "nextToken", 0, 0, 10**9)
    rooms = list(state.rooms.values())
    page = rooms[offset : offset + size]
    more = offset + size < len(rooms)
    result: dict[str, Any] = {"result": [dict(r, roomStatus=1) for r in page], "hasMore": more}
    if more:
        result["nextToken"] = offset + size
    return 200, result


#: A room's answers to a booking (GetEvent's meetingRooms[].responseStatus; tentative: pending approval).
ROOM_RESPONSES = ("accepted", "declined", "tentative")


def meeting_room_respond(state: State, p: dict, q: dict, body: Any) -> Result:
    """Undocumented, chosen here: the organizer answers for a room the event booked (404 otherwise)."""
    if not isinstance(body, dict) or body.get("responseStatus") not in ROOM_RESPONSES:
        raise invalid(f"responseStatus is required and must be one of {', '.join(ROOM_RESPONSES)}")
    ev = events.owned(state, p["event"], p["user"])
    room = ev.get("rooms", {}).get(p["room"])
    if room is None:
        raise ApiError(404, "meetingRoomNotExist", f"The event has not booked meeting room {p['room']!r}")
    if room["responseStatus"] != body["responseStatus"]:
        room["responseStatus"] = body["responseStatus"]
        events.touch(state, ev, "update", p["user"])
    return 200, {"result": True}


HANDLERS = {
    "MeetingRoomRespond": meeting_room_respond,
    "AddMeetingRooms": add_meeting_rooms,
    "RemoveMeetingRooms": remove_meeting_rooms,
    "GetMeetingRoomsSchedule": get_meeting_rooms_schedule,
    "QueryMeetingRoomList": query_room_list,
}
