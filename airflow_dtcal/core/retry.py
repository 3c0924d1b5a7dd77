"""Which failures are retried, and how long to wait between attempts: one policy for both transports.

The policy is a set of tenacity strategies; the hook runs them with ``tenacity.Retrying`` (sync) or
``tenacity.AsyncRetrying`` (async). Waits grow exponentially with jitter and never exceed ``backoff_max``,
whatever a server's ``Retry-After`` asks for; no retry starts after ``retry_deadline``.
"""

from __future__ import annotations

import random
from typing import Any

import tenacity

from airflow_dtcal.core.errors import DingTalkError, DingTalkRateLimitError
from airflow_dtcal.core.settings import Settings


def is_retryable(error: BaseException, operation: str) -> bool:
    """Retry a failure of ``operation`` itself when it may pass; a failed token fetch was already retried."""
    return (
        isinstance(error, DingTalkError)
        and error.retryable
        and getattr(error, "operation", operation) == operation
    )


def backoff(settings: Settings, attempt: int, error: BaseException | None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential with jitter, at least a server's hint,
    never more than ``backoff_max``."""
    exponential = min(settings.backoff_max, settings.backoff_initial * 2 ** min(attempt - 1, 32))
    wait = random.uniform(exponential / 2, exponential)
    hint = getattr(error, "retry_after", None)
    if hint is not None:
        wait = max(wait, hint + random.uniform(0, settings.backoff_initial / 2))
    return min(wait, settings.backoff_max)


def attempts_allowed(settings: Settings, error: BaseException | None) -> int:
    """Tries a request may take after a failure: ``max_attempts``; while DingTalk throttles it (the pacers'
    signal that the quota is shared: expected with ``pacing="process"``, where throttles are how processes
    learn of each other) ``max_throttled_attempts``, never fewer. ``max_attempts=1`` retries nothing."""
    if isinstance(error, DingTalkRateLimitError) and settings.max_attempts > 1:
        return max(settings.max_attempts, settings.max_throttled_attempts)
    return settings.max_attempts


def _error(state: tenacity.RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


def strategies(settings: Settings, operation: str) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` / ``tenacity.AsyncRetrying``."""

    def wait(state: tenacity.RetryCallState) -> float:
        return backoff(settings, state.attempt_number, _error(state))

    deadline = tenacity.stop_before_delay(settings.retry_deadline)

    def stop(state: tenacity.RetryCallState) -> bool:
        return deadline(state) or state.attempt_number >= attempts_allowed(settings, _error(state))

    return {
        "stop": stop,
        "wait": wait,
        "retry": tenacity.retry_if_exception(lambda error: is_retryable(error, operation)),
        "reraise": True,
    }
