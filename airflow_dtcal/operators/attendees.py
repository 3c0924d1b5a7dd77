"""Operators for an event's attendees: add, remove, make equal to a set, list, and respond.

Importing this module is cheap (the scheduler does it on every DAG parse): the hook and the payload builders
are imported only when a task runs. Arguments are template fields stored unchanged and checked in
``execute()``, before any request. People are unionIds, or see ``id_type`` (resolved to unionIds before
anything is written; :class:`~airflow_dtcal.operators.base.DingTalkCalendarBaseOperator`); return values
name people by unionId. Add, remove and respond are idempotent in DingTalk, so their idempotency keys
include the try number: a cleared task really sends them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal.operators.arguments import ATTENDEES, IDS, ONE
from airflow_dtcal.operators.base import (
    DingTalkCalendarBaseOperator,
    Execution,
    calls_for_people,
    check_flags,
)

if TYPE_CHECKING:
    from airflow.sdk import XComArg

__all__ = [
    "AddAttendeesOperator",
    "ListAttendeesOperator",
    "RemoveAttendeesOperator",
    "RespondEventOperator",
    "SyncAttendeesOperator",
]


class _AttendeeSetOperator(DingTalkCalendarBaseOperator):
    """The arguments of the operators that send a set of attendees (add, sync)."""

    template_fields: Sequence[str] = (
        "organizer_id",
        "event_id",
        "attendees",
        "calendar_id",
        "client_token",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        organizer_id: str | XComArg,
        event_id: str | XComArg,
        attendees: Any,
        chat_notification: bool | None = None,
        push_notification: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.attendees = attendees
        self.chat_notification = chat_notification
        self.push_notification = push_notification

    def check(self, ex: Execution) -> None:
        check_flags(self, "chat_notification", "push_notification")


class AddAttendeesOperator(_AttendeeSetOperator):
    """Add attendees to an event (500 per call, idempotent); returns the ids added.

    :param organizer_id: the event's organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event, e.g. ``create.output``. (templated)
    :param attendees: ids (unionIds, or see ``id_type``) or ``{"id", "isOptional"}`` dicts, at most 5,000.
        (templated)
    :param chat_notification: send a 1:1 chat notice. :param push_notification: send a pop-up notice.
    :param id_type: for ``organizer_id`` and ``attendees``. :param on_unknown: for ``attendees``.
    """

    people = {"organizer_id": ONE, "attendees": ATTENDEES}
    event_ids = ("event_id",)
    writes = ("AddAttendee",)

    def expected_calls(self, ex: Execution) -> int:
        return calls_for_people(len(ex.attendees))

    def run(self, ex: Execution) -> list[str]:
        organizer, event_id, calendar, attendees = ex.organizer_id, ex.event_id, ex.calendar_id, ex.attendees
        if not attendees:
            self.log.info("Nobody left to add to event %s", event_id)
            return []
        ex.hook.add_attendees(
            organizer,
            event_id,
            attendees,
            calendar_id=calendar,
            chat_notification=self.chat_notification,
            push_notification=self.push_notification,
            client_token=ex.token("AddAttendee", [organizer, calendar, event_id, attendees]),
        )
        return [a["id"] for a in attendees]


class SyncAttendeesOperator(_AttendeeSetOperator):
    """Bring an event's attendees in line with ``attendees``: add who is missing, remove who is extra.

    The current attendees are listed first (all pages), so only the difference is sent: removals, then
    additions (removing first keeps a busy event under DingTalk's 5,000-attendee limit), each in calls of at
    most 500 with their own idempotency key. A second run with the same set sends nothing. The organizer is
    never removed, whether or not they are in ``attendees``. Returns ``{"added": [ids], "removed": [ids],
    "unchanged": n}`` where ``unchanged`` counts the attendees (organizer excluded) that were already there.

    ``isOptional`` applies to attendees this task adds; an attendee already invited keeps their current flag
    (DingTalk has no call to change it without removing them, which would lose their response).

    :param organizer_id: the event's organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event, e.g. ``create.output``. (templated)
    :param attendees: the desired attendees: ids (unionIds, or see ``id_type``) or ``{"id", "isOptional"}``
        dicts, at most 5,000; an upstream XComArg works. An empty list removes everyone but the organizer.
        With ``on_unknown="skip"``, people who cannot be resolved (who left the organisation, say) are not
        wanted, so they are removed if they are attendees. (templated)
    :param chat_notification: send added attendees a 1:1 chat notice (DingTalk's default when None).
    :param push_notification: send added attendees a pop-up notice (DingTalk's default when None).
    :param id_type: for ``organizer_id`` and ``attendees``. :param on_unknown: for ``attendees``.
    """

    people = {"organizer_id": ONE, "attendees": ATTENDEES(allow_empty=True)}
    event_ids = ("event_id",)
    writes = ("RemoveAttendee", "AddAttendee")

    def run(self, ex: Execution) -> dict[str, Any]:
        organizer, event_id, calendar, desired = ex.organizer_id, ex.event_id, ex.calendar_id, ex.attendees
        hook = ex.hook
        current = [
            a["id"]
            for a in hook.iter_attendees(organizer, event_id, calendar_id=calendar)
            if isinstance(a.get("id"), str)
        ]
        present = set(current)
        wanted = {a["id"] for a in desired}
        to_add = [a for a in desired if a["id"] not in present and a["id"] != organizer]
        to_remove = [i for i in current if i not in wanted and i != organizer]
        unchanged = sum(1 for i in current if i in wanted and i != organizer)
        if not to_add and not to_remove:
            self.log.info("Event %s already has the %d wanted attendees; nothing to do", event_id, unchanged)
            return {"added": [], "removed": [], "unchanged": unchanged}
        if to_remove:
            hook.remove_attendees(
                organizer,
                event_id,
                to_remove,
                calendar_id=calendar,
                client_token=ex.token("RemoveAttendee", [organizer, calendar, event_id, sorted(to_remove)]),
            )
        if to_add:
            hook.add_attendees(
                organizer,
                event_id,
                to_add,
                calendar_id=calendar,
                chat_notification=self.chat_notification,
                push_notification=self.push_notification,
                client_token=ex.token(
                    "AddAttendee", [organizer, calendar, event_id, sorted(a["id"] for a in to_add)]
                ),
            )
        self.log.info(
            "Synced the attendees of event %s: %d added, %d removed, %d unchanged",
            event_id,
            len(to_add),
            len(to_remove),
            unchanged,
        )
        return {"added": [a["id"] for a in to_add], "removed": to_remove, "unchanged": unchanged}


class RemoveAttendeesOperator(DingTalkCalendarBaseOperator):
    """Remove attendees from an event (500 per call, idempotent); returns the ids removed.

    :param organizer_id: the event's organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param attendee_ids: the people to remove: unionIds, or see ``id_type``. (templated)
    :param id_type: for ``organizer_id`` and ``attendee_ids``. :param on_unknown: for ``attendee_ids``.
    """

    people = {"organizer_id": ONE, "attendee_ids": IDS}

    def expected_calls(self, ex: Execution) -> int:
        return calls_for_people(len(ex.attendee_ids))

    event_ids = ("event_id",)
    writes = ("RemoveAttendee",)
    template_fields: Sequence[str] = (
        "organizer_id",
        "event_id",
        "attendee_ids",
        "calendar_id",
        "client_token",
        "dingtalk_conn_id",
    )

    def __init__(
        self, *, organizer_id: str | XComArg, event_id: str | XComArg, attendee_ids: Any, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.attendee_ids = attendee_ids

    def run(self, ex: Execution) -> list[str]:
        from airflow_dtcal.exceptions import DingTalkInvalidArgumentError

        organizer, event_id, calendar, ids = ex.organizer_id, ex.event_id, ex.calendar_id, ex.attendee_ids
        if not ids:
            self.log.info("Nobody left to remove from event %s", event_id)
            return []
        if organizer in ids:
            raise DingTalkInvalidArgumentError(
                "attendee_ids", f"includes the organizer {organizer!r}, who cannot be removed"
            )
        ex.hook.remove_attendees(
            organizer,
            event_id,
            ids,
            calendar_id=calendar,
            client_token=ex.token("RemoveAttendee", [organizer, calendar, event_id, ids]),
        )
        return ids


class ListAttendeesOperator(DingTalkCalendarBaseOperator):
    """Return every attendee of an event (all pages) as ``{id, displayName, responseStatus, ...}`` dicts.

    :param user_id: the organizer or an attendee: a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param response_status: keep only attendees with this response (e.g. ``accepted``). (templated)
    """

    people = {"user_id": ONE}
    event_ids = ("event_id",)
    template_fields: Sequence[str] = (
        "user_id",
        "event_id",
        "response_status",
        "calendar_id",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        user_id: str | XComArg,
        event_id: str | XComArg,
        response_status: str | XComArg | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user_id = user_id
        self.event_id = event_id
        self.response_status = response_status

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.core.ids import validate_response_status

        wanted = self.response_status or None
        return {"wanted": None if wanted is None else validate_response_status(wanted)}

    def run(self, ex: Execution) -> list[dict]:
        attendees = [
            a
            for a in ex.hook.iter_attendees(ex.user_id, ex.event_id, calendar_id=ex.calendar_id)
            if ex.wanted is None or a.get("responseStatus") == ex.wanted
        ]
        counts: dict[str, int] = {}
        for attendee in attendees:
            status = attendee.get("responseStatus", "unknown")
            counts[status] = counts.get(status, 0) + 1
        self.log.info("Event %s has %d attendees: %s", ex.event_id, len(attendees), counts)
        return attendees


class RespondEventOperator(DingTalkCalendarBaseOperator):
    """Set an attendee's response to an event: needsAction, accepted, declined or tentative.

    :param attendee_id: the attendee who responds: a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param response_status: the response. (templated)
    """

    people = {"attendee_id": ONE}
    event_ids = ("event_id",)
    writes = ("RespondEvent",)
    template_fields: Sequence[str] = (
        "attendee_id",
        "event_id",
        "response_status",
        "calendar_id",
        "client_token",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        attendee_id: str | XComArg,
        event_id: str | XComArg,
        response_status: str | XComArg,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.attendee_id = attendee_id
        self.event_id = event_id
        self.response_status = response_status

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.core.ids import validate_response_status

        return {"status": validate_response_status(self.response_status)}

    def run(self, ex: Execution) -> dict:
        attendee, event_id, calendar, status = ex.attendee_id, ex.event_id, ex.calendar_id, ex.status
        ex.hook.respond_event(
            attendee,
            event_id,
            status,
            calendar_id=calendar,
            client_token=ex.token("RespondEvent", [attendee, calendar, event_id, status]),
        )
        self.log.info("Attendee %s responded %s to event %s", attendee, status, event_id)
        return {"id": attendee, "responseStatus": status}
