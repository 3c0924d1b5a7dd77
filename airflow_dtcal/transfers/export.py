"""Calendar data out: the events of one or more calendars, with attendees' responses and check-ins, written
to any ``ObjectStoragePath`` as JSON Lines (and Parquet), one partition per data interval.

Importing this module is cheap (the scheduler does it on every DAG parse): the hook, the storage layer and
pyarrow are imported only when a task runs. Arguments are template fields stored unchanged and validated in
``execute()``, before any request.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow_dtcal.operators.arguments import IDS, one_of
from airflow_dtcal.operators.base import DingTalkCalendarBaseOperator, Execution

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath, XComArg

    from airflow_dtcal.export.claims import Claim
    from airflow_dtcal.export.lineage import ExportLineage
    from airflow_dtcal.export.partition import PartitionRun
    from airflow_dtcal.export.plan import ExportPlan
    from airflow_dtcal.state.watermarks import Start

__all__ = ["ExportEventsOperator"]

#: ListEvents lists at most this many attendees inside each event; a full inline list may be cut short.
INLINE_ATTENDEES = 100
#: ``calendars`` rows are written this many at a time (a Parquet row group each; memory holds one batch).
CALENDAR_ROWS_PER_WRITE = 1000


class _Resync(Exception):
    """A calendar's sync token expired after some of its changes were written: start the run's files again."""

    def __init__(self, owner: str) -> None:
        super().__init__(owner)
        self.owner = owner


def _destination_rule(value: Any, argument: str) -> Any:
    """The destination's text checked (see :mod:`airflow_dtcal.export.destination`); an ObjectStoragePath
    the DAG built is held to the same rules."""
    from airflow_dtcal.export.destination import check_destination, check_storage_path

    if hasattr(value, "protocol") and hasattr(value, "path") and not isinstance(value, str):
        check_storage_path(value.protocol, value.path, argument)
        return value
    return check_destination(value, argument)


def _calendars(value: Any, argument: str) -> tuple[str, ...]:
    from airflow_dtcal.export.plan import check_calendars

    return check_calendars(value)


#: Calendars named one by one in the XCom; beyond, only counts per mode (the calendars table holds them all).
MAX_NAMED_CALENDARS = 1000


class ExportEventsOperator(DingTalkCalendarBaseOperator):
    """Write the events of calendars (and their attendees' responses, and check-ins) to a storage path.

    One partition per table and data interval,
    ``<destination>/<table>/interval_start=<UTC start>/part-0.jsonl`` (and ``part-0.parquet``), then
    ``_SUCCESS``; a re-run of the interval replaces its partitions (see ``docs/export.md``). Pages are
    streamed into the files, so memory stays flat however many events there are. Every run also writes the
    ``calendars`` table (one row per calendar: how it was listed), which is the incremental watermark: it
    lives beside the data, one record per interval (:mod:`airflow_dtcal.state.watermarks`).

    Each ``Asset`` in the task's ``outlets`` gets an asset event with extra ``{"path", "partition", "rows"}``
    (the destination, the partition written, the rows per table), so a DAG scheduled on the asset reads the
    new partition. With the OpenLineage provider installed, the run reports the calendars it read and the
    tables it wrote (:meth:`get_openlineage_facets_on_complete`; see ``docs/export.md``).

    Returns ``{"path", "partition", "rows": {"events", "attendees", "check_ins", "check_outs"}, "mode", "modes",
    "calendars", "files"}``: the destination, the partition name, the rows written per table (``None`` for a
    table not exported), the run's mode (``full``, ``incremental`` or ``resync``), how many calendars were
    listed each way, each calendar's mode (``None`` beyond 1,000 calendars: the XCom stays small, and the
    ``calendars`` table holds every one) and the data files written.

    :param calendars: the calendar owners whose (primary) calendars are exported, unionIds by default (see
        ``id_type``, argument ``"calendars"``). (templated)
    :param destination: where the tables go: an ``ObjectStoragePath`` or a URL/path string
        (``s3://bucket/dingtalk``, ``file:///data/dingtalk``). (templated)
    :param mode: ``"full"`` (default): the events of a window, the data interval unless ``time_min`` /
        ``time_max`` are given, each row with change ``snapshot``. ``"incremental"``: what changed since the
        previous run (ListEvents' ``syncToken``), rows with change ``upsert`` or ``delete``; the first run,
        and a run whose token expired (``resync``), list every event from ``time_min`` (``snapshot`` rows).
    :param attendees: also write the ``attendees`` table, each attendee with their response (default True).
        Attendees come inside the listed events; an event whose inline list is full (100) costs one
        ListAttendees call per 500 attendees.
    :param check_ins: also write the ``check_ins`` table (default False): who checked in to the events the
        calendar's owner organizes; one GetSignInList call per such event (cancelled ones excepted).
    :param check_outs: also write the ``check_outs`` table (default False): who checked out of those
        events, and when; one GetSignOutList call per such event, like ``check_ins``.
    :param formats: ``("jsonl",)`` (default) or ``("jsonl", "parquet")``; Parquet needs ``pyarrow``
        (``pip install 'airflow-dtcal[parquet]'``).
    :param time_min: full mode: the window's start; incremental mode: where a calendar's first full listing
        starts, its *horizon* (default: the data interval's start); a resync lists again from the horizon.
        (templated)
    :param time_max: full mode only: the window's end (default: the data interval's end). (templated)
    :param page_size: events per ListEvents page, and per batch written (1 to 100, default 100).
    :param id_type: for ``calendars``. :param on_unknown: ``"skip"`` leaves out the calendars of people who
        cannot be resolved.
    """

    #: What the last run read and wrote (set when its files are committed), for the OpenLineage facets.
    _lineage: ExportLineage | None = None

    people = {"calendars": IDS(check=_calendars)}
    rules = {
        "destination": _destination_rule,
        "mode": one_of("full", "incremental"),
    }
    template_fields: Sequence[str] = (
        "calendars",
        "destination",
        "time_min",
        "time_max",
        "calendar_id",
        "dingtalk_conn_id",
    )

    def __init__(
        self,
        *,
        calendars: list[str] | str | XComArg,
        destination: str | ObjectStoragePath | XComArg,
        mode: str = "full",
        attendees: bool = True,
        check_ins: bool = False,
        check_outs: bool = False,
        formats: Sequence[str] = ("jsonl",),
        time_min: Any = None,
        time_max: Any = None,
        page_size: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.calendars = calendars
        self.destination = destination
        self.mode = mode
        self.attendees = attendees
        self.check_ins = check_ins
        self.check_outs = check_outs
        self.formats = formats
        self.time_min = time_min
        self.time_max = time_max
        self.page_size = page_size

    # ------------------------------------------------------------------ arguments

    def _plan(self, context: Context) -> ExportPlan:
        from airflow_dtcal.export.plan import make_plan

        get = context.get if hasattr(context, "get") else (lambda _key: None)
        return make_plan(
            calendars=self.calendars,
            mode=self.mode,
            attendees=self.attendees,
            check_ins=self.check_ins,
            check_outs=self.check_outs,
            formats=self.formats,
            interval_start=get("data_interval_start"),
            interval_end=get("data_interval_end"),
            time_min=self.time_min,
            time_max=self.time_max,
            page_size=self.page_size,
        )

    @staticmethod
    def _destination(checked: Any) -> Any:
        """The destination (its text already checked by the rules: see
        :mod:`airflow_dtcal.export.destination`), opened: a scheme the installed Airflow cannot open, or
        whose package is missing, fails here, before any request."""
        from airflow.sdk import ObjectStoragePath

        from airflow_dtcal.core.errors import InvalidArgumentError

        try:
            path = checked if isinstance(checked, ObjectStoragePath) else ObjectStoragePath(checked)
            path.fs  # noqa: B018 - resolves the filesystem: an unknown scheme or a missing package fails here
            return path
        except (TypeError, ValueError, ImportError) as err:
            raise InvalidArgumentError(
                "destination", f"is not a storage path Airflow can open: {err}"
            ) from None

    # ------------------------------------------------------------------ the run

    def check(self, ex: Execution) -> dict[str, Any]:
        from airflow_dtcal.core.errors import InvalidArgumentError
        from airflow_dtcal.export.plan import MAX_ID_CHARS

        if len(ex.calendar_id) > MAX_ID_CHARS:
            raise InvalidArgumentError(
                "calendar_id", f"must be at most {MAX_ID_CHARS} characters", ex.calendar_id
            )
        return {"plan": self._plan(ex.context), "destination": self._destination(ex.destination)}

    def expected_calls(self, ex: Execution) -> int:
        """One listing (its first page) per calendar."""
        return len(ex.calendars)

    def run(self, ex: Execution) -> dict:
        from airflow_dtcal.export.claims import Claim
        from airflow_dtcal.export.partition import PartitionRun, partition_name
        from airflow_dtcal.export.plan import overall_mode
        from airflow_dtcal.export.rows import CALENDARS
        from airflow_dtcal.state import watermarks

        plan, calendar, destination, owners = ex.plan, ex.calendar_id, ex.destination, ex.calendars
        interval = watermarks.interval_key(plan.interval_start)
        partition = partition_name(plan.interval_start)
        if plan.mode == "incremental":
            starts = watermarks.load_start_points(destination, plan.interval_start, owners, plan.time_min)
        else:
            starts = {owner: watermarks.Start(None, plan.time_min) for owner in owners}
        self.log.info(
            "Exporting %s of %d calendars (%s mode) for the interval from %s into %s/<table>/%s",
            ", ".join(plan.tables),
            len(owners),
            plan.mode,
            interval,
            destination,
            partition,
        )
        ti = ex.context.get("ti") if hasattr(ex.context, "get") else None
        dag, task, run, attempt = (getattr(ti, n, "?") for n in ("dag_id", "task_id", "run_id", "try_number"))
        by = f"{dag}.{task} {run} try {attempt}"
        claim = Claim(destination, partition, uuid.uuid4().hex[:12], by=by)
        claim.take()
        tables = (*plan.tables, CALENDARS)
        resync: set[str] = set()
        while True:
            files = PartitionRun(destination, tables, plan.formats, partition, uuid.uuid4().hex[:12])
            try:
                files.open()
                modes, marks = {}, []
                for owner in owners:
                    modes[owner], mark = self._export_calendar(
                        files, plan, interval, calendar, owner, starts[owner], resync
                    )
                    marks.append(mark)
                    if len(marks) == CALENDAR_ROWS_PER_WRITE or owner == owners[-1]:
                        files.write(CALENDARS, marks)  # a Parquet row group per write: not one per calendar
                        marks = []
                written = _commit(files, claim)
                break
            except _Resync as restart:
                files.abort()
                resync.add(restart.owner)
                self.log.warning(
                    "The sync token of %s expired after some of its changes were written; writing the "
                    "partitions again, with a full listing of that calendar",
                    restart.owner,
                )
            except BaseException:
                files.abort()
                raise

        self._lineage = _lineage_of(self.get_hook().settings.base_url, calendar, owners, destination, files)
        rows = {table: files.rows.get(table) for table in ("events", "attendees", "check_ins", "check_outs")}
        counts = dict(Counter(modes.values()))
        self.log.info(
            "Wrote %s into %s (calendars: %s)",
            ", ".join(f"{n:,} {t}" for t, n in rows.items() if n is not None),
            partition,
            ", ".join(f"{n:,} {m}" for m, n in sorted(counts.items())) or "none",
        )
        _announce(ex.context, self.outlets, {"path": str(destination), "partition": partition, "rows": rows})
        return {
            "path": str(destination),
            "partition": partition,
            "rows": rows,
            "mode": overall_mode(list(modes.values())),
            "modes": counts,
            # An XCom stays small: each calendar by name up to MAX_NAMED_CALENDARS (the calendars table holds all).
            "calendars": modes if len(modes) <= MAX_NAMED_CALENDARS else None,
            "files": written,
        }

    # ------------------------------------------------------------------ lineage

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage's datasets of the finished run (called by the OpenLineage provider when installed):
        inputs, the DingTalk calendars exported; outputs, the tables written, each with its schema and row
        count. Made from what the run recorded (see :mod:`airflow_dtcal.export.lineage`); nothing is listed
        again. An empty lineage when the run wrote nothing."""
        from airflow.providers.common.compat.openlineage.facet import (
            Dataset,
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
            SchemaDatasetFacet,
            SchemaDatasetFacetFields,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage

        lineage = self._lineage
        if lineage is None:
            return OperatorLineage()
        calendars_facets: dict[str, Any] = {}
        if lineage.summarized:
            calendars_facets["dingtalkCalendars"] = _calendar_count_facet(lineage.calendar_count)
        inputs = [Dataset(namespace=ns, name=name, facets=calendars_facets) for ns, name in lineage.inputs()]
        outputs = [
            OutputDataset(
                namespace=table.namespace,
                name=table.name,
                facets={
                    "schema": SchemaDatasetFacet(
                        fields=[SchemaDatasetFacetFields(name=n, type=t) for n, t in table.columns]
                    )
                },
                outputFacets={"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=table.rows)},
            )
            for table in lineage.tables
        ]
        return OperatorLineage(inputs=inputs, outputs=outputs)

    def _export_calendar(
        self,
        files: PartitionRun,
        plan: ExportPlan,
        interval: str,
        calendar: str,
        owner: str,
        start: Start,
        resync: set[str],
    ) -> tuple[str, dict]:
        """Write one calendar's rows; its mode (``full``, ``incremental``, ``resync``) and its ``calendars``
        row."""
        from airflow_dtcal.export.rows import FULL, INCREMENTAL, RESYNC, RowContext, calendar_row
        from airflow_dtcal.state.watermarks import interval_key

        context = RowContext(interval, interval_key(plan.interval_end), owner, calendar)
        before = files.rows["events"]
        began: str | None = None
        if plan.mode == "full":
            mode, end = FULL, self._write_pages(files, plan, context, None, plan.time_min)
        elif owner in resync or start.token is None:
            mode = RESYNC if owner in resync else FULL
            end = self._write_pages(files, plan, context, None, start.listed_from)
        else:
            from airflow_dtcal.exceptions import DingTalkSyncTokenExpiredError

            try:
                mode, began = INCREMENTAL, start.token
                end = self._write_pages(files, plan, context, start.token, None)
            except DingTalkSyncTokenExpiredError:
                if files.rows["events"] != before:
                    raise _Resync(owner) from None
                self.log.warning(
                    "The sync token of %s expired; listing its calendar again in full from %s",
                    owner,
                    start.listed_from,
                )
                resync.add(owner)
                mode, began = RESYNC, None
                end = self._write_pages(files, plan, context, None, start.listed_from)
        row = calendar_row(
            context,
            mode=mode,
            listed_from=plan.time_min if plan.mode == "full" else start.listed_from,
            listed_until=plan.time_max,
            started_from=began,
            ended_at=end,
            events=files.rows["events"] - before,
        )
        return mode, row

    def _pages(
        self, plan: ExportPlan, owner: str, calendar: str, token: str | None, time_min: str | None
    ) -> Iterator[tuple]:
        """``(events, full listing?, sync token)`` page by page."""
        hook = self.get_hook()
        if plan.mode == "full":
            events = hook.iter_events(
                owner,
                time_min=plan.time_min,
                time_max=plan.time_max,
                show_deleted=True,
                page_size=plan.page_size,
                calendar_id=calendar,
            )
            for batch in _batches(events, plan.page_size):
                yield batch, True, None
            return
        for page in hook.iter_event_changes(
            owner,
            calendar_id=calendar,
            sync_token=token,
            time_min=time_min if token is None else None,
            page_size=plan.page_size,
            max_attendees=INLINE_ATTENDEES,
        ):
            yield page.events, page.full, page.sync_token

    def _write_pages(
        self, files: PartitionRun, plan: ExportPlan, context: Any, token: str | None, time_min: str | None
    ) -> str | None:
        """Stream one calendar's events (and their attendees and check-ins) into the files, page by page;
        the sync token of the last page."""
        from airflow_dtcal.export.rows import change_kind, event_row

        end = None
        owner, calendar = context.calendar_owner, context.calendar_id
        for events, full, sync_token in self._pages(plan, owner, calendar, token, time_min):
            changes = [change_kind(event, full=full) for event in events]
            files.write("events", [event_row(context, e, c) for e, c in zip(events, changes, strict=True)])
            if "attendees" in plan.tables:
                self._write_attendees(files, context, events, changes)
            for table in ("check_ins", "check_outs"):
                if table in plan.tables:
                    self._write_check_ins(files, context, events, changes, table)
            end = sync_token or end
        if plan.mode == "incremental" and end is None:
            from airflow_dtcal.exceptions import DingTalkAnswerError

            raise DingTalkAnswerError(
                "ListEvents", 200, None, "the last page carried no syncToken; the watermark cannot advance"
            )
        return end

    def _write_attendees(self, files: PartitionRun, context: Any, events: list, changes: list) -> None:
        from airflow_dtcal.export.rows import attendee_rows, inline_attendees, is_cancelled

        batch: list[dict] = []
        for event, change in zip(events, changes, strict=True):
            inline = inline_attendees(event)
            if len(inline) < INLINE_ATTENDEES or is_cancelled(event) or not event.get("id"):
                batch.extend(attendee_rows(context, event, change, inline))
                continue
            # The inline list is full, so it may be cut short: every attendee, page by page.
            listed = self.get_hook().iter_attendees(
                context.calendar_owner, event["id"], calendar_id=context.calendar_id
            )
            for people in _batches(listed, 500):
                files.write("attendees", attendee_rows(context, event, change, people))
        files.write("attendees", batch)

    def _write_check_ins(
        self, files: PartitionRun, context: Any, events: list, changes: list, table: str
    ) -> None:
        """The ``check_ins`` (or ``check_outs``) rows of the events the calendar's owner organizes."""
        from airflow_dtcal.export.rows import check_in_rows, is_cancelled

        status = {"check_ins": "sign_in", "check_outs": "sign_out"}[table]
        for event, change in zip(events, changes, strict=True):
            organizer = event.get("organizer") if isinstance(event.get("organizer"), dict) else {}
            if is_cancelled(event) or not event.get("id") or organizer.get("id") != context.calendar_owner:
                continue
            users = self.get_hook().iter_sign_ins(
                context.calendar_owner, event["id"], calendar_id=context.calendar_id, status=status
            )
            for people in _batches(users, 500):
                files.write(table, check_in_rows(context, event, change, people, table))


def _announce(context: Any, outlets: Any, extra: dict[str, Any]) -> None:
    """Each asset in the task's ``outlets`` gets an event whose extra says where the run wrote and which
    partition (``{"path", "partition", "rows"}``), so a DAG scheduled on it reads the new partition."""
    from airflow.sdk import Asset

    events = context.get("outlet_events") if hasattr(context, "get") else None
    if events is None:
        return
    for outlet in outlets or ():
        if isinstance(outlet, Asset):
            events[outlet].extra.update(extra)


def _lineage_of(
    base_url: str, calendar: str, owners: Sequence[str], destination: Any, files: PartitionRun
) -> ExportLineage:
    from airflow_dtcal.export.lineage import export_lineage

    protocol = getattr(destination, "protocol", "") or "file"
    local = protocol in ("file", "local")
    return export_lineage(
        base_url=base_url,
        calendar_id=calendar,
        owners=owners,
        protocol=protocol,
        bucket="" if local else destination.bucket,
        key=destination.path if local else destination.key,
        rows=files.rows,
    )


def _calendar_count_facet(count: int) -> Any:
    """A dataset facet ``{"count": n}``: how many calendars the one input dataset stands for."""
    from attrs import define
    from openlineage.client.facet_v2 import DatasetFacet

    @define
    class DingTalkCalendarsDatasetFacet(DatasetFacet):
        count: int

    return DingTalkCalendarsDatasetFacet(count=count)


def _commit(files: PartitionRun, claim: Claim) -> list[str]:
    """Move the run's files into place if the interval is still this run's (see
    :mod:`airflow_dtcal.export.claims`); :class:`DingTalkConcurrentRunError` when another run took it."""

    def still_ours() -> None:
        claim.check()
        if not all(temp.exists() for temp in files.temporary_files()):
            raise claim.lost("its temporary files were removed while it wrote them")

    from airflow_dtcal.export.partition import SUCCESS

    try:
        return files.commit(before_moving=still_ours)
    except FileNotFoundError:
        # Another run's clean-up removed a file of this run between the check and its move: the partitions
        # may hold files of both, so they are marked incomplete until a run completes them.
        for directory in files.directories.values():
            try:
                (directory / SUCCESS).unlink()
            except OSError:
                pass
        raise claim.lost("a file of this run was removed while it was moved into place") from None


def _batches(items: Any, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
