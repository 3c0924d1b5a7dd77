"""The arguments that name people, declared once per operator and sensor, and resolved to unionIds in bulk.

An operator (or the sensor) declares each argument that names people and of which kind it is::

    people = {"organizer_id": ONE, "attendees": ATTENDEES}

and :func:`check_people`, :func:`id_types`, :func:`unknown_rule` and :func:`resolve_people` do the rest:
each value checked before any request (an error names the argument), the ``id_type`` of each argument
(``"unionId"``, ``"userId"`` or ``"mobile"``; one for all, or a dict per argument), one bulk lookup per id
type for every argument together (``hook.resolve_people``), and what to do with people the directory does
not hold (``on_unknown``). Nothing here is imported at DAG parse time beyond this module: the checks and the
hook are imported when a task runs.

Kinds:

* :data:`ONE`: one person (``organizer_id``, ``user_id``...); someone who cannot be resolved always fails
  the task;
* :data:`IDS`: a list of ids (``attendee_ids``; attendee dicts are read for their ``id``);
* :data:`ATTENDEES`: a list of ids or ``{"id", "isOptional"}`` dicts (``attendees``);
* :data:`EVENT_ATTENDEES`: the ``attendees`` inside each desired event of a list (``SyncEventsOperator``).

With ``on_unknown="skip"``, people of the list kinds who cannot be resolved are left out of the list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_dtcal.planning.people import Resolution

UNION_ID = "unionId"
#: A check of one argument's value: ``rule(value, argument)`` returns the checked value or raises an
#: :class:`~airflow_dtcal.core.errors.InvalidArgumentError` naming ``argument``.
Rule = Callable[[Any, str], Any]


def is_known(value: Any) -> bool:
    """Whether a value is final when the DAG is parsed: no Jinja template in it (``{{`` or ``{%``) and no
    XComArg (or other value resolved at run time), at any depth."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            if "{{" in item or "{%" in item:
                return False
        elif callable(getattr(item, "iter_references", None)):  # XComArg, a DAG param: resolved at run time
            return False
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return True


def checked_by(path: str) -> Rule:
    """The rule ``"module:function"``, imported when it first runs (operator modules stay cheap to import
    at DAG parse); the function takes ``(value, argument)``."""

    def check(value: Any, argument: str) -> Any:
        import importlib

        module, _, name = path.partition(":")
        return getattr(importlib.import_module(module), name)(value, argument)

    return check


def optional(rule: Rule) -> Rule:
    """``rule``, with ``None`` (not given) accepted as it is."""

    def check(value: Any, argument: str) -> Any:
        return None if value is None else rule(value, argument)

    return check


def one_of(*choices: str) -> Rule:
    """One of ``choices`` (an enumeration such as an export's ``mode``)."""

    def check(value: Any, argument: str) -> Any:
        if value not in choices:
            from airflow_dtcal.core.errors import InvalidArgumentError

            quoted = [repr(choice) for choice in choices]
            listed = " or ".join(quoted) if len(quoted) == 2 else f"one of {', '.join(quoted)}"
            raise InvalidArgumentError(argument, f"must be {listed}", value)
        return value

    return check


class People:
    """How one argument names people (a plain class: this module is imported at every DAG parse).

    :ivar kind: ``"one"``, ``"ids"``, ``"attendees"`` or ``"event_attendees"`` (see the module's doc).
    :ivar allow_empty: a list may be empty.
    :ivar optional: ``None`` means the argument is not given (nothing to check or resolve).
    :ivar id_type_of: resolve with the id type of that other argument (``FindSlotOperator``'s
        ``required_attendees`` name the same people as its ``attendees``, so they take their id type).
    :ivar check: a stricter check of the value than the kind's own, ``check(value, argument)`` returning the
        checked list (the export's ``calendars``).
    """

    __slots__ = ("allow_empty", "check", "id_type_of", "kind", "optional")

    def __init__(
        self,
        kind: str,
        *,
        allow_empty: bool = False,
        optional: bool = False,
        id_type_of: str | None = None,
        check: Callable[[Any, str], Any] | None = None,
    ) -> None:
        self.kind = kind
        self.allow_empty = allow_empty
        self.optional = optional
        self.id_type_of = id_type_of
        self.check = check

    def __repr__(self) -> str:
        options = {
            name: getattr(self, name) for name in self.__slots__ if name != "kind" and getattr(self, name)
        }
        return f"People({self.kind!r}{''.join(f', {k}={v!r}' for k, v in options.items())})"

    @property
    def many(self) -> bool:
        """A list: ``on_unknown="skip"`` may leave people out of it."""
        return self.kind != "one"

    def __call__(self, **options: Any) -> People:
        """This kind with other options: ``IDS(allow_empty=True)``."""
        current = {name: getattr(self, name) for name in self.__slots__ if name != "kind"}
        return People(self.kind, **{**current, **options})

    def checked(self, value: Any, argument: str) -> Any:
        """The value checked and normalised (ids stripped, attendees as ``{"id", "isOptional"}``)."""
        from airflow_dtcal.core.ids import normalize_attendee_ids, normalize_attendees, require_id

        if value is None and self.optional:
            return None
        if self.check is not None:
            return list(self.check(value, argument))
        if self.kind == "one":
            return require_id(value, argument)
        if self.kind == "ids":
            return normalize_attendee_ids(value, argument, allow_empty=self.allow_empty)
        if self.kind == "attendees":
            return normalize_attendees(value, argument, allow_empty=self.allow_empty)
        return _event_attendees(value, argument)

    def ids(self, value: Any) -> list[str]:
        """The ids a checked value names."""
        if value is None:
            return []
        if self.kind == "one":
            return [value]
        if self.kind == "ids":
            return list(value)
        if self.kind == "attendees":
            return [a["id"] for a in value]
        return [a["id"] for item in value if isinstance(item, Mapping) for a in item.get("attendees") or []]

    def resolved(self, value: Any, union_ids: Mapping[str, str]) -> Any:
        """The checked value with every id replaced by its unionId; ids not in ``union_ids`` left out (one
        person: None, and the task fails)."""
        if value is None:
            return None
        if self.kind == "one":
            return union_ids.get(value)
        if self.kind == "ids":
            return [union_ids[i] for i in value if i in union_ids]
        if self.kind == "attendees":
            return _attendees(value, union_ids)
        return [
            {**item, "attendees": _attendees(item["attendees"], union_ids)}
            if isinstance(item, Mapping) and item.get("attendees") is not None
            else item
            for item in value
        ]


#: One person; someone who cannot be resolved always fails the task.
ONE = People("one")
#: A list of ids.
IDS = People("ids")
#: A list of ids or ``{"id", "isOptional"}`` dicts.
ATTENDEES = People("attendees")
#: The ``attendees`` of each desired event in a list of event dicts.
EVENT_ATTENDEES = People("event_attendees")


def _attendees(value: list[dict], union_ids: Mapping[str, str]) -> list[dict]:
    return [{**a, "id": union_ids[a["id"]]} for a in value if a["id"] in union_ids]


def _event_attendees(value: Any, argument: str) -> Any:
    """Each desired event's ``attendees`` checked and normalised; the rest of the events is the operator's
    to check (they are left as they are)."""
    from airflow_dtcal.core.ids import normalize_attendees

    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        return value
    return [
        {
            **item,
            "attendees": normalize_attendees(
                item["attendees"], f"{argument}[{i}].attendees", allow_empty=True
            ),
        }
        if isinstance(item, Mapping) and item.get("attendees") is not None
        else item
        for i, item in enumerate(value)
    ]


def check_people(declared: Mapping[str, People], source: object) -> dict[str, Any]:
    """Each declared argument's value (read from ``source``, the operator) checked: ``{argument: value}``."""
    return {name: kind.checked(getattr(source, name), name) for name, kind in declared.items()}


def id_types(declared: Mapping[str, People], id_type: Any, owner: str) -> dict[str, str]:
    """The id type of each declared argument (``id_type``: one for all, or a dict per argument), checked.

    A dict naming an argument that does not name people here is refused, and so is any id type but unionIds
    for an operator that names nobody (``owner`` is the class name, for the message).
    """
    from airflow_dtcal.core.errors import InvalidArgumentError
    from airflow_dtcal.planning.people import check_id_type

    own = [name for name, kind in declared.items() if kind.id_type_of is None]
    if not declared and id_type != UNION_ID:
        raise InvalidArgumentError(
            "id_type", f"does not apply: {owner} takes no argument naming people", id_type
        )
    if isinstance(id_type, Mapping):
        for name in id_type:
            if name not in own:
                follows = declared[name].id_type_of if name in declared else None
                rule = (
                    f"names {name!r}, which takes the id type of {follows!r}"
                    if follows
                    else f"names {name!r}, which is not an argument of {owner} naming people "
                    f"(those are {', '.join(own)})"
                )
                raise InvalidArgumentError("id_type", rule)
        types = {name: check_id_type(id_type.get(name, UNION_ID), f"id_type[{name!r}]") for name in own}
    else:
        types = dict.fromkeys(own, check_id_type(id_type))
    for name, kind in declared.items():
        if kind.id_type_of is not None:
            types[name] = types[kind.id_type_of]
    return types


def unknown_rule(declared: Mapping[str, People], on_unknown: Any, owner: str) -> str:
    """``on_unknown`` checked: ``"fail"``, or ``"skip"`` where some argument is a list to leave people out of."""
    from airflow_dtcal.core.errors import InvalidArgumentError
    from airflow_dtcal.planning.people import check_on_unknown

    rule = check_on_unknown(on_unknown)
    if rule == "skip" and not any(kind.many for kind in declared.values()):
        single = ", ".join(declared) or "none"
        raise InvalidArgumentError(
            "on_unknown",
            f"'skip' leaves people out of lists, and {owner} takes no list of people (its people "
            f"arguments, {single}, name one person each, who must resolve)",
            on_unknown,
        )
    return rule


def check_when_made(source: Any, rules: Mapping[str, Rule], *, people: bool = False) -> None:
    """What can be checked when the DAG is parsed: each rule on its argument's value and, with ``people``,
    the arguments of ``source.people`` (with ``id_type`` and ``on_unknown``), each where the value is known
    then (see :func:`is_known`; a template or an XComArg is checked in ``execute()``, once rendered). A bad
    value raises :class:`~airflow_dtcal.exceptions.DingTalkInvalidArgumentError` naming the argument, so the
    DAG fails to import with that message instead of failing its runs."""
    from airflow_dtcal.exceptions import invalid_arguments

    with invalid_arguments():
        for name, rule in rules.items():
            value = getattr(source, name)
            if is_known(value):
                rule(value, name)
        if not people:
            return
        owner = type(source).__name__
        declared: Mapping[str, People] = source.people
        if is_known(source.id_type):
            id_types(declared, source.id_type, owner)
        if is_known(source.on_unknown):
            unknown_rule(declared, source.on_unknown, owner)
        for name, kind in declared.items():
            value = getattr(source, name)
            if is_known(value):
                kind.checked(value, name)


class Resolved:
    """The outcome of :func:`resolve_people`: each argument's value by unionId, who was left out
    (``{argument: {"unknown": [...]}}``, for the ``dingtalk_unresolved`` XCom), and the identity mapping
    of the people given as userIds or mobiles (``{argument: {id as given: unionId}}``, for the
    ``dingtalk_people`` XCom)."""

    def __init__(
        self,
        values: dict[str, Any],
        skipped: dict[str, dict[str, list[str]]],
        mapping: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.values = values
        self.skipped = skipped
        self.mapping = mapping or {}


def resolve_people(
    declared: Mapping[str, People],
    checked: Mapping[str, Any],
    types: Mapping[str, str],
    on_unknown: str,
    lookup: Callable[[list[str], str], Resolution],
    log: Any,
) -> Resolved:
    """Resolve every declared argument's people to unionIds, one bulk ``lookup(ids, id_type)`` per id type
    (the hook's ``resolve_people(ids, id_type, on_unknown="skip")``); unionIds map to themselves without a
    call.

    People who cannot be resolved fail the task with
    :class:`~airflow_dtcal.exceptions.DingTalkPeopleNotFoundError` (no retry: a retry would repeat every
    lookup and find the same), naming them per argument, unless ``on_unknown="skip"`` and the argument is
    a list: then they are left out and logged.
    """
    from airflow_dtcal.planning.people import Resolution

    wanted: dict[str, dict[str, None]] = {}
    for name, kind in declared.items():
        if types[name] != UNION_ID:
            wanted.setdefault(types[name], {}).update(dict.fromkeys(kind.ids(checked[name])))
    found = {id_type: lookup(list(ids), id_type) for id_type, ids in wanted.items() if ids}
    values: dict[str, Any] = {}
    failures: dict[str, str] = {}
    skipped: dict[str, dict[str, list[str]]] = {}
    mapping: dict[str, dict[str, str]] = {}
    for name, kind in declared.items():
        ids = kind.ids(checked[name])
        if types[name] == UNION_ID or not ids:
            values[name] = checked[name]
            continue
        resolution = found[types[name]]
        values[name] = kind.resolved(checked[name], resolution.union_ids)
        mapping[name] = {i: resolution.union_ids[i] for i in ids if i in resolution.union_ids}
        missing = Resolution(types[name], unknown=[i for i in ids if i in resolution.unknown])
        if not missing.missing:
            continue
        if on_unknown == "fail" or not kind.many:
            failures[name] = missing.describe_missing(name)
        else:
            skipped[name] = {"unknown": missing.unknown}
            log.warning("Skipping %s", missing.describe_missing(name))
    if failures:
        from airflow_dtcal.exceptions import DingTalkPeopleNotFoundError

        lists = any(declared[name].many for name in failures)
        hint = "; on_unknown='skip' leaves them out of lists" if lists and on_unknown == "fail" else ""
        raise DingTalkPeopleNotFoundError("ResolvePeople", 200, None, "; ".join(failures.values()) + hint)
    return Resolved(values, skipped, mapping)


class DeclaredPeople:
    r"""The people of one run of an operator or sensor that declares them (``source.people``), read from its
    ``id_type`` and ``on_unknown``: checked when made (before any request; a bad value raises
    :class:`~airflow_dtcal.core.errors.InvalidArgumentError` naming it), then :meth:`resolve`\ d through
    ``source.get_hook()``. The operator base and the sensor both use it.
    """

    def __init__(self, source: Any) -> None:
        owner = type(source).__name__
        self.source = source
        self.types = id_types(source.people, source.id_type, owner)
        self.on_unknown = unknown_rule(source.people, source.on_unknown, owner)
        #: ``{argument: checked value}``, people as given.
        self.values = check_people(source.people, source)

    def resolve(self, context: Any) -> dict[str, Any]:
        """``{argument: value}`` with people as unionIds; who was left out is pushed as the
        ``dingtalk_unresolved`` XCom, and the mapping of the people given as userIds or mobiles to their
        unionIds as the ``dingtalk_people`` XCom."""
        if not self.values:
            return {}
        resolved = resolve_people(
            self.source.people,
            self.values,
            self.types,
            self.on_unknown,
            lambda ids, id_type: self.source.get_hook().resolve_people(ids, id_type, on_unknown="skip"),
            self.source.log,
        )
        push_unresolved(context, resolved.skipped)
        push_people(context, resolved.mapping)
        return resolved.values


#: The XCom key under which a task with ``on_unknown="skip"`` pushes the people it left out.
UNRESOLVED_XCOM_KEY = "dingtalk_unresolved"


#: The XCom key under which a task given people as userIds or mobiles pushes their unionIds.
PEOPLE_XCOM_KEY = "dingtalk_people"


def _push(context: Any, key: str, value: Mapping[str, Any]) -> None:
    ti = context.get("ti") if hasattr(context, "get") else None
    push = getattr(ti, "xcom_push", None)
    if value and callable(push):
        push(key=key, value=dict(value))


def push_unresolved(context: Any, skipped: Mapping[str, Any]) -> None:
    """Push who was left out as the ``dingtalk_unresolved`` XCom (nothing when nobody was)."""
    _push(context, UNRESOLVED_XCOM_KEY, skipped)


def push_people(context: Any, mapping: Mapping[str, Mapping[str, str]]) -> None:
    """Push ``{argument: {id as given: unionId}}`` as the ``dingtalk_people`` XCom, so downstream tasks
    can join results back to HR tables (nothing when every person was given as a unionId). Its size is
    bounded by the arguments' own limits (at most 5,000 attendees an event, about 100 bytes a person)."""
    _push(context, PEOPLE_XCOM_KEY, {name: ids for name, ids in mapping.items() if ids})
