"""SyncAttendeesOperator: make an event's attendee list equal a desired set, touching only the difference.

Importing this module is cheap: the hook and ``requests`` are imported when the task runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_dtcal import payloads
from airflow_dtcal.exceptions import invalid_arguments as _arguments
from airflow_dtcal.operators.base import EVENT_ID_HINT, AttendeeSetOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class SyncAttendeesOperator(AttendeeSetOperator):
    """Bring an event's attendees in line with ``attendees``: add who is missing, remove who is extra.

    The current attendees are listed first (all pages), so only the difference is sent: removals, then
    additions (removing first keeps a busy event under DingTalk's 5,000-attendee limit), each in calls of at
    most 500 with their own idempotency key. A second run with the same set sends nothing. The organizer is
    never removed, whether or not they are in ``attendees``.

    Returns ``{"added": [ids], "removed": [ids], "unchanged": n}`` where ``unchanged`` counts the attendees
    (organizer excluded) that were already there and stay.

    ``isOptional`` applies to attendees this task adds; an attendee already invited keeps their current flag
    (DingTalk has no call to change it without removing them, which would lose their response).

    Idempotency: the ``x-client-token`` of each write is derived like the other operators' (DAG id, task id,
    run id, map index) plus the try number and the difference itself. Re-listing already makes a retried
    task safe, so the key only needs to make the hook's own retries of one call safe; including the try number
    keeps a cleared task from replaying a stale answer DingTalk remembers for a day.

    :param organizer_id: the event's organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event, e.g. ``create.output``. (templated)
    :param attendees: the desired attendees: ids (unionIds, or see ``id_type``) or ``{"id", "isOptional"}``
        dicts, at most 5,000; an upstream XComArg works. An empty list removes everyone but the organizer.
        With ``on_unknown="skip"``, people who cannot be resolved (who left the organisation, say) are not
        wanted, so they are removed if they are attendees. (templated)
    :param chat_notification: send added attendees a 1:1 chat notice (DingTalk's default when None).
    :param push_notification: send added attendees a pop-up notice (DingTalk's default when None).
    :param id_type: ``"unionId"`` (default), ``"userId"`` or ``"mobile"`` for ``organizer_id`` and
        ``attendees``, or a dict per argument. :param on_unknown: ``"fail"`` (default) or ``"skip"``.
    """

    def run(self, context: Context) -> dict[str, Any]:
        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            event_id = payloads.require_id(self.event_id, "event_id", hint=EVENT_ID_HINT)
            calendar = self._calendar()
            desired = payloads.normalize_attendees(self.attendees, "attendees", allow_empty=True)
            self._check_flags("chat_notification", "push_notification")
        organizer, desired = self._resolve_attendee_set(context, organizer, desired)

        hook = self.get_hook()
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

        with _arguments():
            base = self._client_token(
                context,
                "SyncAttendees",
                [
                    organizer,
                    calendar,
                    event_id,
                    sorted(a["id"] for a in to_add),
                    sorted(to_remove),
                ],
                per_try=True,
            )
        if to_remove:
            hook.remove_attendees(
                organizer,
                event_id,
                to_remove,
                calendar_id=calendar,
                client_token=payloads.derive_client_token(base, "RemoveAttendee"),
            )
        if to_add:
            hook.add_attendees(
                organizer,
                event_id,
                to_add,
                calendar_id=calendar,
                chat_notification=self.chat_notification,
                push_notification=self.push_notification,
                client_token=payloads.derive_client_token(base, "AddAttendee"),
            )
        self.log.info(
            "Synced the attendees of event %s: %d added, %d removed, %d unchanged",
            event_id,
            len(to_add),
            len(to_remove),
            unchanged,
        )
        return {"added": [a["id"] for a in to_add], "removed": to_remove, "unchanged": unchanged}
