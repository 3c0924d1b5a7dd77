"""Which run of an interval may move its files into place: the last one to start.

Two runs of the same export interval at once (a manual run beside the scheduled one, two DAGs writing one
destination) would each stream into their own temporary files and then move them over the other's, so the
partitions could end up holding one run's events and the other's watermark. Each run therefore *claims* the
interval when it starts, by writing its run tag to ``<destination>/_claims/<partition>`` (the last writer
holds the claim), and checks, just before it moves anything, that the claim is still its own. The run that
lost its claim moves nothing and fails with :class:`~airflow_dtcal.core.errors.DingTalkConcurrentRunError`
(retrying it is safe: it runs again from the start and claims anew); the other run's partitions stand
whole.

What the claim does not catch: a run that starts and finishes entirely while another is moving its files
(milliseconds on a disk). Then the earlier run's clean-up removes the later run's temporary files and the
later run fails the same way, or the later run's files replace the earlier's whole; either way a partition
holds the files of one run. A claim is one small file per interval (under 1 KiB), overwritten by each run of
that interval and never removed: removing it could remove a newer run's claim.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from airflow_dtcal.core.errors import DingTalkConcurrentRunError

CLAIMS = "_claims"
MAX_CLAIM_BYTES = 4096


class Claim:
    """The claim of one run on one interval's partitions under ``root`` (a pathlib-like destination)."""

    def __init__(self, root: Any, partition: str, run_tag: str, by: str) -> None:
        if not run_tag.isalnum():
            raise ValueError("run_tag must be letters and digits")
        self.path = root / CLAIMS / partition
        self.partition = partition
        self.run_tag = run_tag
        self.by = by[:512]

    def take(self) -> None:
        """Claim the interval (replacing any earlier run's claim)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"run": self.run_tag, "by": self.by, "at": dt.datetime.now(dt.timezone.utc).isoformat()}
        with self.path.open("wb") as file:
            file.write(json.dumps(record).encode())

    def holder(self) -> dict | None:
        """The claim as stored (None when it is missing or unreadable)."""
        try:
            with self.path.open("rb") as file:
                raw = file.read(MAX_CLAIM_BYTES + 1)
        except FileNotFoundError:
            return None
        try:
            value = json.loads(raw) if len(raw) <= MAX_CLAIM_BYTES else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def lost(self, reason: str | None = None) -> DingTalkConcurrentRunError:
        """The error of a run that lost the interval: its claim was taken (``reason`` None), or ``reason``."""
        holder = self.holder() or {}
        who = f"{holder.get('by')}, at {holder.get('at')}" if holder.get("by") else "no claim is left"
        if reason is None:
            what = f"another run of this interval ({self.partition}) started after this one and owns it now ({who})"
        else:
            what = (
                f"{reason}: another run of this interval ({self.partition}) moved its files into place meanwhile "
                f"(the claim: {who})"
            )
        return DingTalkConcurrentRunError(
            f"{what}. This run's files were not kept. Retrying it is safe: it exports the interval again"
        )

    def check(self) -> None:
        """Raise :class:`DingTalkConcurrentRunError` unless the claim is still this run's."""
        holder = self.holder()
        if not holder or holder.get("run") != self.run_tag:
            raise self.lost()
