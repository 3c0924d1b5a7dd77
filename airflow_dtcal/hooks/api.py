"""The escape hatch: any operation of the documented table (:mod:`airflow_dtcal.core.operations`) by name,
written once as a flow like every other operation, over the same request machinery (token, pacing,
monthly budget, retries, idempotency header where the operation takes one, bounded answers, typed errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dtcal.core.operations import build_call
from airflow_dtcal.hooks.operation import Context, Flow


def call_api(
    ctx: Context,
    operation: str,
    path_params: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
    *,
    client_token: str | None = None,
) -> Flow[Any]:
    """Send one documented DingTalk Calendar operation by its SDK name (``"ListCategories"``,
    ``"MeetingRoomRespond"``...) and return its checked answer (a dict, or None for operations that answer
    nothing).

    ``path_params`` fills the path template by wire name (``{"userId": ..., "calendarId": "primary",
    "eventId": ...}``; each value percent-encoded as one segment); ``query`` values are strings, numbers or
    booleans (sent as ``true``/``false``); ``body`` is the JSON object of a POST or PUT. ``client_token`` is
    the ``x-client-token`` of an operation that takes one (a random one when not given; refused for the
    others). An unknown operation, a missing or unexpected path parameter, or a value that is not plain
    JSON is refused naming it, before any request.
    """
    return (yield build_call(operation, path_params, query, body, client_token))
