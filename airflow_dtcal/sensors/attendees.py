"""AttendeeResponseSensor: wait until an event's attendees have answered the way a DAG needs.

Importing this module is cheap (the scheduler does it on every DAG parse): the hook, ``requests``, the
trigger's ``httpx`` are imported only when the task runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_dtcal.compat import (
    AirflowFailException,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow_dtcal.operators.arguments import IDS, ONE, Rule, check_when_made
from airflow_dtcal.operators.base import DEFAULT_CONN_ID, calendar_hook, check_event_id, report_calls

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg

    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook


def _rules() -> dict[str, Rule]:
    """The sensor's arguments checked on their own: when it is made (values known then) and in execute()."""
    from airflow_dtcal.core.ids import require_id

    return {"dingtalk_conn_id": require_id, "calendar_id": require_id, "event_id": check_event_id}


def _default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class AttendeeResponseSensor(BaseSensorOperator):
    """Wait until a response condition holds for an event; return ``{attendee id: responseStatus}``.

    Conditions (the organizer is never counted; see :mod:`airflow_dtcal.planning.responses`):

    * ``"all_responded"``: nobody is left in ``needsAction``;
    * ``"min_accepted"``: at least ``min_accepted`` attendees accepted;
    * ``"accepted_by"``: every id in ``attendee_ids`` accepted.

    With ``fail_on_decline=True`` the task fails as soon as a relevant attendee declines (everyone for the
    first two conditions, the named ids for ``accepted_by``), or is skipped when ``soft_fail=True``.
    ``soft_fail=True`` also skips, in every mode alike, when waiting fails for good: the event is gone, the
    app lacks a permission, or transient errors outlasted the retries.

    Poke and reschedule modes read the attendees through :class:`DingTalkCalendarHook`; ``deferrable=True``
    checks once, then hands the waiting to :class:`~airflow_dtcal.triggers.attendees.AttendeeResponseTrigger`
    (polling every ``poke_interval`` seconds in the triggerer, no worker slot held). Either way the XCom
    return value is the attendee statuses seen when the condition held, organizer included.

    :param organizer_id: the event's organizer: a unionId, or see ``id_type``. (templated)
    :param event_id: the event, e.g. ``create.output``. (templated)
    :param condition: ``all_responded`` (default), ``min_accepted`` or ``accepted_by``. Named ``condition``
        because ``mode`` is the sensor's poke/reschedule mode.
    :param min_accepted: how many acceptances are enough (a number, or a template rendering to one). (templated)
    :param attendee_ids: who must accept, for ``accepted_by``: unionIds, or see ``id_type``. (templated)
    :param fail_on_decline: fail (or skip with ``soft_fail``) when a relevant attendee declines.
    :param deferrable: wait in the triggerer; default ``[operators] default_deferrable``.
    :param call_budget: most DingTalk calls the whole wait (``timeout``) may spend. Without an explicit
        ``poke_interval`` the polls are spaced from it: in deferrable mode they start 30 s apart and double up
        to the interval that keeps the wait within the budget; in poke/reschedule mode they come at that
        interval. The wait fails (or skips with ``soft_fail``) once the budget is spent. An explicit
        ``poke_interval`` always wins. Every poll costs one call per 500 attendees.
    :param dingtalk_conn_id: Airflow connection of type ``dingtalk_calendar``. (templated)
    :param calendar_id: always ``primary`` today. (templated)
    :param id_type: how ``organizer_id`` and ``attendee_ids`` name people: ``"unionId"`` (default),
        ``"userId"`` or ``"mobile"``, or a dict per argument; resolved to unionIds once, before the first poke
        (the trigger gets unionIds). Someone the directory does not hold fails the task without retries.
    :param on_unknown: ``"fail"`` (default), or ``"skip"``: ``attendee_ids`` who cannot be resolved (who left,
        say, and so can never accept) are not waited for; they are logged and pushed as the
        ``dingtalk_unresolved`` XCom. If nobody is left to wait for, the task fails.

    At the start the sensor logs what the wait may cost against the monthly quota (a standard-edition org
    has 5,000 calls a month; polling every minute for a week spends 10,080), and warns above a tenth of it.
    """

    #: The arguments naming people (resolved like the operators'; see :mod:`airflow_dtcal.operators.arguments`).
    people = {"organizer_id": ONE, "attendee_ids": IDS(optional=True)}
    template_fields: Sequence[str] = (
        "organizer_id",
        "event_id",
        "min_accepted",
        "attendee_ids",
        "calendar_id",
        "dingtalk_conn_id",
    )
    ui_color = "#3296FA"
    ui_fgcolor = "#FFFFFF"

    def __init__(
        self,
        *,
        organizer_id: str | XComArg,
        event_id: str | XComArg,
        condition: str = "all_responded",
        min_accepted: Any = None,
        attendee_ids: Any = None,
        fail_on_decline: bool = False,
        deferrable: bool | None = None,
        call_budget: int | None = None,
        dingtalk_conn_id: str = DEFAULT_CONN_ID,
        calendar_id: str = "primary",
        id_type: str | Mapping[str, str] = "unionId",
        on_unknown: str = "fail",
        **kwargs: Any,
    ) -> None:
        from airflow_dtcal.planning import responses

        poke_interval_given = "poke_interval" in kwargs
        super().__init__(**kwargs)
        if call_budget is not None and (
            isinstance(call_budget, bool) or not isinstance(call_budget, int) or call_budget < 1
        ):
            raise ValueError(f"call_budget must be a whole number of at least 1 (got {call_budget!r})")
        self.call_budget = call_budget
        self._poke_interval_given = poke_interval_given
        # Not templated, so a typo is reported when the DAG is parsed.
        if condition not in responses.CONDITIONS:
            raise ValueError(
                f"condition must be one of {', '.join(responses.CONDITIONS)} (got {condition!r}); "
                "note that 'mode' is the sensor's poke/reschedule mode"
            )
        if not isinstance(fail_on_decline, bool):
            raise ValueError(f"fail_on_decline must be true or false (got {fail_on_decline!r})")
        self.organizer_id = organizer_id
        self.event_id = event_id
        self.condition = condition
        self.min_accepted = min_accepted
        self.attendee_ids = attendee_ids
        self.fail_on_decline = fail_on_decline
        self.deferrable = _default_deferrable() if deferrable is None else bool(deferrable)
        self.dingtalk_conn_id = dingtalk_conn_id
        self.calendar_id = calendar_id
        self.id_type = id_type
        self.on_unknown = on_unknown
        self._hook: DingTalkCalendarHook | None = None
        self._resolved: dict[str, Any] | None = None
        check_when_made(self, _rules(), people=True)  # values known at DAG parse; the rest in execute()

    # ---------------------------------------------------------------- shared

    def get_hook(self) -> DingTalkCalendarHook:
        """The task's hook, made on first use from the rendered ``dingtalk_conn_id``."""
        if self._hook is None:
            self._hook = calendar_hook(self.dingtalk_conn_id)
        return self._hook

    def _arguments(self, context: Context) -> dict[str, Any]:
        """The rendered arguments, checked (a bad one fails the task without a retry), people as unionIds:
        resolved on the first call of a task's run, then kept."""
        if self._resolved is not None:
            return self._resolved
        from airflow_dtcal.exceptions import DingTalkPeopleNotFoundError, invalid_arguments
        from airflow_dtcal.operators.arguments import DeclaredPeople
        from airflow_dtcal.planning import responses

        with invalid_arguments():
            checked = {name: rule(getattr(self, name), name) for name, rule in _rules().items()}
            condition, min_accepted, _ids = responses.validate_condition(
                self.condition, self.min_accepted, self.attendee_ids
            )
            people = DeclaredPeople(self)
            args = {
                **people.values,
                "event_id": checked["event_id"],
                "calendar_id": checked["calendar_id"],
                "condition": condition,
                "min_accepted": min_accepted,
            }
        args.update(people.resolve(context))
        if condition == "accepted_by" and not args["attendee_ids"]:
            raise DingTalkPeopleNotFoundError(
                "ResolvePeople",
                200,
                None,
                "attendee_ids: nobody is left to wait for once the unresolved are left out",
            )
        self._resolved = args
        return args

    def _declined(self, message: str) -> NoReturn:
        text = f"Event {self.event_id}: {message}"
        if self.soft_fail:
            raise AirflowSkipException(f"{text}; skipping (soft_fail=True)")
        raise AirflowFailException(f"{text}; failing (fail_on_decline=True)")

    # ---------------------------------------------------------------- poke / reschedule

    def _failed(self, error: Exception) -> NoReturn:
        """Waiting failed for good: skip with ``soft_fail``, else fail (the same in poke and deferrable mode)."""
        if self.soft_fail:
            raise AirflowSkipException(f"Event {self.event_id}: {error}; skipping (soft_fail=True)") from None
        raise error

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_dtcal.exceptions import DingTalkError
        from airflow_dtcal.planning import responses

        args = self._arguments(context)
        if self.call_budget is not None and self._spent() >= self.call_budget:
            self._failed(
                DingTalkError(f"Event {self.event_id}: the call budget of {self.call_budget} calls is spent")
            )
        try:
            attendees = self.get_hook().list_attendees(
                args["organizer_id"], args["event_id"], calendar_id=args["calendar_id"]
            )
        except DingTalkError as err:
            self._failed(err)
        check = responses.evaluate_responses(
            attendees,
            organizer_id=args["organizer_id"],
            condition=args["condition"],
            min_accepted=args["min_accepted"],
            attendee_ids=args["attendee_ids"],
            fail_on_decline=self.fail_on_decline,
        )
        if check.outcome == responses.DECLINED:
            self._declined(check.reason)
        if check.missing:
            self.log.warning(
                "Event %s: %d of the attendee_ids are not invited (%s)",
                args["event_id"],
                len(check.missing),
                ", ".join(check.missing[:10]),
            )
        self.log.info("Event %s: %s", args["event_id"], check.reason)
        if check.outcome == responses.MET:
            return PokeReturnValue(is_done=True, xcom_value=check.statuses)
        return False

    # ---------------------------------------------------------------- deferrable

    def _plan_polls(self) -> float | None:
        """Log what the wait may cost; in poke mode space the pokes from the budget. The budget's ceiling."""
        from airflow_dtcal.planning import budget

        ceiling = None
        if self.call_budget is not None and not self._poke_interval_given:
            ceiling = budget.poll_ceiling(float(self.timeout), self.call_budget)
            if not self.deferrable:
                self.poke_interval = ceiling
        most = self.call_budget or budget.calls_for(float(self.timeout), float(self.poke_interval))
        share = budget.share_of_month(most)
        log = self.log.warning if share > 0.1 else self.log.info
        log(
            "Waiting on event %s may spend up to %s DingTalk calls (%.0f%% of a standard-edition org's %s a "
            "month)%s",
            self.event_id,
            f"{most:,}",
            share * 100,
            f"{budget.EDITIONS['standard']:,}",
            "" if self.call_budget else "; set call_budget= to bound it",
        )
        return ceiling

    def execute(self, context: Context) -> Any:
        ceiling = self._plan_polls()
        self._resolved = None
        try:
            args = self._arguments(context)  # people resolved once, before the first poke
            if not self.deferrable:
                return super().execute(context)
            done = self.poke(context)  # one check on the worker: no deferral when the answer is already there
            if isinstance(done, PokeReturnValue):
                return done.xcom_value
        finally:
            report_calls(self.log, context, self._hook, push=False)
        from airflow_dtcal.triggers.attendees import AttendeeResponseTrigger

        self.defer(
            trigger=AttendeeResponseTrigger(
                **args,
                fail_on_decline=self.fail_on_decline,
                dingtalk_conn_id=self.dingtalk_conn_id,
                poll_interval=self.poke_interval,
                call_budget=None if self.call_budget is None else self.call_budget - self._spent(),
                budget_ceiling=ceiling,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def _spent(self) -> int:
        return self._hook.quota_calls_spent if self._hook is not None else 0

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, str]:
        """Resume after the trigger fired: return the statuses, or fail / skip on a decline or an error."""
        from airflow_dtcal.exceptions import DingTalkError
        from airflow_dtcal.planning import responses

        if not event:
            raise DingTalkError(f"Event {self.event_id}: the trigger ended without an event")
        status = event.get("status")
        if status == responses.MET:
            self.log.info("Event %s: %s", event.get("event_id"), event.get("message"))
            return event["statuses"]
        if status == responses.DECLINED:
            self._declined(event.get("message", "declined"))
        self._failed(
            DingTalkError(
                f"Waiting for responses to event {event.get('event_id')} failed: "
                f"{event.get('error_type', 'error')}: {event.get('message')}"
            )
        )
