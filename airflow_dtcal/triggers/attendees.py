"""AttendeeResponseTrigger: poll an event's attendees in the triggerer until a response condition is decided.

The trigger only loops and emits events: every request goes through
:meth:`DingTalkCalendarHook.alist_attendees <airflow_dtcal.hooks.calendar.DingTalkCalendarHook.alist_attendees>`,
the same settings, retry policy, answer checks, token cache and pacer as the sync methods, read without a
blocking call on the triggerer's event loop. It only reads (GetAccessToken, ListAttendees), so running it
twice is harmless.

It fires exactly one :class:`~airflow.triggers.base.TriggerEvent` whose payload is plain JSON and carries
no credentials::

    {"status": "met" | "declined" | "error", "event_id": ..., "condition": ...,
     "statuses": {attendee id: responseStatus}, "declined": [...], "message": "..."}

Importing this module is cheap: the hook (requests, httpx) is imported when the trigger runs.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_dtcal.planning import budget, responses

DEFAULT_CONN_ID = "dingtalk_calendar_default"


class AttendeeResponseTrigger(BaseTrigger):
    """Poll ListAttendees every ``poll_interval`` seconds until ``condition`` holds or a relevant attendee declines.

    :param organizer_id: unionId of the event's organizer (whose calendar is read).
    :param event_id: the event.
    :param condition: ``all_responded``, ``min_accepted`` or ``accepted_by`` (see :mod:`airflow_dtcal.planning.responses`).
    :param min_accepted: for ``min_accepted``: how many acceptances are enough.
    :param attendee_ids: for ``accepted_by``: who must accept.
    :param fail_on_decline: fire a ``declined`` event as soon as a relevant attendee declines.
    :param dingtalk_conn_id: Airflow connection of type ``dingtalk_calendar``.
    :param calendar_id: always ``primary`` today.
    :param poll_interval: seconds between two polls.
    :param call_budget: most calls this wait may still spend; the trigger ends with an ``error`` event once
        they are spent.
    :param budget_ceiling: when given, polls start 30 s apart and double up to this many seconds (the
        sensor computes it from its budget and timeout) instead of coming every ``poll_interval``.
    :param max_transient_errors: consecutive retryable failures (throttling, 5xx, timeouts) tolerated before the
        trigger gives up with an ``error`` event; the waits between them double from 2 s up to
        ``poll_interval`` (about half an hour in all with the defaults and a 15-minute interval). Non-retryable
        errors (not found, permission, bad credentials) end it at once.
    """

    def __init__(
        self,
        *,
        organizer_id: str,
        event_id: str,
        condition: str = "all_responded",
        min_accepted: int | None = None,
        attendee_ids: list[str] | None = None,
        fail_on_decline: bool = False,
        dingtalk_conn_id: str = DEFAULT_CONN_ID,
        calendar_id: str = "primary",
        poll_interval: float = 60.0,
        max_transient_errors: int = 10,
        call_budget: int | None = None,
        budget_ceiling: float | None = None,
    ) -> None:
        super().__init__()
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.condition = condition
        self.min_accepted = min_accepted
        self.attendee_ids = list(attendee_ids) if attendee_ids is not None else None
        self.fail_on_decline = fail_on_decline
        self.dingtalk_conn_id = dingtalk_conn_id
        self.calendar_id = calendar_id
        self.poll_interval = float(poll_interval)
        self.max_transient_errors = int(max_transient_errors)
        self.call_budget = None if call_budget is None else int(call_budget)
        self.budget_ceiling = None if budget_ceiling is None else float(budget_ceiling)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "organizer_id": self.organizer_id,
                "event_id": self.event_id,
                "condition": self.condition,
                "min_accepted": self.min_accepted,
                "attendee_ids": self.attendee_ids,
                "fail_on_decline": self.fail_on_decline,
                "dingtalk_conn_id": self.dingtalk_conn_id,
                "calendar_id": self.calendar_id,
                "poll_interval": self.poll_interval,
                "max_transient_errors": self.max_transient_errors,
                "call_budget": self.call_budget,
                "budget_ceiling": self.budget_ceiling,
            },
        )

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} event_id={self.event_id!r} condition={self.condition!r} "
            f"conn={self.dingtalk_conn_id!r}>"
        )

    # ---------------------------------------------------------------- the loop

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The first trigger of a triggerer process imports the hook (requests, httpx): off the event loop.
        await asyncio.to_thread(importlib.import_module, "airflow_dtcal.hooks.calendar")
        from airflow_dtcal.core.errors import InvalidArgumentError
        from airflow_dtcal.core.ids import require_id
        from airflow_dtcal.exceptions import DingTalkError
        from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

        try:
            organizer = require_id(self.organizer_id, "organizer_id")
            event_id = require_id(self.event_id, "event_id")
            calendar = require_id(self.calendar_id, "calendar_id")
            condition, min_accepted, attendee_ids = responses.validate_condition(
                self.condition, self.min_accepted, self.attendee_ids
            )
        except InvalidArgumentError as err:
            yield self._error(err)
            return

        hook = DingTalkCalendarHook(dingtalk_conn_id=self.dingtalk_conn_id)
        failures = polls = 0
        try:
            while True:
                if self.call_budget is not None and hook.quota_calls_spent >= self.call_budget:
                    yield self._error(DingTalkError(f"the call budget of {self.call_budget} calls is spent"))
                    return
                try:
                    attendees = await hook.alist_attendees(organizer, event_id, calendar_id=calendar)
                except DingTalkError as err:
                    failures += 1
                    if not err.retryable or failures > self.max_transient_errors:
                        yield self._error(err)
                        return
                    wait = max(
                        getattr(err, "retry_after", None) or 0.0, min(self.poll_interval, 2.0**failures)
                    )
                    self.log.warning(
                        "Listing the attendees of event %s failed (%s, %d/%d); next try in %.1fs",
                        event_id,
                        err,
                        failures,
                        self.max_transient_errors,
                        wait,
                    )
                    await asyncio.sleep(wait)
                    continue
                except Exception as err:  # a missing connection, say: report it to the task, do not crash
                    yield self._error(err)
                    return
                failures = 0
                check = responses.evaluate_responses(
                    attendees,
                    organizer_id=organizer,
                    condition=condition,
                    min_accepted=min_accepted,
                    attendee_ids=attendee_ids,
                    fail_on_decline=self.fail_on_decline,
                )
                if check.done:
                    self.log.info("Event %s: %s (%s)", event_id, check.outcome, check.reason)
                    yield TriggerEvent(
                        {
                            "status": check.outcome,
                            "event_id": event_id,
                            "condition": condition,
                            "statuses": check.statuses,
                            "declined": check.declined,
                            "message": check.reason,
                        }
                    )
                    return
                polls += 1
                delay = self.poll_interval
                if self.budget_ceiling is not None:
                    delay = budget.next_poll(polls - 1, self.budget_ceiling)
                self.log.info("Event %s: %s; polling again in %gs", event_id, check.reason, delay)
                await asyncio.sleep(delay)
        finally:
            self.log.info(
                "The wait on event %s spent %d DingTalk calls: %s",
                self.event_id,
                hook.quota_calls_spent,
                hook.calls_spent,
            )
            await hook.aclose()

    def _error(self, err: Exception) -> TriggerEvent:
        self.log.error("Waiting for responses to event %s failed: %s", self.event_id, err)
        return TriggerEvent(
            {
                "status": "error",
                "event_id": self.event_id,
                "condition": self.condition,
                "error_type": type(err).__name__,
                "message": str(err),
            }
        )
