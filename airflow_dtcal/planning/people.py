"""People by the ids a data team holds: org userIds and mobile numbers, resolved to calendar unionIds.

The Calendar API names every person by unionId; HR rosters and org syncs hold userIds and mobiles. Two
legacy contacts lookups convert them, one id per call (:func:`~airflow_dtcal.core.calls.get_user`,
:func:`~airflow_dtcal.core.calls.get_user_by_mobile`). This module is the pure part of a bulk resolution:

* :class:`Resolver` says which lookups one resolution still needs (the cache answers the rest) and what
  their answers mean; the hook runs the lookups with requests in flight, paced;
* :class:`DirectoryCache` (:data:`DIRECTORY`): what earlier lookups of this process found, per app, bounded
  (least recently used out) and for :data:`CACHE_TTL` seconds, since people leave and mobiles change hands;
* :class:`Resolution`: the outcome: ``{id: unionId}`` for the active members found, and the ids that are
  ``unknown`` (not in the directory) or ``departed`` (in it, but no longer active).

Mobile numbers are personal data: messages and logs show them masked (``138****0000``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_dtcal.core import calls
from airflow_dtcal.core.calls import Call
from airflow_dtcal.core.errors import DingTalkNotFoundError, InvalidArgumentError
from airflow_dtcal.core.ids import require_id

E = TypeVar("E", bound=DingTalkNotFoundError)

UNION_ID, USER_ID, MOBILE = "unionId", "userId", "mobile"
ID_TYPES = (UNION_ID, USER_ID, MOBILE)
ON_UNKNOWN = ("fail", "skip")
#: Entries the process-wide cache keeps (about 200 bytes each), and for how many seconds.
CACHE_SIZE = 100_000
CACHE_TTL = 3600.0
#: How many unresolved ids an error message names before it says "and N more".
MAX_NAMED = 20


def found_or_none(run: Callable[[Call], Any], call: Call) -> dict | None:
    """``run(call)``'s answer, or None when DingTalk knows no such person (other errors propagate)."""
    try:
        return run(call)
    except DingTalkNotFoundError:
        return None


async def afound_or_none(arun: Callable[[Call], Awaitable[Any]], call: Call) -> dict | None:
    """Async :func:`found_or_none`."""
    try:
        return await arun(call)
    except DingTalkNotFoundError:
        return None


def check_id_type(value: Any, field_name: str = "id_type") -> str:
    if value not in ID_TYPES:
        raise InvalidArgumentError(field_name, f"must be one of {', '.join(ID_TYPES)}", value)
    return value


def check_on_unknown(value: Any, field_name: str = "on_unknown") -> str:
    if value not in ON_UNKNOWN:
        raise InvalidArgumentError(field_name, "must be 'fail' or 'skip'", value)
    return value


def mask_mobile(mobile: str) -> str:
    """``13800001234`` -> ``138****1234``: enough to tell numbers apart, not enough to call someone."""
    if len(mobile) <= 7:
        return "*" * len(mobile)
    return f"{mobile[:3]}{'*' * (len(mobile) - 7)}{mobile[-4:]}"


def shown(value: str, id_type: str) -> str:
    """An id as messages and logs show it (mobiles masked)."""
    return repr(mask_mobile(value) if id_type == MOBILE else value)


def distinct_ids(ids: Any, id_type: str, field_name: str = "ids") -> list[str]:
    """The ids to resolve, validated (a list of non-empty strings), stripped, duplicates dropped, in order."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable) or isinstance(ids, Mapping):
        raise InvalidArgumentError(field_name, f"must be a list of {id_type}s", ids)
    seen: dict[str, None] = {}
    for index, value in enumerate(ids):
        seen.setdefault(require_id(value, f"{field_name}[{index}]"), None)
    return list(seen)


class DirectoryCache:
    """``(app, kind, id) -> value`` for :data:`CACHE_TTL` seconds, at most :data:`CACHE_SIZE` entries, the
    least recently used dropped first. Only what DingTalk found is kept: an unknown id is asked again next
    time (a new hire may have joined since). Thread-safe; shared by every hook of the process."""

    def __init__(self, size: int = CACHE_SIZE, ttl: float = CACHE_TTL) -> None:
        self.size = size
        self.ttl = ttl
        self._entries: OrderedDict[tuple, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() >= entry[1]:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: tuple, value: str) -> None:
        with self._lock:
            self._entries[key] = (value, time.monotonic() + self.ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: The process-wide cache of userId -> unionId and mobile -> userId, per app.
DIRECTORY = DirectoryCache()


def clear_directory_cache() -> None:
    """Forget every userId and mobile this process resolved (tests, or after people changed)."""
    DIRECTORY.clear()


@dataclass
class Resolution:
    """The outcome of resolving ``ids`` of one ``id_type``.

    :ivar union_ids: ``{id: unionId}`` for every id that names an active member, in the order asked
        (empty when only userIds were asked for).
    :ivar user_ids: ``{id: userId}`` for the same ids (for ``unionId`` input: empty, nothing was looked up).
    :ivar unknown: ids DingTalk does not know (for mobiles: also the numbers of people who left).
    :ivar departed: userIds of members who are no longer active.
    :ivar lookups: lookups sent to DingTalk; ``cached``: ids the process cache answered.
    """

    id_type: str
    union_ids: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    departed: list[str] = field(default_factory=list)
    lookups: int = 0
    cached: int = 0

    @property
    def missing(self) -> list[str]:
        """Every id that did not resolve (unknown, then departed)."""
        return [*self.unknown, *self.departed]

    def describe_missing(self, argument: str | None = None) -> str:
        """``2 userIds are not active members: unknown 'u-x'; departed 'u-y'`` (mobiles masked)."""
        parts = []
        for label, ids in (("unknown", self.unknown), ("departed", self.departed)):
            if ids:
                named = ", ".join(shown(i, self.id_type) for i in ids[:MAX_NAMED])
                more = f" and {len(ids) - MAX_NAMED:,} more" if len(ids) > MAX_NAMED else ""
                parts.append(f"{label} {named}{more}")
        where = f"{argument}: " if argument else ""
        count = len(self.missing)
        return (
            f"{where}{count:,} {self.id_type}{'s' if count != 1 else ''} not active in the organisation's "
            f"directory: {'; '.join(parts)}"
        )

    def error(
        self,
        hint: str = "",
        argument: str | None = None,
        cls: type[E] = DingTalkNotFoundError,  # type: ignore[assignment]
    ) -> E:
        """The error naming every id that did not resolve (``cls``: a DingTalkNotFoundError class)."""
        message = self.describe_missing(argument) + (f" ({hint})" if hint else "")
        operation = "GetUserByMobile" if self.id_type == MOBILE else "GetUser"
        return cls(operation, 200, None, message)


class Resolver:
    """The pure steps of one bulk resolution; the hook sends the lookups each step asks for.

    ``mobile`` ids take two steps (mobile -> userId, then userId -> unionId), ``userId`` ids one,
    ``unionId`` ids none::

        resolver = Resolver(ids, "mobile", settings.app)
        for step in resolver.steps():          # a list of (id, Call) per step; may be empty
            answers = run_many(lookup, [call for _, call in step])   # None where DingTalk found nobody
            resolver.accept(step, answers)
        resolution = resolver.result()
    """

    def __init__(
        self,
        ids: Any,
        id_type: str,
        app: tuple,
        *,
        target: str = UNION_ID,
        cache: DirectoryCache = DIRECTORY,
        field_name: str = "ids",
    ) -> None:
        self.id_type = check_id_type(id_type)
        if target not in (UNION_ID, USER_ID) or (target == USER_ID and self.id_type == UNION_ID):
            raise InvalidArgumentError(
                "target", "must be 'unionId', or 'userId' for userIds and mobiles", target
            )
        self.target = target
        self.ids = distinct_ids(ids, self.id_type, field_name)
        self.app = app
        self.cache = cache
        self._result = Resolution(self.id_type)
        self._user_of: dict[str, str] = {}  # input id -> userId, once known
        self._union_of_user: dict[str, str] = {}  # userId -> unionId (active members)
        self._departed_users: set[str] = set()
        self._unknown: set[str] = set()  # input ids
        if self.id_type == USER_ID:
            self._user_of.update((value, value) for value in self.ids)

    def steps(self) -> Iterable[list[tuple[str, Call]]]:
        if self.id_type == UNION_ID:
            return
        if self.id_type == MOBILE:
            yield self._lookups(self.ids, "mobile", calls.get_user_by_mobile, self._user_of)
            if self.target == USER_ID:  # getbymobile finds active members only: nothing more to check
                return
        user_ids = list(dict.fromkeys(self._user_of.values()))
        yield self._lookups(user_ids, "user", calls.get_user, self._union_of_user)

    def _lookups(
        self, ids: list[str], kind: str, build: Any, known: dict[str, str]
    ) -> list[tuple[str, Call]]:
        pending = []
        for value in ids:
            cached = self.cache.get((self.app, kind, value))
            if cached is None:
                pending.append((value, build(value)))
            else:
                known[value] = cached
                self._result.cached += 1
        return pending

    def accept(self, step: list[tuple[str, Call]], answers: list[dict | None]) -> None:
        """Record a step's answers: a legacy ``result`` dict, or None where DingTalk found nobody."""
        for (value, call), answer in zip(step, answers, strict=True):
            self._result.lookups += 1
            if call.operation == "GetUserByMobile":
                if answer is None:
                    self._unknown.add(value)
                else:
                    self._user_of[value] = answer["userid"]
                    self.cache.put((self.app, "mobile", value), answer["userid"])
            elif answer is None:
                self._unknown_user(value)
            elif answer.get("active", True) is False:
                self._departed_users.add(value)
            else:
                self._union_of_user[value] = answer["unionid"]
                self.cache.put((self.app, "user", value), answer["unionid"])

    def _unknown_user(self, user_id: str) -> None:
        for value, user in self._user_of.items():
            if user == user_id:
                self._unknown.add(value)

    def result(self) -> Resolution:
        result = self._result
        for value in self.ids:
            if self.id_type == UNION_ID:
                result.union_ids[value] = value
                continue
            user_id = self._user_of.get(value)
            if value in self._unknown or user_id is None:
                result.unknown.append(value)
            elif user_id in self._departed_users:
                result.departed.append(value)
            elif self.target == USER_ID and self.id_type == MOBILE:
                result.user_ids[value] = user_id
            elif user_id in self._union_of_user:
                result.user_ids[value] = user_id
                result.union_ids[value] = self._union_of_user[user_id]
            else:  # pragma: no cover - every step's answers were accepted
                raise AssertionError(f"no answer recorded for {shown(value, self.id_type)}")
        return result
