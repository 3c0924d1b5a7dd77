"""The calendar operations. Each handler takes the route's path ids (``user``, ``event``), the query and the
parsed JSON body, runs with ``state.lock`` held, and returns ``(status, payload or None)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_dtcal.testing.emulator import calendars, checkins, events, recurrence, rooms, sync_tokens
from airflow_dtcal.testing.emulator.contract import (
    MAX_ATTENDEES_PER_EVENT,
    MAX_LIST_SPAN,
    MAX_SCHEDULE_USERS,
    RESPONSE_STATUSES,
)
from airflow_dtcal.testing.emulator.errors import invalid
from airflow_dtcal.testing.emulator.query import decode_page_token, encode_page_token, parse_bool, parse_int
from airflow_dtcal.testing.emulator.rules import (
    check_attendee_list,
    event_fields,
    id_list,
    is_int,
    parse_instant,
    schedule_window,
)
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
    """Events of the user's calendar; with ``syncToken``, what changed since (see :func:`_list_changes`).

    The last page of a listing without ``timeMax`` carries a ``syncToken``: the change number when the
    listing's first page was served, so a change made while paging shows up in the next delta.
    """
    user, calendar = p["user"], p["calendar"]
    max_results = parse_int(q, "maxResults", 100, 1, 100)
    max_attendees = parse_int(q, "maxAttendees", 100, 1, 100)
    show_deleted = parse_bool(q, "showDeleted")
    cursor = _events_cursor(q, user, calendar)
    if q.get("syncToken") or cursor.get("k") == "delta":
        if q.get("timeMin") or q.get("timeMax"):
            raise invalid("timeMin and timeMax cannot be combined with syncToken (or its nextToken)")
        return 200, _list_changes(state, q, cursor, user, calendar, max_results, max_attendees, show_deleted)
    tmin, tmax = _list_window(q)
    offset, upto = cursor.get("o", 0), cursor.get("m", state.change_seq)
    matched = [
        ev
        for ev in state.events.values()
        if user in ev["attendees"]
        and (ev["status"] != "cancelled" or show_deleted)
        and events.overlaps(ev, tmin, tmax)
    ]
    page = matched[offset : offset + max_results]
    result: dict[str, Any] = {
        "events": [events.render(state, ev, viewer=user, max_attendees=max_attendees) for ev in page]
    }
    if offset + max_results < len(matched):
        token = {"k": "events", "u": user, "c": calendar, "o": offset + max_results, "m": upto}
        result["nextToken"] = encode_page_token(token)
    elif tmax is None:
        result["syncToken"] = sync_tokens.issue(state, user, calendar, upto)
    return 200, result


def _events_cursor(q: dict, user: str, calendar: str) -> dict:
    """The checked payload of ListEvents' ``nextToken`` (``{}`` without one)."""
    if not q.get("nextToken"):
        return {}
    payload = decode_page_token(q["nextToken"], "nextToken")
    kind = payload.get("k")
    numbers = ("o", "m") if kind == "events" else ("a", "m")
    if (
        kind not in ("events", "delta")
        or payload.get("u") != user
        or payload.get("c") != calendar
        or not all(is_int(payload.get(name)) for name in numbers)
    ):
        raise invalid("nextToken is not a token this server issued for this calendar")
    if kind == "events" and q.get("syncToken"):
        raise invalid("nextToken belongs to a listing without syncToken; do not send both")
    return payload


def _list_changes(
    state: State,
    q: dict,
    cursor: dict,
    user: str,
    calendar: str,
    max_results: int,
    max_attendees: int,
    show_deleted: bool,
) -> dict:
    """The user's events changed after the sync token's change number, in change order.

    Cancelled or deleted events, and events the user left or was removed from, come back with status
    ``cancelled`` only when ``showDeleted`` is true. Pages follow change numbers (``nextToken``), up to
    the change number of the first page; the last page carries the next ``syncToken``.
    """
    if cursor:
        if cursor.get("g") != state.sync_generation:  # sync tokens were expired while paging
            raise sync_tokens.invalid_sync_token()
        after, upto = cursor["a"], cursor["m"]
    else:
        after, upto = sync_tokens.check(state, q["syncToken"], user, calendar), state.change_seq
    changed = [ev for ev in state.events.values() if after < ev.get("userSeq", {}).get(user, 0) <= upto]
    changed.sort(key=lambda ev: ev["userSeq"][user])
    entries: list[tuple[int, dict]] = []
    for ev in changed:
        gone = ev["status"] == "cancelled" or user not in ev["attendees"]
        if gone and not show_deleted:
            continue
        if len(entries) == max_results:
            token = {"k": "delta", "u": user, "c": calendar, "a": entries[-1][0], "m": upto}
            token["g"] = state.sync_generation
            return {"events": [out for _seq, out in entries], "nextToken": encode_page_token(token)}
        out = events.render(state, ev, viewer=user, max_attendees=max_attendees)
        if gone:
            out["status"] = "cancelled"
        entries.append((ev["userSeq"][user], out))
    return {
        "events": [out for _seq, out in entries],
        "syncToken": sync_tokens.issue(state, user, calendar, upto),
    }


def list_events_view(state: State, p: dict, q: dict, body: Any) -> Result:
    """Every occurrence in the window, recurring series expanded, ordered by start; cancelled ones left out.

    An occurrence of a series has the id ``<series id>_<its original start, UTC, yyyyMMddTHHmmssZ>``, the
    series' id as ``seriesMasterId`` and its original start as ``originStart``.
    """
    user = p["user"]

    def occurrences(tmin: Any, tmax: Any) -> list[tuple[Any, Any, dict]]:
        found: list[tuple[Any, Any, dict]] = []
        for ev in state.events.values():
            if user in ev["attendees"] and ev["status"] != "cancelled":
                found.extend((start, end, ev) for start, end in recurrence.occurrences(ev, tmin, tmax))
        return sorted(found, key=lambda item: (item[0], item[2]["seq"]))

    return _occurrence_page(state, user, q, {"k": "view", "u": user}, occurrences)


def list_instances(state: State, p: dict, q: dict, body: Any) -> Result:
    """The occurrences of one event in the window, in start order, shaped like ListEventsView's items.

    Undocumented, chosen here: timeMin and timeMax are required (a series may have no end), at most a
    year apart; maxResults 1-100 (default 100); an event that does not recur is its own only instance.
    """
    ev = events.visible(state, p["event"], p["user"])

    def occurrences(tmin: Any, tmax: Any) -> list[tuple[Any, Any, dict]]:
        if ev["status"] == "cancelled":
            return []
        return [(start, end, ev) for start, end in recurrence.occurrences(ev, tmin, tmax)]

    return _occurrence_page(state, p["user"], q, {"k": "instances", "e": ev["id"]}, occurrences)


def _occurrence_page(
    state: State, viewer: str, q: dict, scope: dict, occurrences: Callable[[Any, Any], list]
) -> Result:
    """One page of occurrences in the query's window (both ends required, at most a year apart;
    ``maxResults`` and ``maxAttendees`` 1-100); ``scope`` goes into the page token and must come back."""
    max_results = parse_int(q, "maxResults", 100, 1, 100)
    max_attendees = parse_int(q, "maxAttendees", 100, 1, 100)
    if not q.get("timeMin") or not q.get("timeMax"):
        raise invalid("timeMin and timeMax are required: recurring events are expanded within them")
    tmin, tmax = _list_window(q)
    offset = 0
    if q.get("nextToken"):
        payload = decode_page_token(q["nextToken"], "nextToken")
        if any(payload.get(k) != v for k, v in scope.items()) or not is_int(payload.get("o")):
            raise invalid("nextToken is not a token this server issued for this listing")
        offset = payload["o"]
    found = occurrences(tmin, tmax)
    page = found[offset : offset + max_results]
    result: dict[str, Any] = {
        "events": [_occurrence(state, ev, start, end, viewer, max_attendees) for start, end, ev in page]
    }
    if offset + max_results < len(found):
        result["nextToken"] = encode_page_token({**scope, "o": offset + max_results})
    return 200, result


def _occurrence(state: State, ev: dict, start: Any, end: Any, viewer: str, max_attendees: int) -> dict:
    out = events.render(state, ev, viewer=viewer, max_attendees=max_attendees)
    if ev.get("recurrence") is None:
        return out
    out["seriesMasterId"] = ev["id"]
    out["id"] = f"{ev['id']}_{start.strftime('%Y%m%dT%H%M%SZ')}"
    origin = events.wire_time(ev, start)
    out["originStart"] = {"dateTime": origin.get("dateTime") or origin["date"]}
    out["start"], out["end"] = events.wire_time(ev, start), events.wire_time(ev, end)
    return out


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
        removed = [uid for uid in ev["attendees"] if uid not in new]
        ev["attendees"] = new
    else:
        removed = []
    ev.update(fields)
    events.touch(state, ev, "update", p["user"], removed)
    return 200, events.render(state, ev, viewer=p["user"])


def delete_event(state: State, p: dict, q: dict, body: Any) -> Result:
    parse_bool(q, "pushNotification", True)
    ev = events.visible(state, p["event"], p["user"])
    if ev["organizer"] == p["user"]:
        ev["status"] = "cancelled"
        ev["deleted"] = True
        events.touch(state, ev, "delete", p["user"])
    else:
        del ev["attendees"][p["user"]]  # an attendee deleting only removes it from their own calendar
        events.touch(state, ev, "update", p["user"], removed=[p["user"]])
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
        events.touch(state, ev, "update", p["user"])
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
        events.touch(state, ev, "update", p["user"], removed=[a["id"] for a in removed])
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
    events.touch(state, ev, "update", p["user"])
    return 200, None


def cancel_event(state: State, p: dict, q: dict, body: Any) -> Result:
    """The organizer cancels the event for everyone; it stays visible to GetEvent with status cancelled.

    ``scope`` is passed by the SDK but its values are not documented: any value cancels the whole event.
    """
    ev = events.owned(state, p["event"], p["user"], cancelled_ok=True)
    if ev["status"] != "cancelled":
        ev["status"] = "cancelled"
        events.touch(state, ev, "cancel", p["user"])
    return 200, {"result": True}


def transfer_event(state: State, p: dict, q: dict, body: Any) -> Result:
    """The organizer hands the event to ``newOrganizerId``; ``isExitCalendar`` also removes the old one."""
    body = _object(body)
    new = body.get("newOrganizerId")
    if not isinstance(new, str) or not new.strip():
        raise invalid("newOrganizerId is required and must be a non-empty string (a unionId)")
    for flag in ("isExitCalendar", "needNotifyViaO2O"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise invalid(f"{flag} must be a boolean")
    ev = events.owned(state, p["event"], p["user"])
    if new == p["user"]:
        raise invalid("newOrganizerId is already the organizer of the event")
    old = ev["organizer"]
    entry = ev["attendees"].get(new) or events.new_attendee(state, new)
    entry = dict(entry, responseStatus="accepted", isOptional=False)
    rest = {uid: att for uid, att in ev["attendees"].items() if uid not in (new, old)}
    attendees = {new: entry}
    if not body.get("isExitCalendar"):
        attendees[old] = ev["attendees"][old]
    attendees.update(rest)
    if len(attendees) > MAX_ATTENDEES_PER_EVENT:
        raise events.too_many_attendees()
    ev["attendees"] = attendees
    ev["organizer"] = new
    events.touch(state, ev, "update", p["user"], removed=[old] if old not in attendees else [])
    return 200, {"result": True}


def get_schedule(state: State, p: dict, q: dict, body: Any) -> Result:
    """Busy times per person: their live events (declined ones left out), recurring series expanded.

    BUSY where the person organizes or accepted, TENTATIVE where they have not answered or answered
    tentative; events with ``freeBusyStatus`` ``free`` are left out. ``error`` is never set here.
    """
    body = _object(body)
    users = id_list(body, "userIds", MAX_SCHEDULE_USERS)
    start, end = schedule_window(body)
    info = []
    for user in users:
        items = []
        for ev in state.events.values():
            att = ev["attendees"].get(user)
            if att is None or ev["status"] == "cancelled" or att["responseStatus"] == "declined":
                continue
            if ev.get("freeBusyStatus") == "free":
                continue
            busy = ev["organizer"] == user or att["responseStatus"] == "accepted"
            for s, e in recurrence.occurrences(ev, start, end):
                item: dict[str, Any] = {"status": "BUSY" if busy else "TENTATIVE"}
                item["start"], item["end"] = events.wire_time(ev, s), events.wire_time(ev, e)
                items.append((s, item))
        items.sort(key=lambda pair: pair[0])
        info.append({"userId": user, "scheduleItems": [item for _s, item in items]})
    return 200, {"scheduleInformation": info}


#: Legacy ids per ConvertLegacyEventId call (undocumented; the emulator's choice, the client's batch size).
MAX_LEGACY_IDS = 100


def convert_legacy_event_id(state: State, p: dict, q: dict, body: Any) -> Result:
    """``legacyEventIdMap`` for the legacy ids of events ``user`` can see; other ids are left out
    (undocumented, chosen here: no error for an id that converts to nothing)."""
    ids = _object(body).get("legacyEventIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise invalid("legacyEventIds is required: a non-empty list of legacy event ids")
    if len(ids) > MAX_LEGACY_IDS:
        raise invalid(f"legacyEventIds must name at most {MAX_LEGACY_IDS} ids")
    by_legacy = {
        ev["_legacyId"]: ev["id"]
        for ev in state.events.values()
        if ev.get("_legacyId") and not ev["deleted"] and p["user"] in ev["attendees"]
    }
    return 200, {"legacyEventIdMap": {i: by_legacy[i] for i in ids if i in by_legacy}}


HANDLERS: dict[str, Callable[[State, dict, dict, Any], Result]] = {
    "ConvertLegacyEventId": convert_legacy_event_id,
    "CreateEvent": create_event,
    "GetEvent": get_event,
    "ListEvents": list_events,
    "ListEventsView": list_events_view,
    "ListInstances": list_instances,
    "PatchEvent": patch_event,
    "DeleteEvent": delete_event,
    "AddAttendee": add_attendees,
    "ListAttendees": list_attendees,
    "RemoveAttendee": remove_attendees,
    "RespondEvent": respond_event,
    "CancelEvent": cancel_event,
    "TransferEvent": transfer_event,
    "GetSchedule": get_schedule,
    **rooms.HANDLERS,
    **checkins.HANDLERS,
    **calendars.HANDLERS,
}
