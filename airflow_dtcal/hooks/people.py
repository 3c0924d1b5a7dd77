"""People operations, each written once as a flow (:mod:`.operation`): a member by userId, a userId by
mobile or by unionId, and bulk resolution of userIds and mobiles to the unionIds the Calendar API names
people by (and of unionIds back to userIds).

The steps of a bulk resolution, the process-wide cache and the outcome are pure
(:mod:`airflow_dtcal.planning.people`); the flows here send the lookups, with requests in flight.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow_dtcal.core import calls
from airflow_dtcal.exceptions import DingTalkNotFoundError, DingTalkPeopleNotFoundError
from airflow_dtcal.hooks.operation import Context, Flow, Many, found_or_none
from airflow_dtcal.planning.people import Resolution, Resolver, check_on_unknown, normalise_mobile, shown


def get_user(ctx: Context, user_id: str) -> Flow[dict]:
    """A member of the organisation by org userId (legacy ``/topapi/v2/user/get``): ``userid``, ``unionid``,
    ``name``, ``active`` and, when the app may read them, ``mobile`` and ``email``."""
    return (yield calls.get_user(user_id))


def get_user_id_by_mobile(ctx: Context, mobile: str) -> Flow[str]:
    """The userId of the member with this mobile number (legacy ``/topapi/v2/user/getbymobile``); the
    number is normalised first (:func:`~airflow_dtcal.planning.people.normalise_mobile`)."""
    return (yield calls.get_user_by_mobile(normalise_mobile(mobile)))["userid"]


def get_user_id_by_union_id(ctx: Context, union_id: str) -> Flow[str]:
    """The org userId of the member with this unionId (legacy ``/topapi/user/getbyunionid``); an external
    contact's unionId raises :class:`~airflow_dtcal.exceptions.DingTalkNotFoundError`."""
    answer = yield calls.get_user_by_union_id(union_id)
    if answer.get("contact_type", 0) not in (0, "0"):
        raise DingTalkNotFoundError(
            "GetUserByUnionId", 200, None, "the unionId names an external contact, not a member"
        )
    return answer["userid"]


def resolve_people(
    ctx: Context,
    ids: Sequence[str],
    id_type: str = "userId",
    *,
    on_unknown: str = "fail",
    target: str = "unionId",
) -> Flow[Resolution]:
    """Resolve many userIds or mobiles to unionIds (``target="userId"``: mobiles or unionIds to userIds)
    in bulk.

    One legacy lookup per id not in this process's cache (mobiles take two: mobile -> userId ->
    unionId), up to ``max_in_flight`` in flight, paced like every call; lookups do not count toward the
    monthly quota. ``unionId`` ids are returned as they are, without a call, unless userIds are asked for.
    Mobiles are looked up normalised (:func:`~airflow_dtcal.planning.people.normalise_mobile`; a number
    that fits no rule is refused before any request) and keyed by the caller's form in the result.

    Members who have not activated DingTalk yet (``active`` false) resolve like any other and are
    logged. People DingTalk does not know (never members, or left: DingTalk answers both alike) fail the
    call with
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
    if result.not_activated:
        ctx.log.info(
            "%s of them have not activated DingTalk yet (invitable; they see invitations once they log "
            "in): %s",
            f"{len(result.not_activated):,}",
            ", ".join(shown(i, result.id_type) for i in result.not_activated[:20]),
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
    """``{mobile: userId}`` for the mobile numbers of members, keyed as given (see :meth:`resolve_people`)."""
    return (
        yield from resolve_people(ctx, mobiles, "mobile", on_unknown=on_unknown, target="userId")
    ).user_ids


def resolve_union_ids_to_user_ids(
    ctx: Context, union_ids: Sequence[str], *, on_unknown: str = "fail"
) -> Flow[dict[str, str]]:
    """``{unionId: userId}``: the org userIds of calendar people, to join results to HR tables (see
    :meth:`resolve_people`)."""
    return (
        yield from resolve_people(ctx, union_ids, "unionId", on_unknown=on_unknown, target="userId")
    ).user_ids
