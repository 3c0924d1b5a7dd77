"""ResolveUsersOperator: turn the userIds or mobile numbers a data team holds into DingTalk unionIds.

Importing this module is cheap: the hook and ``requests`` are imported when the task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal.operators.arguments import one_of, push_unresolved
from airflow_dtcal.operators.base import DingTalkBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context, XComArg

RETURNS = ("mapping", "list")


#: The conversions the operator makes: ``(id_type, to)``.
CONVERSIONS = (("userId", "unionId"), ("mobile", "unionId"), ("mobile", "userId"), ("unionId", "userId"))


class ResolveUsersOperator(DingTalkBaseOperator):
    """Resolve org userIds (or mobiles) to unionIds in bulk, or unionIds back to userIds; return the
    mapping for downstream tasks.

    One contacts lookup per id this process has not resolved in the last hour (mobiles take two), up to
    ``max_in_flight`` in flight and paced; lookups do not count toward the monthly API quota. The other
    operators resolve ids themselves (their ``id_type`` argument); use this one to resolve once for several
    tasks, to hand the unionIds to your own code, or to join calendar results (attendees, check-ins, all
    by unionId) back to HR tables keyed by userId (``id_type="unionId", to="userId"``, legacy
    ``topapi/user/getbyunionid``).

    Mobiles are normalised before lookup (spaces, dashes, parentheses and a ``+86``/``0086`` prefix go;
    other countries need ``+CC-NUMBER``; see :func:`~airflow_dtcal.planning.people.normalise_mobile`) and
    keyed in the mapping as given. Members who have not activated DingTalk yet resolve like any other.

    :param ids: the userIds, mobiles or unionIds to resolve, e.g. an upstream task's ``.output``.
        (templated)
    :param id_type: ``"userId"`` (default), ``"mobile"`` or ``"unionId"``.
    :param to: ``"unionId"`` (default), or ``"userId"`` to turn mobiles or unionIds into userIds.
    :param returns: ``"mapping"`` (default) returns ``{id: resolved id}`` in the order given; ``"list"``
        returns the resolved ids alone, in that order, ready for ``attendees=``.
    :param on_unknown: ``"fail"`` (default) fails the task naming every id DingTalk does not know (never a
        member, or left: DingTalk answers both alike); ``"skip"`` leaves them out, logs them and pushes
        them as the ``dingtalk_unresolved`` XCom (``{"ids": {"unknown": [...]}}``).
    """

    template_fields: Sequence[str] = ("ids", "dingtalk_conn_id")
    rules = {
        "id_type": one_of("userId", "mobile", "unionId"),
        "to": one_of("unionId", "userId"),
        "returns": one_of(*RETURNS),
        "on_unknown": one_of("fail", "skip"),
    }

    def __init__(
        self,
        *,
        ids: list[str] | str | XComArg,
        id_type: str = "userId",
        to: str = "unionId",
        returns: str = "mapping",
        on_unknown: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.ids = ids
        self.id_type = id_type
        self.to = to
        self.returns = returns
        self.on_unknown = on_unknown

    def run_task(self, context: Context) -> dict[str, str] | list[str]:
        from airflow_dtcal.core.errors import InvalidArgumentError
        from airflow_dtcal.exceptions import invalid_arguments as _arguments
        from airflow_dtcal.planning.people import distinct_ids

        on_unknown = self.check_arguments()["on_unknown"]
        with _arguments():
            if (self.id_type, self.to) not in CONVERSIONS:
                raise InvalidArgumentError(
                    "to",
                    "must differ from id_type: userId and mobile go to unionId, mobile and unionId to userId",
                    self.to,
                )
            ids = distinct_ids(self.ids, self.id_type)
        resolution = self.get_hook().resolve_people(ids, self.id_type, on_unknown="skip", target=self.to)
        mapping = resolution.union_ids if self.to == "unionId" else resolution.user_ids
        if resolution.missing and on_unknown == "fail":
            from airflow_dtcal.exceptions import DingTalkPeopleNotFoundError

            message = resolution.describe_missing("ids") + "; on_unknown='skip' leaves them out"
            raise DingTalkPeopleNotFoundError("ResolvePeople", 200, None, message)
        if resolution.missing:
            push_unresolved(context, {"ids": {"unknown": resolution.unknown}})
        self.log.info(
            "Resolved %d %ss to %ss (%d skipped)",
            len(mapping),
            self.id_type,
            self.to,
            len(resolution.missing),
        )
        return dict(mapping) if self.returns == "mapping" else list(mapping.values())
