"""The calendar operations. Each handler takes the route's path ids (``user``, ``event``), the query and the
parsed JSON body, runs with ``state.lock`` held, and returns ``(status, payload or None)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_dtcal.testing.emulator import events
from airflow_dtcal.testing.emulator.contract import MAX_ATTENDEES_PER_EVENT, MAX_LIST_SPAN, RESPONSE_STATUSES
from airflow_dtcal.testing.emulator.errors import invalid
from airflow_dtcal.testing.emulator.query import decode_page_token, encode_page_token, parse_bool, parse_int
from airflow_dtcal.testing.emulator.rules import check_attendee_list, event_fields, is_int, parse_instant
from airflow_dtcal.testing.emulator.state import State

Result = tuple[int, Any]


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    return body


def create_event(state: State, p: dict, q: dict, body: Any) -> Result:
    ev = events.create(state, p["user"], _object(body))
    return 200, events.render(state, ev, viewer=p["user"], include_event_config=True)


def get_event(state: State, p: dict, q: dict, body: Any) -> Result:
    max_attendees = parse_int(q, "maxAttendees", 100, 1, 500)
    ev = events.visible(state, p["event"], p["user"])
    return 200, events.render(state, ev, viewer=p["user"], max_attendees=max_attendees)


def _list_window(q: dict) -> tuple[Any, Any]:
    tmin = parse_instant(q["timeMin"], "timeMin") if q.get("timeMin") else None
    tmax = parse_instant(q["timeMax"], "timeMax") if q.get("timeMax") else None
    if tmin is not None and tmax is not None:
        if tmax <= tmin:
            raise invalid("timeMax must be after timeMin")
        if tmax - tmin > MAX_LIST_SPAN:
            raise invalid("The span between timeMin and timeMax must not exceed one year")
    return tmin, tmax


def list_events(state: State, p: dict, q: dict, body: Any) -> Result:
    user = p["user"]
    max_results = parse_int(q, "maxResults", 100, 1, 100)
    max_attendees = parse_int(q, "maxAttendees", 100, 1, 100)
    show_deleted = parse_bool(q, "showDeleted")
    tmin, tmax = _list_window(q)
    since = None
    if q.get("syncToken"):
        payload = decode_page_token(q["syncToken"], "syncToken")
        if payload.get("k") != "sync" or not is_int(payload.get("s")):
            raise invalid("syncToken is not a token this server issued")
        since = payload["s"]
    offset = 0
    if q.get("nextToken"):
        payload = decode_page_token(q["nextToken"], "nextToken")
        if payload.get("k") != "events" or payload.get("u") != user or not is_int(payload.get("o")):
            raise invalid("nextToken is not a token this server issued for this calendar")
        offset = payload["o"]
    matched = []
    for ev in state.events.values():
        if user not in ev["attendees"]:
            continue
        if since is not None:
            if ev["changeSeq"] > since:  # a sync token returns every change, deletions included
                matched.append(ev)
        elif (ev["status"] != "cancelled" or show_deleted) and events.overlaps(ev, tmin, tmax):
            matched.append(ev)
    page = matched[offset : offset + max_results]
    result: dict[str, Any] = {
        "events": [events.render(state, ev, viewer=user, max_attendees=max_attendees) for ev in page]
    }
    if offset + max_results < len(matched):
        result["nextToken"] = encode_page_token({"k": "events", "u": user, "o": offset + max_results})
    else:
        result["syncToken"] = encode_page_token({"k": "sync", "s": state.change_seq})
    return 200, result


def patch_event(state: State, p: dict, q: dict, body: Any) -> Result:
    body = _object(body)
    if body.get("id") is None:
        raise invalid("id is required in the body and must equal the event id in the path")
    if body["id"] != p["event"]:
        raise invalid(f"Body id {body['id']!r} does not match the event id in the path")
    ev = events.owned(state, p["event"], p["user"])
    fields = event_fields(body, ev)
    requested = fields.pop("attendees", None)
    if requested is not None:
        # PUT with attendees replaces the attendee list; the organizer always stays and existing
        # attendees keep their response status.
        new: dict[str, dict] = {ev["organizer"]: ev["attendees"][ev["organizer"]]}
        for att in requested:
            if att["id"] in new:
                continue
            old = ev["attendees"].get(att["id"])
            if old is not None:
                entry = dict(old, isOptional=att["isOptional"])
            else:
                entry = events.new_attendee(state, att["id"], att["isOptional"])
            new[att["id"]] = entry
        ev["attendees"] = new
    ev.update(fields)
    events.touch(state, ev)
    return 200, events.render(state, ev, viewer=p["user"])


def delete_event(state: State, p: dict, q: dict, body: Any) -> Result:
    parse_bool(q, "pushNotification", True)
    ev = events.visible(state, p["event"], p["user"])
    if ev["organizer"] == p["user"]:
        ev["status"] = "cancelled"
    else:
        del ev["attendees"][p["user"]]  # an attendee deleting only removes it from their own calendar
    events.touch(state, ev)
    return 200, None


def add_attendees(state: State, p: dict, q: dict, body: Any) -> Result:
    body = _object(body)
    if body.get("attendeesToAdd") is None:
        raise invalid("attendeesToAdd is required")
    wanted = check_attendee_list(body["attendeesToAdd"], "attendeesToAdd")
    if not wanted:
        raise invalid("attendeesToAdd must contain at least one attendee")
    for flag in ("chatNotification", "pushNotification"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise invalid(f"{flag} must be a boolean")
    ev = events.owned(state, p["event"], p["user"])
    new_ids = {a["id"] for a in wanted if a["id"] not in ev["attendees"]}
    if len(ev["attendees"]) + len(new_ids) > MAX_ATTENDEES_PER_EVENT:
        raise events.too_many_attendees()
    for att in wanted:
        if att["id"] not in ev["attendees"]:
            ev["attendees"][att["id"]] = events.new_attendee(state, att["id"], att["isOptional"])
    if new_ids:
        events.touch(state, ev)
    return 200, None


def list_attendees(state: State, p: dict, q: dict, body: Any) -> Result:
    max_results = parse_int(q, "maxResults", 100, 1, 500)
    offset = 0
    if q.get("nextToken"):
        payload = decode_page_token(q["nextToken"], "nextToken")
        if payload.get("k") != "attendees" or payload.get("e") != p["event"] or not is_int(payload.get("o")):
            raise invalid("nextToken is not a token this server issued for this event")
        offset = payload["o"]
    ev = events.visible(state, p["event"], p["user"])
    attendees = list(ev["attendees"].values())
    page = attendees[offset : offset + max_results]
    result: dict[str, Any] = {"attendees": [events.render_attendee(state, a, p["user"]) for a in page]}
    if offset + max_results < len(attendees):
        result["nextToken"] = encode_page_token(
            {"k": "attendees", "e": p["event"], "o": offset + max_results}
        )
    return 200, result


def remove_attendees(state: State, p: dict, q: dict, body: Any) -> Result:
    body = _object(body)
    if body.get("attendeesToRemove") is None:
        raise invalid("attendeesToRemove is required")
    unwanted = check_attendee_list(body["attendeesToRemove"], "attendeesToRemove")
    if not unwanted:
        raise invalid("attendeesToRemove must contain at least one attendee")
    ev = events.owned(state, p["event"], p["user"])
    if any(a["id"] == ev["organizer"] for a in unwanted):
        raise invalid("attendeesToRemove must not contain the organizer")
    removed = [a for a in unwanted if ev["attendees"].pop(a["id"], None) is not None]
    if removed:
        events.touch(state, ev)
    return 200, None


def respond_event(state: State, p: dict, q: dict, body: Any) -> Result:
    body = _object(body)
    status = body.get("responseStatus")
    if status is None:
        raise invalid("responseStatus is required")
    if status not in RESPONSE_STATUSES:
        raise invalid(f"responseStatus must be one of {', '.join(RESPONSE_STATUSES)}, got {status!r}")
    ev = events.visible(state, p["event"], p["user"])
    ev["attendees"][p["user"]]["responseStatus"] = status
    events.touch(state, ev)
    return 200, None


HANDLERS: dict[str, Callable[[State, dict, dict, Any], Result]] = {
    "CreateEvent": create_event,
    "GetEvent": get_event,
    "ListEvents": list_events,
    "PatchEvent": patch_event,
    "DeleteEvent": delete_event,
    "AddAttendee": add_attendees,
    "ListAttendees": list_attendees,
    "RemoveAttendee": remove_attendees,
    "RespondEvent": respond_event,
}
