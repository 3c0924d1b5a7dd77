"""People operations, each written once as a flow (:mod:`.operation`): a member by userId, a userId by
mobile, and bulk resolution of userIds and mobiles to the unionIds the Calendar API names people by.

The steps of a bulk resolution, the process-wide cache and the outcome are pure
(:mod:`airflow_dtcal.planning.people`); the flows here send the lookups, with requests in flight.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow_dtcal.core import calls
from airflow_dtcal.exceptions import DingTalkPeopleNotFoundError
from airflow_dtcal.hooks.operation import Context, Flow, Many, found_or_none
from airflow_dtcal.planning.people import Resolution, Resolver, check_on_unknown


def get_user(ctx: Context, user_id: str) -> Flow[dict]:
    """A member of the organisation by org userId (legacy ``/topapi/v2/user/get``): ``userid``, ``unionid``,
    ``name``, ``active`` and, when the app may read them, ``mobile`` and ``email``."""
    return (yield calls.get_user(user_id))


def get_user_id_by_mobile(ctx: Context, mobile: str) -> Flow[str]:
    """The userId of the active member with this mobile number (legacy ``/topapi/v2/user/getbymobile``)."""
    return (yield calls.get_user_by_mobile(mobile))["userid"]


def resolve_people(
    ctx: Context,
    ids: Sequence[str],
    id_type: str = "userId",
    *,
    on_unknown: str = "fail",
    target: str = "unionId",
) -> Flow[Resolution]:
    """Resolve many userIds or mobiles to unionIds (``target="userId"``: mobiles to userIds) in bulk.

    One legacy lookup per id not in this process's cache (mobiles take two: mobile -> userId ->
    unionId), up to ``max_in_flight`` in flight, paced like every call; lookups do not count toward the
    monthly quota. ``unionId`` ids are returned as they are, without a call.

    People DingTalk does not know, and members who left (``active`` false), fail the call with
    :class:`~airflow_dtcal.exceptions.DingTalkPeopleNotFoundError` naming them all (mobiles masked; Airflow
    does not retry a task that raises it), or, with ``on_unknown="skip"``, are left out of the mapping,
    listed in the result and logged.
    """
    check_on_unknown(on_unknown)
    resolver = Resolver(ids, id_type, ctx.settings.app, target=target)
    for step in resolver.steps():
        found = yield Many([found_or_none(call) for _, call in step])
        resolver.accept(step, found)
    result = resolver.result()
    resolved = len(result.union_ids if target == "unionId" else result.user_ids)
    if result.lookups or result.missing:
        ctx.log.info(
            "Resolved %s of %s %ss to %ss: %s looked up, %s from this process's cache",
            f"{resolved:,}",
            f"{resolved + len(result.missing):,}",
            result.id_type,
            target,
            f"{result.lookups:,}",
            f"{result.cached:,}",
        )
    if result.missing and on_unknown == "fail":
        raise result.error("pass on_unknown='skip' to go on without them", cls=DingTalkPeopleNotFoundError)
    if result.missing:
        ctx.log.warning("%s", result.describe_missing())
    return result


def resolve_user_ids(
    ctx: Context, user_ids: Sequence[str], *, on_unknown: str = "fail"
) -> Flow[dict[str, str]]:
    """``{userId: unionId}`` for org userIds (see :meth:`resolve_people`)."""
    return (yield from resolve_people(ctx, user_ids, "userId", on_unknown=on_unknown)).union_ids


def resolve_mobiles(
    ctx: Context, mobiles: Sequence[str], *, on_unknown: str = "fail"
) -> Flow[dict[str, str]]:
    """``{mobile: userId}`` for the mobile numbers of active members (see :meth:`resolve_people`)."""
    return (
        yield from resolve_people(ctx, mobiles, "mobile", on_unknown=on_unknown, target="userId")
    ).user_ids
