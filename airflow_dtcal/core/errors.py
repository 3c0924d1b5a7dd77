"""The errors of this provider, pure: no Airflow import, so the core and the domain logic can raise them.

```
InvalidArgumentError (ValueError)     a value breaks a rule of the DingTalk contract: .field, .rule
DingTalkError (Exception)
├── DingTalkConfigurationError        connection / hook arguments unusable (no request sent)
├── DingTalkInvalidArgumentError      bad input from the DAG (airflow_dtcal.exceptions: also an
│                                     InvalidArgumentError and an AirflowFailException, so Airflow does
│                                     not retry the task)
├── DingTalkTransportError            connection refused / reset, timeout, DNS, TLS (retryable unless DNS/TLS)
└── DingTalkAPIError                  DingTalk answered with an error: .status, .code, .message, .request_id
    ├── DingTalkAnswerError           the answer is unusable: too large, not the expected shape, endless pages
    ├── DingTalkInvalidParameterError 400 that is not about auth
    │   └── DingTalkSyncTokenExpiredError  a ListEvents syncToken DingTalk no longer accepts (list in full)
    ├── DingTalkAuthError             bad credentials, bad/expired/revoked token
    ├── DingTalkPermissionError       the app lacks a scope, or the user may not do this
    ├── DingTalkNotFoundError         404 / *NotExist* / *notFound* codes
    ├── DingTalkQuotaExceededError    monthly org quota (not retryable)
    ├── DingTalkRateLimitError        QPS throttling, 429 (retryable; .retry_after)
    ├── DingTalkBannedError           IP ban page or non-JSON answer (retryable; .retry_after)
    └── DingTalkServerError           5xx (retryable)
```

Import them from :mod:`airflow_dtcal.exceptions`, which adds the Airflow-facing
``DingTalkInvalidArgumentError``.
"""

from __future__ import annotations

from typing import Any


class InvalidArgumentError(ValueError):
    """A value a DAG author passed breaks a rule of the DingTalk contract.

    ``field`` names the argument (e.g. ``"end"`` or ``"attendees[3]"``), ``rule`` says what is required.
    """

    def __init__(self, field: str, rule: str, value: Any = ...):
        self.field = field
        self.rule = rule
        message = f"{field}: {rule}"
        if value is not ...:
            shown = repr(value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            message += f" (got {shown})"
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_invalid_argument, (type(self), self.field, self.rule, str(self)))


def _rebuild_invalid_argument(cls, field, rule, message):
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.field, error.rule = field, rule
    return error


class DingTalkError(Exception):
    """Base class of every error this provider raises."""

    retryable = False


class DingTalkConfigurationError(DingTalkError, ValueError):
    """The Airflow connection or the hook's arguments cannot work; raised before any request."""


class DingTalkConcurrentRunError(DingTalkError):
    """Another run wrote the same thing at the same time (two runs of one export interval) and this run lost:
    it kept nothing of its own. Retrying it is safe; it then runs again from the start."""

    retryable = True


class DingTalkMonthlyBudgetError(DingTalkError):
    """The task would spend more of the month's DingTalk calls than ``monthly_budget`` leaves; raised before
    any request."""


class DingTalkTransportError(DingTalkError):
    """The request did not get an HTTP answer (refused, reset, timed out, DNS or TLS failure)."""

    def __init__(self, operation: str, detail: str, *, retryable: bool = True):
        self.operation = operation
        self.detail = detail
        self.retryable = retryable
        super().__init__(f"DingTalk {operation}: {detail}")

    def __reduce__(self):
        return (_rebuild_transport_error, (type(self), self.operation, self.detail, self.retryable))


def _rebuild_transport_error(cls, operation, detail, retryable):
    return cls(operation, detail, retryable=retryable)


class DingTalkAPIError(DingTalkError):
    """DingTalk answered ``{code, message, requestid}`` (or something that is not an answer at all)."""

    def __init__(
        self,
        operation: str,
        status: int,
        code: str | None,
        message: str | None,
        request_id: str | None = None,
        *,
        retry_after: float | None = None,
    ):
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        text = f"DingTalk {operation} failed: HTTP {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if request_id:
            text += f" (requestid {request_id})"
        super().__init__(text)

    def __reduce__(self):
        return (
            _rebuild_api_error,
            (
                type(self),
                self.operation,
                self.status,
                self.code,
                self.message,
                self.request_id,
                self.retry_after,
            ),
        )


def _rebuild_api_error(cls, operation, status, code, message, request_id, retry_after):
    return cls(operation, status, code, message, request_id, retry_after=retry_after)


class DingTalkAnswerError(DingTalkAPIError):
    """The answer cannot be used: larger than ``max_answer_bytes``, not the shape the operation returns,
    a token that is not header-safe, or pages that never end. Not retried: a server that answers so
    once will usually do it again, and every retry spends the monthly call budget."""


class DingTalkInvalidParameterError(DingTalkAPIError):
    """DingTalk rejected a parameter."""


class DingTalkSyncTokenExpiredError(DingTalkInvalidParameterError):
    """DingTalk refused a ListEvents ``syncToken`` (expired, or not one it issued for this calendar).

    Not retried: the caller lists the calendar again without a token (a full resync) and keeps the new one.
    DingTalk documents no code for this; any 400 or 410 whose code or message names the sync token is one.
    """


class DingTalkAuthError(DingTalkAPIError):
    """Bad App Key / App Secret, or a bad, expired or revoked access token."""


class DingTalkPermissionError(DingTalkAPIError):
    """The app lacks a permission scope, or the user may not act on this event."""


class DingTalkNotFoundError(DingTalkAPIError):
    """The event (or user's copy of it) does not exist."""


class DingTalkQuotaExceededError(DingTalkAPIError):
    """The organisation's monthly API quota is spent; retrying will not help until it resets."""


class DingTalkRateLimitError(DingTalkAPIError):
    """Throttled (QPS limit per app and API, global QPS limit, or HTTP 429)."""

    retryable = True


class DingTalkBannedError(DingTalkAPIError):
    """DingTalk answered with a ban page or non-JSON body (e.g. the per-IP limit); retried after a wait."""

    retryable = True


class DingTalkServerError(DingTalkAPIError):
    """DingTalk failed on its side (5xx)."""

    retryable = True
