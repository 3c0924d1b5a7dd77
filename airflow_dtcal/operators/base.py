"""What every DingTalk Calendar operator shares: the connection, the calendar, idempotency keys, the hook.

Importing this module is cheap (the scheduler imports operator modules on every DAG parse): the hook,
``requests`` and ``httpx`` are imported only when a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal import payloads
from airflow_dtcal.compat import BaseOperator
from airflow_dtcal.exceptions import invalid_arguments

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

__all__ = [
    "CALLS_XCOM_KEY",
    "DEFAULT_CONN_ID",
    "EVENT_ID_HINT",
    "UNRESOLVED_XCOM_KEY",
    "AttendeeSetOperator",
    "DingTalkCalendarBaseOperator",
    "invalid_arguments",
    "report_calls",
]

#: The XCom key under which every task pushes the DingTalk calls it spent.
CALLS_XCOM_KEY = "dingtalk_calls"
#: The XCom key under which a task with ``on_unknown="skip"`` pushes the people it left out.
UNRESOLVED_XCOM_KEY = "dingtalk_unresolved"


def report_calls(log: Any, context: Context | None, hook: DingTalkCalendarHook | None, *, push: bool) -> dict:
    """Log the calls a task spent, split by operation, and push them as the ``dingtalk_calls`` XCom.

    ``counted`` is what DingTalk charges against the organisation's monthly quota (5,000 calls a month on
    the standard edition): every calendar request sent, retries included; token fetches are free.
    """
    spent = hook.calls_spent if hook is not None else {}
    report = {
        "by_operation": spent,
        "requests": sum(spent.values()),
        "counted": hook.quota_calls_spent if hook else 0,
    }
    log.info(
        "DingTalk calls spent by this task: %s; %d count toward the monthly quota",
        ", ".join(f"{operation} {count}" for operation, count in sorted(spent.items())) or "none",
        report["counted"],
    )
    ti = context.get("ti") if context is not None else None
    if push and callable(getattr(ti, "xcom_push", None)):
        ti.xcom_push(key=CALLS_XCOM_KEY, value=report)
    return report


DEFAULT_CONN_ID = "dingtalk_calendar_default"
EVENT_ID_HINT = "the upstream task returned no event id (XCom was None)?"


class DingTalkCalendarBaseOperator(BaseOperator):
    """Shared plumbing: the connection, the calendar, the client token and the hook.

    :param dingtalk_conn_id: Airflow connection of type ``dingtalk_calendar``.
    :param calendar_id: DingTalk calendar id; always ``primary`` today. (templated)
    :param client_token: the ``x-client-token`` idempotency key for this task's writes; derived from the
        task instance when not given. (templated)
    :param id_type: how the arguments that name people (organizer, attendees, responder...) name them:
        ``"unionId"`` (default; DingTalk's calendar id, sent as it is), ``"userId"`` (the org's userId, as
        HR rosters hold it) or ``"mobile"``. userIds and mobiles are resolved to unionIds in bulk in
        ``execute()``, before anything is written. A dict gives one per argument, e.g.
        ``{"organizer_id": "unionId", "attendees": "userId"}`` (arguments left out are unionIds).
    :param on_unknown: what to do with a person DingTalk does not know, or who left the organisation:
        ``"fail"`` (default) fails the task before anything is written, naming them; ``"skip"`` leaves them
        out of attendee lists, logs them and pushes them as the ``dingtalk_unresolved`` XCom
        (``{argument: {"unknown": [...], "departed": [...]}}``). A single person (organizer, responder) who
        cannot be resolved always fails the task.

    Subclasses implement :meth:`run`; :meth:`execute` runs it and then logs the DingTalk calls the task spent
    and pushes them as the ``dingtalk_calls`` XCom (see :func:`report_calls`).
    """

    ui_color = "#3296FA"
    ui_fgcolor = "#FFFFFF"

    def __init__(
        self,
        *,
        dingtalk_conn_id: str = DEFAULT_CONN_ID,
        calendar_id: str = "primary",
        client_token: str | None = None,
        id_type: str | Mapping[str, str] = "unionId",
        on_unknown: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dingtalk_conn_id = dingtalk_conn_id
        self.calendar_id = calendar_id
        self.client_token = client_token
        self.id_type = id_type
        self.on_unknown = on_unknown
        self._hook: DingTalkCalendarHook | None = None

    def get_hook(self) -> DingTalkCalendarHook:
        """The task's hook, made on first use in ``execute()`` (never at parse time)."""
        if self._hook is None:
            from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

            self._hook = DingTalkCalendarHook(dingtalk_conn_id=self.dingtalk_conn_id)
        return self._hook

    def execute(self, context: Context) -> Any:
        pushed = False
        try:
            result = self.run(context)
            report_calls(self.log, context, self._hook, push=True)
            pushed = True
            return result
        finally:
            if not pushed:
                report_calls(self.log, context, self._hook, push=False)

    def run(self, context: Context) -> Any:
        """The operator's work; its return value is the task's XCom return value."""
        raise NotImplementedError

    def _calendar(self) -> str:
        return payloads.require_id(self.calendar_id, "calendar_id")

    def _id_types(self, arguments: Sequence[str]) -> dict[str, str]:
        """The id type of each people argument (see ``id_type``), validated."""
        from airflow_dtcal.planning.people import UNION_ID, check_id_type

        if isinstance(self.id_type, Mapping):
            unknown = sorted(set(self.id_type) - set(arguments))
            if unknown:
                raise payloads.InvalidArgumentError(
                    "id_type",
                    f"names {unknown[0]!r}, which is not an argument naming people here "
                    f"(those are {', '.join(arguments)})",
                )
            return {a: check_id_type(self.id_type.get(a, UNION_ID), f"id_type[{a!r}]") for a in arguments}
        check_id_type(self.id_type)
        return dict.fromkeys(arguments, self.id_type)

    def _union_ids(
        self, context: Context, people: Mapping[str, list[str]], *, single: Sequence[str] = ()
    ) -> dict[str, dict[str, str]]:
        """``{argument: {id: unionId}}`` for the arguments naming people, resolved before anything is written.

        Ids of each type are resolved together in bulk (see
        :meth:`~airflow_dtcal.hooks.calendar.DingTalkCalendarHook.resolve_people`); unionIds map to
        themselves without a call. People who cannot be resolved fail the task, naming them per argument,
        unless ``on_unknown="skip"`` and the argument is a list (not in ``single``): then they are left out,
        logged and pushed as the ``dingtalk_unresolved`` XCom.
        """
        from airflow_dtcal.exceptions import DingTalkNotFoundError
        from airflow_dtcal.planning.people import UNION_ID, Resolution, check_on_unknown

        with invalid_arguments():
            types = self._id_types(list(people))
            on_unknown = check_on_unknown(self.on_unknown)
        wanted: dict[str, list[str]] = {}
        for argument, ids in people.items():
            if types[argument] != UNION_ID:
                wanted.setdefault(types[argument], []).extend(ids)
        resolved = {
            id_type: self.get_hook().resolve_people(ids, id_type, on_unknown="skip")
            for id_type, ids in wanted.items()
        }
        result: dict[str, dict[str, str]] = {}
        failures: list[str] = []
        skipped: dict[str, dict[str, list[str]]] = {}
        for argument, ids in people.items():
            if types[argument] == UNION_ID:
                result[argument] = {i: i for i in ids}
                continue
            resolution = resolved[types[argument]]
            result[argument] = {i: resolution.union_ids[i] for i in ids if i in resolution.union_ids}
            missing = Resolution(
                types[argument],
                unknown=[i for i in ids if i in resolution.unknown],
                departed=[i for i in ids if i in resolution.departed],
            )
            if not missing.missing:
                continue
            if on_unknown == "fail" or argument in single:
                failures.append(missing.describe_missing(argument))
            else:
                skipped[argument] = {"unknown": missing.unknown, "departed": missing.departed}
                self.log.warning("Skipping %s", missing.describe_missing(argument))
        if failures:
            hint = "" if all(a in single for a in people) else "; on_unknown='skip' leaves them out of lists"
            raise DingTalkNotFoundError("ResolvePeople", 200, None, "; ".join(failures) + hint)
        if skipped:
            ti = context.get("ti") if hasattr(context, "get") else None
            if callable(getattr(ti, "xcom_push", None)):
                ti.xcom_push(key=UNRESOLVED_XCOM_KEY, value=skipped)
        return result

    def _check_flags(self, *names: str) -> None:
        """Notification flags are True, False or None (DingTalk's default)."""
        for name in names:
            if getattr(self, name) not in (None, True, False):
                raise payloads.InvalidArgumentError(name, "must be true or false", getattr(self, name))

    def _client_token(self, context: Context, operation: str, payload: Any, *, per_try: bool = False) -> str:
        """The idempotency key of one logical write of this task instance.

        Stable across Airflow tries by default (a retried create must not create twice); with ``per_try`` the
        try number is part of it, for writes DingTalk applies idempotently anyway.
        """
        if self.client_token is not None:
            from airflow_dtcal.core.calls import client_token

            return client_token(self.client_token)
        ti = context["ti"]
        parts = [ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1), operation, payload]
        if per_try:
            parts.append(getattr(ti, "try_number", None))
        return payloads.derive_client_token("airflow-dtcal", *parts)


class AttendeeSetOperator(DingTalkCalendarBaseOperator):
    """Arguments shared by the operators that send a set of attendees (add, sync)."""

    template_fields: Sequence[str] = ("organizer_id", "event_id", "attendees", "calendar_id", "client_token")

    def __init__(
        self,
        *,
        organizer_id: str,
        event_id: str,
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

    def _resolve_attendee_set(
        self, context: Context, organizer: str, attendees: list[dict]
    ) -> tuple[str, list[dict]]:
        """The organizer and the attendees as unionIds (see ``id_type``); skipped people are left out."""
        union_ids = self._union_ids(
            context,
            {"organizer_id": [organizer], "attendees": [a["id"] for a in attendees]},
            single=("organizer_id",),
        )
        found = union_ids["attendees"]
        return (
            union_ids["organizer_id"][organizer],
            [{**a, "id": found[a["id"]]} for a in attendees if a["id"] in found],
        )
