"""DingTalk-shaped errors: the body ``{"code", "message", "requestid"}`` every failure is answered with."""

from __future__ import annotations

import json
import uuid


class ApiError(Exception):
    """An error answered with the DingTalk error body ``{"code", "message", "requestid"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def invalid(message: str) -> ApiError:
    """A parameter that breaks a rule; ``message`` names the field and the rule."""
    return ApiError(400, "invalidParameter", message)


def event_not_found() -> ApiError:
    return ApiError(404, "instanceNotExist", "The event does not exist or is not visible to this user.")


def no_such_api(method: str, path: str) -> ApiError:
    return ApiError(404, "InvalidAction.NotFound", f"No API at {method} {path}")


def request_id() -> str:
    return str(uuid.uuid4()).upper()


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"code": code, "message": message, "requestid": request_id()}).encode()
