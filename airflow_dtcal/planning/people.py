"""People by the ids a data team holds: org userIds and mobile numbers, resolved to calendar unionIds.

The Calendar API names every person by unionId; HR rosters and org syncs hold userIds and mobiles. Legacy
contacts lookups convert them, one id per call (:func:`~airflow_dtcal.core.calls.get_user`,
:func:`~airflow_dtcal.core.calls.get_user_by_mobile`, and back: :func:`~airflow_dtcal.core.calls.get_user_by_union_id`). This module is the pure part of a bulk resolution:

* :class:`Resolver` says which lookups one resolution still needs (the cache answers the rest) and what
  their answers mean; the hook runs the lookups with requests in flight, paced;
* :class:`DirectoryCache` (:data:`DIRECTORY`): what earlier lookups of this process found, per app, bounded
  (least recently used out) and for :data:`CACHE_TTL` seconds, since people leave and mobiles change hands;
* :class:`Resolution`: the outcome: ``{id: unionId}`` (or ``{id: userId}``) for the members found, and the
  ids that are ``unknown``.

What DingTalk's answers mean (its contacts docs, ``topapi/v2/user/get``): ``active`` is whether the person
has **activated DingTalk** (logged in at least once), not whether they still work there. A new hire added
to the directory who has not logged in yet reads ``active: false`` and is a member like any other: they
resolve, and can be invited (:attr:`Resolution.not_activated` lists them). A person who left is removed
from the directory: every lookup of them answers 60121 (no such user), exactly like an id that never
existed, so both are reported as ``unknown``; DingTalk's answers cannot tell them apart.

Mobiles are looked up as DingTalk stores them (:func:`normalise_mobile`), and reported in the caller's
form. Mobile numbers are personal data: messages and logs show them masked (``138****0000``).
"""

from __future__ import annotations

import re
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


#: Separators people write inside phone numbers; dropped before lookup.
_SEPARATORS = re.compile(r"[\s\-().\u00a0]+")
_MAINLAND = re.compile(r"1\d{10}")
_COUNTRY = re.compile(r"\+?(\d{1,3})")
MOBILE_RULE = (
    "must be a mainland mobile (11 digits starting with 1, optionally after +86 or 0086) or an "
    "international number written +CC-NUMBER or +CC NUMBER (country code, then a separator); spaces, "
    "dashes, dots and parentheses are ignored"
)


def normalise_mobile(value: str, field_name: str = "mobile") -> str:
    """A mobile number in the form DingTalk stores and looks it up.

    The rule: spaces, dashes, dots and parentheses are dropped; a mainland number (``+86``, ``0086`` or
    ``86-`` followed by 11 digits starting with 1, or those 11 digits alone) becomes the 11 digits
    (``+86 139-7619-3331`` -> ``13976193331``); any other number starting with ``+`` or ``00`` becomes
    ``+CC-NUMBER``, DingTalk's documented form for international numbers, which needs the country code
    to be marked off by a separator (``+852 9123 4567`` -> ``+852-91234567``): without one the country
    code cannot be told from the number, and the number is refused rather than guessed. Anything else that
    is not all digits is refused (:class:`InvalidArgumentError` naming ``field_name``, number masked).
    """
    raw = require_id(value, field_name)
    compact = _SEPARATORS.sub("", raw)
    for prefix in ("+86", "0086", "86"):
        rest = compact[len(prefix) :]
        if compact.startswith(prefix) and _MAINLAND.fullmatch(rest):
            return rest
    if _MAINLAND.fullmatch(compact):
        return compact
    international = raw.strip()
    if international.startswith("00"):
        international = "+" + international[2:]
    if international.startswith("+"):
        head = _COUNTRY.match(international)
        if head is not None:
            rest = international[head.end() :]
            number = _SEPARATORS.sub("", rest)
            if rest[:1] and _SEPARATORS.match(rest[:1]) and number.isdigit() and 4 <= len(number) <= 14:
                return f"+{head.group(1)}-{number}"
    elif compact.isdigit() and 4 <= len(compact) <= 15:
        return compact
    raise InvalidArgumentError(field_name, MOBILE_RULE, mask_mobile(compact))


def shown(value: str, id_type: str) -> str:
    """An id as messages and logs show it (mobiles masked)."""
    return repr(mask_mobile(value) if id_type == MOBILE else value)


def distinct_ids(ids: Any, id_type: str, field_name: str = "ids") -> list[str]:
    """The ids to resolve, validated (a list of non-empty strings), stripped, duplicates dropped, in order."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable) or isinstance(ids, Mapping):
        raise InvalidArgumentError(field_name, f"must be a list of {id_type}s", ids)
    seen: dict[str, None] = {}
    for index, value in enumerate(ids):
        checked = require_id(value, f"{field_name}[{index}]")
        if id_type == MOBILE:
            normalise_mobile(checked, f"{field_name}[{index}]")
        seen.setdefault(checked, None)
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

    :ivar union_ids: ``{id: unionId}`` for every id that names a member, in the order asked (empty when
        userIds were asked for).
    :ivar user_ids: ``{id: userId}`` for the same ids (for ``unionId`` input: filled only when userIds
        were asked for).
    :ivar unknown: ids DingTalk does not know: never members, or people who left (DingTalk answers both
        alike), and mobiles or unionIds of external contacts.
    :ivar not_activated: ids of members who have not activated DingTalk yet (``active`` false): resolved
        and invitable; they see the invitation once they log in.
    :ivar lookups: lookups sent to DingTalk; ``cached``: ids the process cache answered.
    """

    id_type: str
    union_ids: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    not_activated: list[str] = field(default_factory=list)
    lookups: int = 0
    cached: int = 0

    @property
    def missing(self) -> list[str]:
        """Every id that did not resolve."""
        return list(self.unknown)

    def describe_missing(self, argument: str | None = None) -> str:
        """``2 userIds not in the organisation's directory (never members, or left): 'u-x', 'u-y'``."""
        ids = self.unknown
        named = ", ".join(shown(i, self.id_type) for i in ids[:MAX_NAMED])
        more = f" and {len(ids) - MAX_NAMED:,} more" if len(ids) > MAX_NAMED else ""
        where = f"{argument}: " if argument else ""
        count = len(ids)
        return (
            f"{where}{count:,} {self.id_type}{'s' if count != 1 else ''} not in the organisation's "
            f"directory (never members, or left): {named}{more}"
        )

    def error(
        self,
        hint: str = "",
        argument: str | None = None,
        cls: type[E] = DingTalkNotFoundError,  # type: ignore[assignment]
    ) -> E:
        """The error naming every id that did not resolve (``cls``: a DingTalkNotFoundError class)."""
        message = self.describe_missing(argument) + (f" ({hint})" if hint else "")
        operation = {MOBILE: "GetUserByMobile", UNION_ID: "GetUserByUnionId"}.get(self.id_type, "GetUser")
        return cls(operation, 200, None, message)


class Resolver:
    """The pure steps of one bulk resolution; the hook sends the lookups each step asks for.

    ``mobile`` ids take two steps (mobile -> userId, then userId -> unionId), ``userId`` ids one,
    ``unionId`` ids none (or one, unionId -> userId, with ``target="userId"``)::

        resolver = Resolver(ids, "mobile", settings.app)
        for step in resolver.steps():          # a list of (id, Call) per step; may be empty
            answers = run_many(lookup, [call for _, call in step])   # None where DingTalk found nobody
            resolver.accept(step, answers)
        resolution = resolver.result()

    Mobiles are looked up in DingTalk's form (:func:`normalise_mobile`) and reported in the caller's.
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
        if target not in (UNION_ID, USER_ID):
            raise InvalidArgumentError("target", "must be 'unionId' or 'userId'", target)
        self.target = target
        self.ids = distinct_ids(ids, self.id_type, field_name)
        self.app = app
        self.cache = cache
        self._result = Resolution(self.id_type)
        self._lookup_of = {value: self._lookup_form(value) for value in self.ids}
        self._user_of: dict[str, str] = {}  # lookup form -> userId, once known
        self._union_of_user: dict[str, str] = {}  # userId -> unionId (members)
        self._not_activated: set[str] = set()  # userIds
        self._unknown: set[str] = set()  # lookup forms
        if self.id_type == USER_ID:
            self._user_of.update((value, value) for value in self.ids)

    def _lookup_form(self, value: str) -> str:
        return normalise_mobile(value) if self.id_type == MOBILE else value

    def steps(self) -> Iterable[list[tuple[str, Call]]]:
        lookups = list(dict.fromkeys(self._lookup_of.values()))
        if self.id_type == UNION_ID:
            if self.target == USER_ID:
                yield self._lookups(lookups, "union", calls.get_user_by_union_id, self._user_of)
            return
        if self.id_type == MOBILE:
            yield self._lookups(lookups, "mobile", calls.get_user_by_mobile, self._user_of)
            if self.target == USER_ID:  # getbymobile finds members only: nothing more to check
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
            if call.operation in ("GetUserByMobile", "GetUserByUnionId"):
                # contact_type 1 is an external contact: not a member, no org userId to join on
                if answer is None or answer.get("contact_type", 0) not in (0, "0"):
                    self._unknown.add(value)
                else:
                    kind = "mobile" if call.operation == "GetUserByMobile" else "union"
                    self._user_of[value] = answer["userid"]
                    self.cache.put((self.app, kind, value), answer["userid"])
            elif answer is None:
                self._unknown_user(value)
            else:
                if answer.get("active", True) is False:
                    self._not_activated.add(value)
                self._union_of_user[value] = answer["unionid"]
                self.cache.put((self.app, "user", value), answer["unionid"])

    def _unknown_user(self, user_id: str) -> None:
        for value, user in self._user_of.items():
            if user == user_id:
                self._unknown.add(value)

    def result(self) -> Resolution:
        result = self._result
        for value in self.ids:
            key = self._lookup_of[value]
            if self.id_type == UNION_ID and self.target == UNION_ID:
                result.union_ids[value] = value
                continue
            user_id = self._user_of.get(key)
            if key in self._unknown or user_id is None:
                result.unknown.append(value)
                continue
            if user_id in self._not_activated:
                result.not_activated.append(value)
            if self.target == USER_ID:
                result.user_ids[value] = user_id
                if self.id_type == UNION_ID:
                    result.union_ids[value] = value
            elif user_id in self._union_of_user:
                result.user_ids[value] = user_id
                result.union_ids[value] = self._union_of_user[user_id]
            else:  # pragma: no cover - every step's answers were accepted
                raise AssertionError(f"no answer recorded for {shown(value, self.id_type)}")
        return result
