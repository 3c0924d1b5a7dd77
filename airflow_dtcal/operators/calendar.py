"""Operators for DingTalk Calendar events and attendees.

Importing this module is cheap (the scheduler does it on every DAG parse): the hook, ``requests`` and
``tenacity`` are imported only when a task runs. Every argument a DAG author would template is a template
field, stored unchanged; it is validated and converted in ``execute()``, before any request, and a bad value
raises :class:`~airflow_dtcal.exceptions.DingTalkInvalidArgumentError` naming the argument (Airflow does
not retry it).

A cleared or retried task re-establishes the state it describes:

* ``CreateEventOperator`` sends an ``x-client-token`` derived from the DAG id, task id, run id, map index and
  payload, the same on every try, so a retry after a lost reply does not create a second event (DingTalk
  keeps the token for a day). On a second or later try it checks the event it got back still exists and is
  not cancelled; if it was deleted meanwhile (create -> delete -> clear), it creates a new one.
* Add, remove, respond and delete are idempotent in DingTalk itself, so their key also includes the try
  number: a cleared task really sends them again instead of getting a remembered answer.

Pass ``client_token`` to choose your own key.

People are unionIds by default. ``id_type="userId"`` (or ``"mobile"``) takes the org userIds (or mobile
numbers) a data team holds instead, for every argument that names people, or per argument with a dict;
they are resolved to unionIds in ``execute()`` before anything is written, and an unknown or departed
person fails the task naming them (``on_unknown="skip"`` leaves them out of attendee lists instead). See
:class:`~airflow_dtcal.operators.base.DingTalkCalendarBaseOperator`. Return values name people by unionId.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal import payloads
from airflow_dtcal.exceptions import invalid_arguments as _arguments
from airflow_dtcal.operators.base import (
    EVENT_ID_HINT,
    AttendeeSetOperator,
    DingTalkCalendarBaseOperator,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook


class CreateEventOperator(DingTalkCalendarBaseOperator):
    """Create an event in the organizer's calendar and return its event id (the XCom return value).

    :param organizer_id: the organizer, whose calendar holds the event: a unionId, or see ``id_type``.
        (templated)
    :param summary: title, 1 to 2,048 characters. (templated)
    :param start: pendulum/datetime, date, or ISO-8601 string, e.g. ``"{{ data_interval_end }}"``. (templated)
    :param end: same types; required for timed events. For all-day events it is the *last day* (inclusive,
        default ``start``): DingTalk's exclusive end date is computed for you. (templated)
    :param all_day: all-day event; inferred from ``start`` being a date when not given.
    :param timezone: IANA zone the event is shown in (e.g. ``Asia/Shanghai``); naive date-times are read in it.
        Default: the values' own named zone, else the DAG's time zone. (templated)
    :param description: up to 5,000 characters. (templated)
    :param attendees: ids (unionIds, or see ``id_type``) or ``{"id", "isOptional"}`` dicts (an upstream
        XComArg works). Over 500 are added in chunks after the create. (templated)
    :param location: a display name. (templated)
    :param reminders: minutes before the start (``[15, 60]``); ``[]`` for none; default DingTalk's 15. (templated)
    :param recurrence: a dict from :class:`airflow_dtcal.payloads.Recurrence` (``Recurrence.weekly("monday",
        count=10)``) or the wire format. (templated)
    :param online_meeting: attach a DingTalk video meeting.
    :param chat_notification: send attendees a 1:1 chat notice (DingTalk's default when None).
    :param push_notification: send attendees a pop-up notice (DingTalk's default when None).
    :param extra_fields: other wire-format CreateEvent fields (``uiConfigs``, ``richTextDescription``...).
    :param id_type: ``"unionId"`` (default), ``"userId"`` or ``"mobile"`` for ``organizer_id`` and
        ``attendees``, or a dict per argument. :param on_unknown: ``"fail"`` (default) or ``"skip"``.
    """

    template_fields: Sequence[str] = (
        "organizer_id",
        "summary",
        "start",
        "end",
        "timezone",
        "description",
        "attendees",
        "location",
        "reminders",
        "recurrence",
        "extra_fields",
        "calendar_id",
        "client_token",
    )
    template_fields_renderers = {"description": "md", "recurrence": "json", "extra_fields": "json"}

    def __init__(
        self,
        *,
        organizer_id: str,
        summary: str,
        start: Any,
        end: Any = None,
        all_day: bool | None = None,
        timezone: str | None = None,
        description: str | None = None,
        attendees: Any = None,
        location: str | None = None,
        reminders: Any = None,
        recurrence: Any = None,
        online_meeting: bool = False,
        chat_notification: bool | None = None,
        push_notification: bool | None = None,
        extra_fields: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.summary = summary
        self.start = start
        self.end = end
        self.all_day = all_day
        self.timezone = timezone
        self.description = description
        self.attendees = attendees
        self.location = location
        self.reminders = reminders
        self.recurrence = recurrence
        self.online_meeting = online_meeting
        self.chat_notification = chat_notification
        self.push_notification = push_notification
        self.extra_fields = extra_fields

    def build_event(self, context: Context) -> dict:
        """The CreateEvent body from the rendered arguments (raises before any request on a bad value)."""
        dag = context.get("dag") if hasattr(context, "get") else None
        dag_zone = getattr(getattr(dag, "timezone", None), "name", None)
        return payloads.build_event(
            summary=self.summary,
            start=self.start,
            end=self.end,
            all_day=self.all_day,
            timezone=self.timezone or None,
            default_timezone=dag_zone if isinstance(dag_zone, str) and dag_zone[:1] not in "+-" else None,
            description=self.description,
            attendees=self.attendees,
            location=self.location,
            reminders=self.reminders,
            recurrence=self.recurrence,
            online_meeting=self.online_meeting,
            chat_notification=self.chat_notification,
            push_notification=self.push_notification,
            extra_fields=self.extra_fields,
        )

    def run(self, context: Context) -> str:
        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            calendar = self._calendar()
            event = self.build_event(context)
        organizer, event = self._resolve_event_people(context, organizer, event)
        with _arguments():
            token = self._client_token(context, "CreateEvent", [organizer, calendar, event])
        hook = self.get_hook()
        created = hook.create_event(organizer, event, calendar_id=calendar, client_token=token)
        if (getattr(context["ti"], "try_number", 1) or 1) > 1 and self._gone(
            hook, organizer, created["id"], calendar
        ):
            self.log.info(
                "Event %s from an earlier try was deleted or cancelled; creating a new one", created["id"]
            )
            fresh = payloads.derive_client_token(token, "after", created["id"])
            created = hook.create_event(organizer, event, calendar_id=calendar, client_token=fresh)
        when = event["start"].get("dateTime") or event["start"].get("date")
        # The summary and description are not logged: a rendered template may hold anything.
        self.log.info(
            "Created DingTalk event %s at %s for organizer %s with %d attendees",
            created["id"],
            when,
            organizer,
            len(event.get("attendees") or []),
        )
        return created["id"]

    def _resolve_event_people(self, context: Context, organizer: str, event: dict) -> tuple[str, dict]:
        """The organizer and the event's attendees as unionIds (see ``id_type``)."""
        attendees = event.get("attendees") or []
        union_ids = self._union_ids(
            context,
            {"organizer_id": [organizer], "attendees": [a["id"] for a in attendees]},
            single=("organizer_id",),
        )
        invited = [
            {**a, "id": union_ids["attendees"][a["id"]]}
            for a in attendees
            if a["id"] in union_ids["attendees"]
        ]
        event = {k: v for k, v in event.items() if k != "attendees"}
        if invited:
            event["attendees"] = invited
        return union_ids["organizer_id"][organizer], event

    @staticmethod
    def _gone(hook: DingTalkCalendarHook, organizer: str, event_id: str, calendar: str) -> bool:
        """Whether an event an earlier try created (DingTalk replays its answer) was deleted or cancelled."""
        from airflow_dtcal.exceptions import DingTalkNotFoundError

        try:
            return hook.get_event(organizer, event_id, calendar_id=calendar).get("status") == "cancelled"
        except DingTalkNotFoundError:
            return True


class AddAttendeesOperator(AttendeeSetOperator):
    """Add attendees to an event (500 per call, idempotent); returns the ids added.

    :param organizer_id: the event's organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event, e.g. ``create.output``. (templated)
    :param attendees: ids (unionIds, or see ``id_type``) or ``{"id", "isOptional"}`` dicts, at most 5,000.
        (templated)
    :param chat_notification: send a 1:1 chat notice. :param push_notification: send a pop-up notice.
    :param id_type: ``"unionId"`` (default), ``"userId"`` or ``"mobile"`` for ``organizer_id`` and
        ``attendees``, or a dict per argument. :param on_unknown: ``"fail"`` (default) or ``"skip"``.
    """

    def run(self, context: Context) -> list[str]:
        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            event_id = payloads.require_id(self.event_id, "event_id", hint=EVENT_ID_HINT)
            calendar = self._calendar()
            attendees = payloads.normalize_attendees(self.attendees)
            self._check_flags("chat_notification", "push_notification")
        organizer, attendees = self._resolve_attendee_set(context, organizer, attendees)
        if not attendees:
            self.log.info("Nobody left to add to event %s", event_id)
            return []
        with _arguments():
            token = self._client_token(
                context, "AddAttendee", [organizer, calendar, event_id, attendees], per_try=True
            )
        self.get_hook().add_attendees(
            organizer,
            event_id,
            attendees,
            calendar_id=calendar,
            chat_notification=self.chat_notification,
            push_notification=self.push_notification,
            client_token=token,
        )
        return [a["id"] for a in attendees]


class ListAttendeesOperator(DingTalkCalendarBaseOperator):
    """Return every attendee of an event (all pages) as ``{id, displayName, responseStatus, ...}`` dicts.

    :param user_id: the organizer or an attendee: a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param response_status: keep only attendees with this response (e.g. ``accepted``). (templated)
    :param id_type: ``"unionId"`` (default), ``"userId"`` or ``"mobile"`` for ``user_id``.
    """

    template_fields: Sequence[str] = ("user_id", "event_id", "response_status", "calendar_id")

    def __init__(
        self, *, user_id: str, event_id: str, response_status: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.user_id = user_id
        self.event_id = event_id
        self.response_status = response_status

    def run(self, context: Context) -> list[dict]:
        with _arguments():
            user = payloads.require_id(self.user_id, "user_id")
            event_id = payloads.require_id(self.event_id, "event_id", hint=EVENT_ID_HINT)
            calendar = self._calendar()
            wanted = self.response_status or None
            if wanted is not None:
                payloads.validate_response_status(wanted)
        user = self._union_ids(context, {"user_id": [user]}, single=("user_id",))["user_id"][user]
        attendees = [
            a
            for a in self.get_hook().iter_attendees(user, event_id, calendar_id=calendar)
            if wanted is None or a.get("responseStatus") == wanted
        ]
        counts: dict[str, int] = {}
        for attendee in attendees:
            counts[attendee.get("responseStatus", "unknown")] = (
                counts.get(attendee.get("responseStatus", "unknown"), 0) + 1
            )
        self.log.info("Event %s has %d attendees: %s", event_id, len(attendees), counts)
        return attendees


class RespondEventOperator(DingTalkCalendarBaseOperator):
    """Set an attendee's response to an event: needsAction, accepted, declined or tentative.

    :param attendee_id: the attendee who responds: a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param response_status: the response. (templated)
    :param id_type: ``"unionId"`` (default), ``"userId"`` or ``"mobile"`` for ``attendee_id``.
    """

    template_fields: Sequence[str] = (
        "attendee_id",
        "event_id",
        "response_status",
        "calendar_id",
        "client_token",
    )

    def __init__(self, *, attendee_id: str, event_id: str, response_status: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attendee_id = attendee_id
        self.event_id = event_id
        self.response_status = response_status

    def run(self, context: Context) -> dict:
        with _arguments():
            attendee = payloads.require_id(self.attendee_id, "attendee_id")
            event_id = payloads.require_id(self.event_id, "event_id", hint=EVENT_ID_HINT)
            calendar = self._calendar()
            status = payloads.validate_response_status(self.response_status)
        attendee = self._union_ids(context, {"attendee_id": [attendee]}, single=("attendee_id",))[
            "attendee_id"
        ][attendee]
        with _arguments():
            token = self._client_token(
                context, "RespondEvent", [attendee, calendar, event_id, status], per_try=True
            )
        self.get_hook().respond_event(attendee, event_id, status, calendar_id=calendar, client_token=token)
        self.log.info("Attendee %s responded %s to event %s", attendee, status, event_id)
        return {"id": attendee, "responseStatus": status}


class RemoveAttendeesOperator(DingTalkCalendarBaseOperator):
    """Remove attendees from an event (500 per call, idempotent); returns the ids removed.

    :param organizer_id: the event's organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param attendee_ids: the people to remove: unionIds, or see ``id_type``. (templated)
    :param id_type: ``"unionId"`` (default), ``"userId"`` or ``"mobile"`` for ``organizer_id`` and
        ``attendee_ids``, or a dict per argument. :param on_unknown: ``"fail"`` (default) or ``"skip"``.
    """

    template_fields: Sequence[str] = (
        "organizer_id",
        "event_id",
        "attendee_ids",
        "calendar_id",
        "client_token",
    )

    def __init__(self, *, organizer_id: str, event_id: str, attendee_ids: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.attendee_ids = attendee_ids

    def run(self, context: Context) -> list[str]:
        with _arguments():
            organizer = payloads.require_id(self.organizer_id, "organizer_id")
            event_id = payloads.require_id(self.event_id, "event_id", hint=EVENT_ID_HINT)
            calendar = self._calendar()
            ids = payloads.normalize_attendee_ids(self.attendee_ids)
        union_ids = self._union_ids(
            context, {"organizer_id": [organizer], "attendee_ids": ids}, single=("organizer_id",)
        )
        organizer = union_ids["organizer_id"][organizer]
        ids = [union_ids["attendee_ids"][i] for i in ids if i in union_ids["attendee_ids"]]
        if not ids:
            self.log.info("Nobody left to remove from event %s", event_id)
            return []
        with _arguments():
            if organizer in ids:
                raise payloads.InvalidArgumentError(
                    "attendee_ids", f"includes the organizer {organizer!r}, who cannot be removed"
                )
            token = self._client_token(
                context, "RemoveAttendee", [organizer, calendar, event_id, ids], per_try=True
            )
        self.get_hook().remove_attendees(organizer, event_id, ids, calendar_id=calendar, client_token=token)
        return ids


class DeleteEventOperator(DingTalkCalendarBaseOperator):
    """Delete an event: for everyone when ``user_id`` is the organizer, else from that attendee's calendar.

    :param user_id: the organizer (or an attendee): a unionId, or see ``id_type``. (templated)
    :param event_id: the event. (templated)
    :param push_notification: notify attendees (DingTalk's default when None).
    :param ignore_missing: succeed when the event is already gone.
    :param id_type: ``"unionId"`` (default), ``"userId"`` or ``"mobile"`` for ``user_id``.
    """

    template_fields: Sequence[str] = ("user_id", "event_id", "calendar_id", "client_token")

    def __init__(
        self,
        *,
        user_id: str,
        event_id: str,
        push_notification: bool | None = None,
        ignore_missing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user_id = user_id
        self.event_id = event_id
        self.push_notification = push_notification
        self.ignore_missing = ignore_missing

    def run(self, context: Context) -> None:
        from airflow_dtcal.exceptions import DingTalkNotFoundError

        with _arguments():
            user = payloads.require_id(self.user_id, "user_id")
            event_id = payloads.require_id(self.event_id, "event_id", hint=EVENT_ID_HINT)
            calendar = self._calendar()
        user = self._union_ids(context, {"user_id": [user]}, single=("user_id",))["user_id"][user]
        with _arguments():
            token = self._client_token(context, "DeleteEvent", [user, calendar, event_id], per_try=True)
        try:
            self.get_hook().delete_event(
                user,
                event_id,
                calendar_id=calendar,
                push_notification=self.push_notification,
                client_token=token,
            )
        except DingTalkNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("Event %s was already gone", event_id)
            return
        self.log.info("Deleted event %s as %s", event_id, user)


def __getattr__(name: str) -> Any:
    """``SyncAttendeesOperator`` lives in :mod:`airflow_dtcal.operators.sync`; import it from here too, lazily."""
    if name == "SyncAttendeesOperator":
        from airflow_dtcal.operators.sync import SyncAttendeesOperator

        return SyncAttendeesOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
