"""The legacy contacts endpoints DingTalk serves on ``oapi.dingtalk.com`` (served here on the same port):

* ``POST /topapi/v2/user/get`` with ``{"userid": ...}``: a user's details, unionid included;
* ``POST /topapi/v2/user/getbymobile`` with ``{"mobile": ...}``: the userid of the member with that mobile,
  matched exactly as stored (DingTalk stores mainland numbers as 11 digits, others as ``+CC-NUMBER``);
* ``POST /topapi/user/getbyunionid`` with ``{"unionid": ...}``: ``{"contact_type": 0, "userid"}``.

The directory holds the organisation's members: ``active`` is whether the person has activated DingTalk
(logged in at least once), not whether they still work there; a not-yet-activated member is found by all
three. People who left are no longer in the directory: every lookup answers 60121 (the emulator's
``remove_users`` models a departure).

They read the token from the ``access_token`` query parameter, answer HTTP 200 with the legacy shape
``{"errcode", "errmsg", ...}`` (errcode 0 on success), have their own QPS windows and are not counted
against the monthly quota. Functions here run with ``state.lock`` held.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_dtcal.testing.emulator import access, directory
from airflow_dtcal.testing.emulator.errors import ApiError, request_id
from airflow_dtcal.testing.emulator.messages import Reply, Request
from airflow_dtcal.testing.emulator.state import State

INVALID_TOKEN = 40014
INVALID_PARAMETER = 40035
USER_NOT_FOUND = 60121
QPS_LIMIT = 90018


class LegacyError(Exception):
    """An error answered with HTTP 200 and ``{"errcode", "errmsg", "request_id"}``."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


def legacy_reply(errcode: int, errmsg: str, **fields: Any) -> Reply:
    body = {"errcode": errcode, "errmsg": errmsg, **fields, "request_id": request_id().lower()}
    return Reply(200, json.dumps(body, ensure_ascii=False).encode())


def _string(body: Any, name: str) -> str:
    if not isinstance(body, dict):
        raise LegacyError(INVALID_PARAMETER, "不合法的参数: the request body must be a JSON object")
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise LegacyError(
            INVALID_PARAMETER, f"不合法的参数: {name} is required and must be a non-empty string"
        )
    return value


def get_user(state: State, body: Any) -> dict:
    user = state.users.get(_string(body, "userid"))
    if user is None:
        raise LegacyError(USER_NOT_FOUND, "找不到该用户")
    result = {"userid": user["userId"], "unionid": user["unionId"], "name": user["name"] or ""}
    if user["mobile"] is not None:
        result["mobile"] = user["mobile"]
    result["active"] = user["active"]
    return result


def get_user_by_mobile(state: State, body: Any) -> dict:
    user = directory.by_mobile(state, _string(body, "mobile"))
    if user is None:  # members only (people who left are no longer in the directory), activated or not
        raise LegacyError(USER_NOT_FOUND, "找不到该用户")
    return {"userid": user["userId"]}


def get_user_by_union_id(state: State, body: Any) -> dict:
    user = directory.by_union_id(state, _string(body, "unionid"))
    if user is None:
        raise LegacyError(USER_NOT_FOUND, "找不到该用户")
    return {"contact_type": 0, "userid": user["userId"]}


HANDLERS = {
    "GetUser": get_user,
    "GetUserByMobile": get_user_by_mobile,
    "GetUserByUnionId": get_user_by_union_id,
}


def answer(state: State, op: str, request: Request, body: Any, body_error: ApiError | None) -> Reply:
    """Answer one legacy call (caller holds ``state.lock``)."""
    try:
        token = request.query.get("access_token")
        app = access.app_of_token(state, token) if token else None
        if app is None:
            raise LegacyError(INVALID_TOKEN, "不合法的access_token")
        if not access.within_qps(state, app, op):
            state.counters["throttled"][op] += 1
            raise LegacyError(QPS_LIMIT, "禁止调用: 当前应用调用该接口的频率超过了限制 (QPS limit)")
        if body_error is not None:
            raise LegacyError(INVALID_PARAMETER, f"不合法的参数: {body_error.message}")
        result = HANDLERS[op](state, body)
    except LegacyError as err:
        state.counters["errors"][op] += 1
        return legacy_reply(err.errcode, err.errmsg)
    return legacy_reply(0, "ok", result=result)
