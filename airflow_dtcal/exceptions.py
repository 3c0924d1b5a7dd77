"""The exceptions the hook and operators raise: every failure is a :class:`DingTalkError`.

```
DingTalkError
├── DingTalkConfigurationError        connection / hook arguments unusable (no request sent)
├── DingTalkConcurrentRunError        another run of the same export interval won the race (retry is safe)
├── DingTalkInvalidArgumentError      bad input from the DAG (also an InvalidArgumentError / ValueError;
│                                     an AirflowFailException, so Airflow does not retry the task)
├── DingTalkMonthlyBudgetError        the task would spend more than ``monthly_budget`` leaves (no request sent)
├── DingTalkTransportError            connection refused / reset, timeout, DNS, TLS (retryable unless DNS/TLS)
└── DingTalkAPIError                  DingTalk answered with an error: .status, .code, .message, .request_id
    ├── DingTalkAnswerError           the answer is unusable: too large, not the expected shape, endless pages
    ├── DingTalkInvalidParameterError 400 that is not about auth
    │   └── DingTalkSyncTokenExpiredError  a ListEvents syncToken DingTalk no longer accepts (list in full)
    ├── DingTalkAuthError             bad credentials, bad/expired/revoked token
    ├── DingTalkPermissionError       the app lacks a scope, or the user may not do this
    ├── DingTalkNotFoundError         404 / *NotExist* / *notFound* codes
    │   └── DingTalkPeopleNotFoundError  userIds / mobiles not in the directory (an AirflowFailException)
    ├── DingTalkQuotaExceededError    monthly org quota (not retryable)
    ├── DingTalkRateLimitError        QPS throttling, 429 (retryable; .retry_after)
    ├── DingTalkBannedError           IP ban page or non-JSON answer (retryable; .retry_after)
    └── DingTalkServerError           5xx (retryable)
```

The hierarchy itself lives in :mod:`airflow_dtcal.core.errors`, which imports no Airflow (the pure core and
the domain logic raise it); this module adds the one class that must also be an Airflow exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow_dtcal.compat import AirflowFailException
from airflow_dtcal.core.errors import (
    DingTalkAnswerError,
    DingTalkAPIError,
    DingTalkAuthError,
    DingTalkBannedError,
    DingTalkConcurrentRunError,
    DingTalkConfigurationError,
    DingTalkError,
    DingTalkInvalidParameterError,
    DingTalkMonthlyBudgetError,
    DingTalkNotFoundError,
    DingTalkPermissionError,
    DingTalkQuotaExceededError,
    DingTalkRateLimitError,
    DingTalkServerError,
    DingTalkSyncTokenExpiredError,
    DingTalkTransportError,
    InvalidArgumentError,
    _rebuild_invalid_argument,
)


class DingTalkInvalidArgumentError(InvalidArgumentError, AirflowFailException, DingTalkError):
    """A DAG argument breaks a DingTalk rule; raised before any request, never retried."""

    @classmethod
    def from_error(cls, error: InvalidArgumentError) -> DingTalkInvalidArgumentError:
        return _rebuild_invalid_argument(cls, error.field, error.rule, str(error))


class DingTalkPeopleNotFoundError(DingTalkNotFoundError, AirflowFailException):
    """People named by userId or mobile that the organisation's directory does not hold as members: the task
    fails without retries (a retry would repeat every lookup and find the same)."""


@contextmanager
def invalid_arguments() -> Iterator[None]:
    """Raise a payload rule violation as :class:`DingTalkInvalidArgumentError` (Airflow fails the task
    without retrying it), before any request is sent."""
    try:
        yield
    except DingTalkInvalidArgumentError:
        raise
    except InvalidArgumentError as err:
        raise DingTalkInvalidArgumentError.from_error(err) from None


__all__ = [
    "DingTalkAPIError",
    "DingTalkAnswerError",
    "DingTalkAuthError",
    "DingTalkBannedError",
    "DingTalkConcurrentRunError",
    "DingTalkConfigurationError",
    "DingTalkError",
    "DingTalkInvalidArgumentError",
    "DingTalkInvalidParameterError",
    "DingTalkMonthlyBudgetError",
    "DingTalkNotFoundError",
    "DingTalkPeopleNotFoundError",
    "DingTalkPermissionError",
    "DingTalkQuotaExceededError",
    "DingTalkRateLimitError",
    "DingTalkServerError",
    "DingTalkSyncTokenExpiredError",
    "DingTalkTransportError",
    "InvalidArgumentError",
    "invalid_arguments",
]
