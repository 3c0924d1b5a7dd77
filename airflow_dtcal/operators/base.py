"""What every DingTalk operator shares, written once: the connection, the calendar, people by any id, the
checks before any request, idempotency keys and the report of the calls spent.

A calendar operator declares what it needs and writes only what is particular to it::

    class AddAttendeesOperator(DingTalkCalendarBaseOperator):
        people = {"organizer_id": ONE, "attendees": ATTENDEES}   # arguments naming people, and how
        event_ids = ("event_id",)                                 # arguments holding event ids
        writes = ("AddAttendee",)                                 # the DingTalk writes it sends
        rules = {"mode": one_of("a", "b")}                        # other arguments a value check settles

        def check(self, ex): ...      # its own arguments, checked before any request (optional)
        def expected_calls(self, ex): ...  # the calls it will spend at least (optional; default 1)
        def run(self, ex): ...        # its work, with ex.organizer_id, ex.attendees... as unionIds

An argument whose value is known when the DAG is parsed (not a template, not an XComArg) is checked when the
operator is made, by the rules the class declares (its ``people``, ``event_ids``, ``rules`` and the
connection, calendar and client token): a DAG with a bad one fails to import, naming it.
:meth:`DingTalkCalendarBaseOperator.execute` checks every argument again once rendered (a bad one raises
:class:`~airflow_dtcal.exceptions.DingTalkInvalidArgumentError` naming it, before any request), resolves
the people of every declared argument to unionIds (``id_type``, ``on_unknown``; see
:mod:`airflow_dtcal.operators.arguments`), runs the operator, and reports the calls spent. Between the checks
and the first request it holds the operator's :meth:`~DingTalkCalendarBaseOperator.expected_calls` against
the connection's ``monthly_budget``: a task the month cannot pay for is refused whole
(:class:`~airflow_dtcal.exceptions.DingTalkMonthlyBudgetError`), not cut off half-way.

Importing this module is cheap (the scheduler imports operator modules on every DAG parse): the hook,
``requests``, ``httpx`` and the payload builders are imported only when a task runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_dtcal.compat import BaseOperator
from airflow_dtcal.operators.arguments import UNRESOLVED_XCOM_KEY, People, Rule, check_when_made

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

__all__ = [
    "CALLS_XCOM_KEY",
    "DEFAULT_CONN_ID",
    "EVENT_ID_HINT",
    "UNRESOLVED_XCOM_KEY",
    "DingTalkBaseOperator",
    "DingTalkCalendarBaseOperator",
    "Execution",
    "calendar_hook",
    "calls_for_people",
    "check_event_id",
    "check_flags",
    "dag_timezone",
    "event_fields",
    "report_calls",
]

#: The XCom key under which every task pushes the DingTalk calls it spent.
CALLS_XCOM_KEY = "dingtalk_calls"
DEFAULT_CONN_ID = "dingtalk_calendar_default"
EVENT_ID_HINT = "the upstream task returned no event id (XCom was None)?"
#: Writes DingTalk would repeat if sent again (a second event, a second hand-over): their idempotency key is
#: the same on every Airflow try, so a retry after a lost answer gets DingTalk's remembered answer. Every other
#: write is idempotent in DingTalk itself; its key includes the try number, so a cleared task really sends
#: it again instead of replaying an answer DingTalk keeps for a day.
ONCE = frozenset({"CreateEvent", "TransferEvent"})


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
    if push and ti is not None and callable(getattr(ti, "xcom_push", None)):
        ti.xcom_push(key=CALLS_XCOM_KEY, value=report)
    return report


def check_event_id(value: Any, argument: str) -> str:
    """An event id (the rule of every argument holding one; ``None`` hints at an upstream XCom)."""
    from airflow_dtcal.core.ids import require_id

    return require_id(value, argument, hint=EVENT_ID_HINT)


def calendar_hook(dingtalk_conn_id: Any) -> DingTalkCalendarHook:
    """The hook of a task (made in ``execute()``, never at parse time) from its rendered connection id."""
    from airflow_dtcal.core.ids import require_id
    from airflow_dtcal.exceptions import invalid_arguments
    from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

    with invalid_arguments():
        conn_id = require_id(dingtalk_conn_id, "dingtalk_conn_id")
    return DingTalkCalendarHook(dingtalk_conn_id=conn_id)


def dag_timezone(context: Any) -> str | None:
    """The DAG's time zone by IANA name (None for a fixed offset or no DAG)."""
    dag = context.get("dag") if hasattr(context, "get") else None
    name = getattr(getattr(dag, "timezone", None), "name", None)
    return name if isinstance(name, str) and name[:1] not in "+-" else None


#: The pythonic event arguments of CreateEventOperator and UpdateEventOperator (``None``: not given).
EVENT_FIELDS = (
    "summary",
    "start",
    "end",
    "all_day",
    "timezone",
    "description",
    "location",
    "reminders",
    "recurrence",
    "online_meeting",
    "ui_configs",
    "extra_fields",
)


def event_fields(source: object) -> dict[str, Any]:
    """The rendered event arguments of an operator (an empty ``timezone`` is none: the default applies)."""
    fields = {name: getattr(source, name) for name in EVENT_FIELDS}
    fields["timezone"] = fields["timezone"] or None
    return fields


def check_flags(source: object, *names: str) -> None:
    """Flags are True, False or None (DingTalk's default)."""
    from airflow_dtcal.core.errors import InvalidArgumentError

    for name in names:
        if getattr(source, name) is not None and not isinstance(getattr(source, name), bool):  # 1 == True
            raise InvalidArgumentError(name, "must be true or false", getattr(source, name))


def _checked_when_made(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` (an operator class's own ``__init__``), followed, once the outermost ``__init__`` of the
    instance returns, by :meth:`DingTalkBaseOperator.check_when_made`: a subclass sets its arguments after
    calling ``super().__init__()``, so only then are they all there."""

    @functools.wraps(init)
    def checked(self: DingTalkBaseOperator, *args: Any, **kwargs: Any) -> None:
        depth = self.__dict__.get("_dtcal_init_depth", 0)
        object.__setattr__(self, "_dtcal_init_depth", depth + 1)
        try:
            init(self, *args, **kwargs)
        finally:
            if depth:
                object.__setattr__(self, "_dtcal_init_depth", depth)
            else:
                self.__dict__.pop("_dtcal_init_depth", None)
        if depth == 0:
            self.check_when_made()

    return checked


class DingTalkBaseOperator(BaseOperator):
    """The connection, the hook and the report of the calls a task spent.

    :param dingtalk_conn_id: Airflow connection of type ``dingtalk_calendar``. (templated)

    Subclasses implement :meth:`run_task`; :meth:`execute` runs it, then logs the DingTalk calls the task
    spent and pushes them as the ``dingtalk_calls`` XCom (see :func:`report_calls`).
    """

    template_fields: Sequence[str] = ("dingtalk_conn_id",)
    ui_color = "#3296FA"
    ui_fgcolor = "#FFFFFF"

    def __init__(self, *, dingtalk_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dingtalk_conn_id = dingtalk_conn_id
        self._hook: DingTalkCalendarHook | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        templated = set(cls.template_fields)
        missing = [name for name in cls._always_templated() if name not in templated]
        if missing:
            raise TypeError(f"{cls.__name__}.template_fields must include {', '.join(missing)}")
        if "__init__" in cls.__dict__:
            cls.__init__ = _checked_when_made(cls.__dict__["__init__"])  # type: ignore[method-assign]

    @classmethod
    def _always_templated(cls) -> list[str]:
        return ["dingtalk_conn_id"]

    #: The operator's own arguments that a check of their value alone settles (an export's ``destination``,
    #: a ``state_key``, an enumeration such as ``mode``): ``{argument: rule(value, argument)}``. Each is run
    #: when the operator is made, if the value is known then (no template, no XComArg: a DAG with a bad one
    #: fails to import, naming it), and again in ``execute()`` on the rendered value
    #: (:meth:`check_arguments`). Checks that need the context (the DAG's time zone, the data interval) or
    #: several arguments together stay in the operator's own checks.
    rules: ClassVar[Mapping[str, Rule]] = {}

    def argument_rules(self) -> dict[str, Rule]:
        """Every argument checked on its own: the connection id and :attr:`rules`."""
        from airflow_dtcal.core.ids import require_id

        return {"dingtalk_conn_id": require_id, **self.rules}

    def check_when_made(self) -> None:
        """Run when the outermost ``__init__`` has set every argument (see :func:`_checked_when_made`)."""
        check_when_made(self, self.argument_rules())

    def check_arguments(self) -> dict[str, Any]:
        """:meth:`argument_rules` on the rendered values, in ``execute()`` before any request:
        ``{argument: checked value}``."""
        from airflow_dtcal.exceptions import invalid_arguments

        with invalid_arguments():
            return {name: rule(getattr(self, name), name) for name, rule in self.argument_rules().items()}

    def get_hook(self) -> DingTalkCalendarHook:
        """The task's hook, made on first use in ``execute()`` (never at parse time), from the rendered
        ``dingtalk_conn_id``."""
        if self._hook is None:
            self._hook = calendar_hook(self.dingtalk_conn_id)
        return self._hook

    def execute(self, context: Context) -> Any:
        pushed = False
        try:
            result = self.run_task(context)
            report_calls(self.log, context, self._hook, push=True)
            pushed = True
            return result
        finally:
            if not pushed:
                report_calls(self.log, context, self._hook, push=False)

    def run_task(self, context: Context) -> Any:
        """The operator's work; its return value is the task's XCom return value."""
        raise NotImplementedError


class Execution:
    """One ``execute()`` of a calendar operator: its arguments checked, people as unionIds.

    The checked arguments read as attributes: ``ex.organizer_id`` (a unionId), ``ex.attendees``
    (``[{"id", "isOptional"}]`` by unionId), ``ex.event_id``, ``ex.calendar_id``, and whatever the
    operator's :meth:`~DingTalkCalendarBaseOperator.check` returned.
    """

    def __init__(self, operator: DingTalkCalendarBaseOperator, context: Context, values: dict[str, Any]):
        self.operator = operator
        self.context = context
        self.values = values

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(
            f"{type(self.__dict__.get('operator')).__name__} has no checked argument {name!r}"
        )

    @property
    def hook(self) -> DingTalkCalendarHook:
        return self.operator.get_hook()

    def token(self, operation: str, payload: Any) -> str:
        """The ``x-client-token`` of one logical write (see :meth:`DingTalkCalendarBaseOperator.client_token_for`)."""
        return self.operator.client_token_for(self.context, operation, payload)


class DingTalkCalendarBaseOperator(DingTalkBaseOperator):
    """A DingTalk Calendar operator, declared: its people, event ids and writes (see the module's doc).

    :param dingtalk_conn_id: Airflow connection of type ``dingtalk_calendar``. (templated)
    :param calendar_id: DingTalk calendar id; always ``primary`` today. (templated)
    :param client_token: for operators that write: the ``x-client-token`` idempotency key of the task's
        write (an operator that sends several writes derives each one's key from it); derived from the task
        instance when not given. Refused by operators that only read. (templated)
    :param id_type: how the arguments that name people (organizer, attendees, responder...) name them:
        ``"unionId"`` (default; DingTalk's calendar id, sent as it is), ``"userId"`` (the org's userId, as
        HR rosters hold it) or ``"mobile"``. userIds and mobiles are resolved to unionIds in bulk in
        ``execute()``, before anything is written. A dict gives one per argument, e.g.
        ``{"organizer_id": "unionId", "attendees": "userId"}`` (arguments left out are unionIds); a key that
        is not an argument naming people is refused.
        Mobiles are normalised before lookup (``+86 139-7619-3331`` -> ``13976193331``; see
        :func:`~airflow_dtcal.planning.people.normalise_mobile`). A task given userIds or mobiles pushes
        their unionIds as the ``dingtalk_people`` XCom (``{argument: {id as given: unionId}}``); its return
        value is unchanged. Members who have not activated DingTalk yet resolve and are invited.
    :param on_unknown: what to do with a person the directory does not hold (never a member, or left the
        organisation: DingTalk answers both alike): ``"fail"`` (default) fails the task without retries (a
        retry would find the same), naming them; ``"skip"`` leaves them out of lists of people, logs them
        and pushes them as the ``dingtalk_unresolved`` XCom (``{argument: {"unknown": [...]}}``). A single
        person (organizer, responder) who cannot be resolved always fails the task, so an operator without
        a list of people refuses ``"skip"``.
    """

    #: The arguments naming people, and of which kind (see :mod:`airflow_dtcal.operators.arguments`).
    people: ClassVar[Mapping[str, People]] = {}
    #: The arguments holding event ids (e.g. ``create.output``).
    event_ids: ClassVar[tuple[str, ...]] = ()
    #: The DingTalk writes the operator sends (each one's idempotency key follows :data:`ONCE`); none for
    #: an operator that only reads, which then refuses ``client_token``.
    writes: ClassVar[tuple[str, ...]] = ()
    #: Whether the operator works on a calendar; one that does not (free/busy) refuses ``calendar_id``.
    on_calendar: ClassVar[bool] = True

    template_fields: Sequence[str] = ("calendar_id", "dingtalk_conn_id")

    def __init__(
        self,
        *,
        calendar_id: str = "primary",
        client_token: str | None = None,
        id_type: str | Mapping[str, str] = "unionId",
        on_unknown: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.calendar_id = calendar_id
        self.client_token = client_token
        self.id_type = id_type
        self.on_unknown = on_unknown

    @classmethod
    def _always_templated(cls) -> list[str]:
        return [
            *cls.people,
            *cls.event_ids,
            *(["calendar_id"] if cls.on_calendar else []),
            *(["client_token"] if cls.writes else []),
            "dingtalk_conn_id",
        ]

    # ------------------------------------------------------------------ what the base does once

    def argument_rules(self) -> dict[str, Rule]:
        """The connection, the calendar, the idempotency key, the event ids and :attr:`rules`; the people
        arguments (``people``, ``id_type``, ``on_unknown``) are checked beside them."""
        from airflow_dtcal.core.calls import client_token
        from airflow_dtcal.core.errors import InvalidArgumentError
        from airflow_dtcal.core.ids import require_id

        owner = type(self).__name__

        def no_calendar(value: Any, argument: str) -> str:
            if value != "primary":
                raise InvalidArgumentError(argument, f"does not apply: {owner} works on no calendar", value)
            return value

        def token(value: Any, argument: str) -> str | None:
            if value is None:
                return None
            if not self.writes:
                raise InvalidArgumentError(
                    argument, f"does not apply: {owner} only reads, it sends no write to key"
                )
            return client_token(value)

        return {
            "dingtalk_conn_id": require_id,
            "calendar_id": require_id if self.on_calendar else no_calendar,
            "client_token": token,
            **dict.fromkeys(self.event_ids, check_event_id),
            **self.rules,
        }

    def check_when_made(self) -> None:
        check_when_made(self, self.argument_rules(), people=True)

    def run_task(self, context: Context) -> Any:
        ex = self.prepare(context)
        return self.run(ex)

    def prepare(self, context: Context) -> Execution:
        """Check every argument (before any request), then resolve the people to unionIds."""
        from airflow_dtcal.exceptions import invalid_arguments
        from airflow_dtcal.operators.arguments import DeclaredPeople

        values = self.check_arguments()
        with invalid_arguments():
            people = DeclaredPeople(self)
            values.update(people.values)
            ex = Execution(self, context, values)
            values.update(self.check(ex) or {})
            expected = self.expected_calls(ex)
            if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
                raise AssertionError(
                    f"{type(self).__name__}.expected_calls returned {expected!r}, not a whole number"
                )
        # Before any request (resolving people sends lookups, which the month does not count).
        self.get_hook().check_monthly_budget(expected)
        values.update(people.resolve(context))
        return ex

    def client_token_for(self, context: Context, operation: str, payload: Any) -> str:
        """The idempotency key of one logical write of this task instance.

        Derived from the DAG id, task id, run id, map index, the operation and ``payload`` (what identifies
        the write), plus the try number unless the operation is in :data:`ONCE`. A ``client_token`` given
        by the DAG keys the operator's write itself, or, for an operator that sends several, each write's key
        is derived from it.
        """
        from airflow_dtcal.core.calls import client_token, derive_client_token

        if operation not in self.writes:
            raise AssertionError(f"{type(self).__name__} does not declare the write {operation!r}")
        if self.client_token is not None:
            given = client_token(self.client_token)
            return given if len(self.writes) == 1 else derive_client_token(given, operation, payload)
        ti = context["ti"]
        parts = [ti.dag_id, ti.task_id, ti.run_id, getattr(ti, "map_index", -1), operation, payload]
        if operation not in ONCE:
            parts.append(getattr(ti, "try_number", None))
        return derive_client_token("airflow-dtcal", *parts)

    # ------------------------------------------------------------------ what each operator writes

    def check(self, ex: Execution) -> dict[str, Any] | None:
        """Check the operator's own arguments, before any request; the values returned join ``ex``'s."""
        return None

    def expected_calls(self, ex: Execution) -> int:
        """The DingTalk calls counted toward the month that this task expects to spend doing its work, from its
        checked arguments (people as given, before any request); held against ``monthly_budget`` before the
        first call. Calls that depend on what DingTalk answers (more pages, the difference a listing shows,
        an event found already) are not known yet and not included. Default: one call."""
        return 1

    def run(self, ex: Execution) -> Any:
        """The operator's work; its return value is the task's XCom return value."""
        raise NotImplementedError


def calls_for_people(count: int) -> int:
    """Calls that send ``count`` people, 500 (DingTalk's limit) per call."""
    from airflow_dtcal.core.ids import MAX_ATTENDEES_PER_CALL

    return -(-count // MAX_ATTENDEES_PER_CALL)
