"""What an export read and wrote, named as OpenLineage datasets (no Airflow and no OpenLineage import here:
the operator turns these into OpenLineage objects, see ``ExportEventsOperator.get_openlineage_facets_on_complete``).

* Inputs: one dataset per DingTalk calendar exported, namespace ``dingtalk://<API host>`` (the
  connection's host, with its port when it has one), name ``<calendar owner unionId>/<calendar id>``. Beyond
  :data:`MAX_CALENDAR_DATASETS` calendars, one dataset for the whole export, name ``*/<calendar id>``, and
  the number of calendars beside it: a lineage event stays small however large the team.
* Outputs: one dataset per table written (``events``, ``attendees``, ``check_ins`` and ``check_outs`` when asked for, and
  ``calendars``), the table's directory under the destination, named as OpenLineage names files: a local
  path is namespace ``file`` and its absolute path; an object store is ``<scheme>://<bucket>`` and the key
  (``s3://my-bucket`` + ``dingtalk/events``). The connection id in ``s3://conn@bucket`` is not part of it.

The record is made from what the run itself wrote (:func:`export_lineage`); nothing here lists DingTalk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow_dtcal.export.rows import CALENDARS, COLUMNS

#: Calendars named one dataset each; beyond, one dataset for the export with their count.
MAX_CALENDAR_DATASETS = 1000
#: The name of the one input dataset beyond the bound: every owner's calendar of that id.
ALL_OWNERS = "*"


@dataclass(frozen=True)
class TableDataset:
    """One table the run wrote: its dataset, its columns (name, type) and the rows written."""

    namespace: str
    name: str
    table: str
    columns: tuple[tuple[str, str], ...]
    rows: int


@dataclass(frozen=True)
class ExportLineage:
    """What one export run read (calendars) and wrote (tables)."""

    api_namespace: str
    calendar_id: str
    #: The owners' unionIds, in order; empty when there are more than :data:`MAX_CALENDAR_DATASETS`.
    owners: tuple[str, ...]
    calendar_count: int
    tables: tuple[TableDataset, ...]

    def inputs(self) -> list[tuple[str, str]]:
        """``(namespace, name)`` of each calendar read; one for the whole export beyond the bound."""
        if self.calendar_count > len(self.owners):
            return [(self.api_namespace, f"{ALL_OWNERS}/{self.calendar_id}")]
        return [(self.api_namespace, f"{owner}/{self.calendar_id}") for owner in self.owners]

    @property
    def summarized(self) -> bool:
        """True when the calendars are one dataset (more than :data:`MAX_CALENDAR_DATASETS` of them)."""
        return self.calendar_count > len(self.owners)


def api_namespace(base_url: str) -> str:
    """``dingtalk://<host>[:<port>]`` of the API base URL the run called."""
    parts = urlsplit(base_url)
    return f"dingtalk://{parts.netloc.lower()}"


def storage_namespace(protocol: str, bucket: str, key: str) -> tuple[str, str]:
    """``(namespace, name)`` of a storage location, following OpenLineage's naming: ``file`` and the absolute
    path for a local one (``key``: its path); ``<scheme>://<bucket>`` and the key within the bucket (no
    leading ``/``) for an object store."""
    scheme = (protocol or "file").lower()
    if scheme in ("file", "local"):
        return "file", "/" + key.strip("/")
    return (f"{scheme}://{bucket}" if bucket else scheme), key.strip("/")


def _table_name(root: str, table: str) -> str:
    return f"{root.rstrip('/')}/{table}" if root.strip("/") or root.startswith("/") else table


def export_lineage(
    *,
    base_url: str,
    calendar_id: str,
    owners: Sequence[str],
    protocol: str,
    bucket: str,
    key: str,
    rows: Mapping[str, int],
) -> ExportLineage:
    """The lineage of a finished run into the destination ``protocol``/``bucket``/``key`` (a local path's
    ``key`` is its path); ``rows`` is the rows written per table (the tables written)."""
    namespace, root = storage_namespace(protocol, bucket, key)
    tables = tuple(
        TableDataset(
            namespace=namespace,
            name=_table_name(root, table),
            table=table,
            columns=COLUMNS[table],
            rows=rows[table],
        )
        for table in (*(t for t in COLUMNS if t != CALENDARS), CALENDARS)
        if table in rows
    )
    named = tuple(owners) if len(owners) <= MAX_CALENDAR_DATASETS else ()
    return ExportLineage(api_namespace(base_url), calendar_id, named, len(owners), tables)
