"""What every DingTalk Calendar operator shares: the connection, the calendar, idempotency keys, the hook.

Importing this module is cheap (the scheduler imports operator modules on every DAG parse): the hook,
``requests`` and ``httpx`` are imported only when a task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    "AttendeeSetOperator",
    "DingTalkCalendarBaseOperator",
    "invalid_arguments",
    "report_calls",
]

#: The XCom key under which every task pushes the DingTalk calls it spent.
CALLS_XCOM_KEY = "dingtalk_calls"


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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dingtalk_conn_id = dingtalk_conn_id
        self.calendar_id = calendar_id
        self.client_token = client_token
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
