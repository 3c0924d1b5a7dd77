"""The watermark of incremental exports: the sync token each calendar started from and ended at, per data
interval, kept as JSON (the operator stores it in an Airflow Variable).

A run of a new interval starts where the latest earlier interval ended; a re-run of an interval starts
again from the tokens that interval started from, so it replays the same changes (and any made since).
``None`` as a start means a full listing (the first run, a calendar added later, or a resync).
Only the newest :data:`KEEP_INTERVALS` intervals are kept (DingTalk's tokens expire after days anyway).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

VERSION = 1
KEEP_INTERVALS = 31


def interval_key(start: dt.datetime) -> str:
    """The interval start as ``YYYY-MM-DDTHH:MM:SS+00:00`` (UTC), as rows and the watermark carry it."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("the interval start must be an aware datetime")
    return start.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def state_key(conn_id: str, calendar_id: str, owners: Iterable[str], destination: str) -> str:
    """The default Variable key of an export: the connection, then a digest of the calendars and destination.

    Two exports of the same calendars into different destinations keep separate watermarks. A word that
    makes Airflow mask a Variable (``token`` in ``my_token_conn``...) is left out of the readable part (see
    :func:`~airflow_dtcal.state.variables.key_part`), and the whole connection id then joins the digest.
    """
    from airflow_dtcal.state.variables import key_part

    identity: list[Any] = [calendar_id, sorted(set(owners)), destination]
    readable = key_part(conn_id)
    if readable != re.sub(r"[^A-Za-z0-9_.:-]", "_", conn_id)[:200]:
        identity.append(conn_id)  # words were left out: two such connections still get keys of their own
    digest = hashlib.sha256(json.dumps(identity, separators=(",", ":")).encode()).hexdigest()[:16]
    return f"dtcal_export__{readable}__{digest}"


def check_state(state: Any, where: str) -> dict | None:
    """The stored state, checked; ``ValueError`` says what is wrong with it (``where`` names the store)."""
    if state is None:
        return None
    problem = None
    if not isinstance(state, Mapping):
        problem = "is not a JSON object"
    elif state.get("version") != VERSION:
        problem = f"has version {state.get('version')!r}; this provider reads version {VERSION}"
    elif not isinstance(state.get("intervals"), Mapping):
        problem = "has no 'intervals' object"
    else:
        for interval, record in state["intervals"].items():
            if not isinstance(record, Mapping) or not all(
                isinstance(record.get(part), Mapping)
                and all(isinstance(t, str) or t is None for t in record[part].values())
                for part in ("started_from", "ended_at")
            ):
                problem = f"has a malformed record for interval {interval!r}"
                break
    if problem:
        raise ValueError(
            f"the export watermark {where} {problem}; delete it to start again with a full listing"
        )
    return dict(state)


def start_tokens(state: Mapping | None, interval: str, owners: Iterable[str]) -> dict[str, str | None]:
    """The sync token each calendar of a run of ``interval`` starts from (``None``: a full listing)."""
    intervals: Mapping[str, Any] = state["intervals"] if state else {}
    earlier = sorted((k for k in intervals if k < interval), reverse=True)
    tokens: dict[str, str | None] = {}
    for owner in owners:
        own = intervals.get(interval)
        if own is not None and owner in own["started_from"]:
            tokens[owner] = own["started_from"][owner]
            continue
        tokens[owner] = next(
            (intervals[k]["ended_at"][owner] for k in earlier if owner in intervals[k]["ended_at"]), None
        )
    return tokens


def record(
    state: Mapping | None,
    interval: str,
    started_from: Mapping[str, str | None],
    ended_at: Mapping[str, str | None],
    *,
    keep: int = KEEP_INTERVALS,
) -> dict:
    """The state after a run of ``interval``; only the newest ``keep`` intervals are kept."""
    intervals = dict(state["intervals"]) if state else {}
    intervals[interval] = {"started_from": dict(started_from), "ended_at": dict(ended_at)}
    newest = sorted(intervals, reverse=True)[:keep]
    return {"version": VERSION, "intervals": {k: intervals[k] for k in sorted(newest)}}
