"""One partition per table and data interval, replaced whole by each run.

Layout under the destination::

    <destination>/<table>/interval_start=2026-11-23T00-00-00+00-00/part-0.jsonl
                                                                   part-0.parquet   (when asked for)
                                                                   _SUCCESS         (written last)

The partition value is the interval start in UTC with ``-`` for ``:`` (colons are not allowed in
Hadoop/Spark path names nor on Windows). :class:`PartitionRun` replaces the partitions of a run:

1. ``_SUCCESS`` is removed first: from then on a reader sees the partition as incomplete;
2. the rows stream into temporary files in the partition (``_tmp-<run>-part-0.jsonl``; Spark, Hive and
   ``pyarrow.dataset`` skip names starting with ``_``);
3. once every table is written, each temporary file is moved onto its final name, and any other file in
   the partition (a format no longer asked for, a crashed run's temporary file) is removed;
4. ``_SUCCESS`` is written in each partition, last.

A run that fails before step 3 removes its temporary files and leaves the old files in place (without
``_SUCCESS``); the next run replaces them. It works over any pathlib-like path with ``/``, ``open``,
``mkdir``, ``iterdir``, ``replace``, ``unlink``, ``exists`` and ``is_symlink``: Airflow's
``ObjectStoragePath`` (local, S3, GCS...) and ``pathlib.Path`` alike.

A run touches only what it writes. Only names of its own (:data:`OWN_NAME`: ``part-0.<format>``,
``_SUCCESS``, ``_tmp-<run>-part-0.<format>``) are ever removed from a partition; anything else there stays.
No symbolic link is followed: a table or partition directory that is a link is refused
(:class:`UnsafeDestinationError`) before anything is written and again before the commit, a link found at
one of our file names is removed (the link, never its target) rather than written through, and on a local
disk our files are created exclusively (``O_EXCL``: a link planted at the name fails the run instead of
being followed). The destination itself may be a link: the DAG's author named it.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_dtcal.core.errors import DingTalkError
from airflow_dtcal.export.writers import FORMATS, open_writer

SUCCESS = "_SUCCESS"
TEMP_PREFIX = "_tmp-"
_FORMAT = "|".join(FORMATS)
#: The names a run writes in a partition; nothing else there is ever removed.
OWN_NAME = re.compile(rf"_SUCCESS|part-0\.(?:{_FORMAT})|_tmp-[A-Za-z0-9]+-part-0\.(?:{_FORMAT})")


class UnsafeDestinationError(DingTalkError):
    """A table or partition directory of the destination is a symbolic link: writing there would replace or
    delete files elsewhere, so nothing is written."""


def _is_link(path: Any) -> bool:
    check = getattr(path, "is_symlink", None)
    try:
        return bool(check()) if callable(check) else False
    except (NotImplementedError, OSError):  # a store without links
        return False


def _is_local(path: Any) -> bool:
    return isinstance(path, pathlib.PurePath) or getattr(path, "protocol", None) in ("file", "local")


def _refuse_link(directory: Any, what: str) -> None:
    if _is_link(directory):
        raise UnsafeDestinationError(
            f"the export's {what} {directory} is a symbolic link; the export does not write through links "
            "it did not make (it would replace or delete files wherever the link points). Make it a real "
            "directory, or point the destination at the place the link leads to"
        )


def _remove(path: Any) -> None:
    """Remove ``path`` if it is there (a link: the link itself, never what it points to)."""
    if _is_link(path) or path.exists():
        path.unlink()


def _create(path: Any) -> Any:
    """Open a new file for writing; on a local disk exclusively, so a link planted at the name is not
    followed (the run fails instead)."""
    return path.open("xb" if _is_local(path) else "wb")


def partition_name(interval_start: dt.datetime) -> str:
    """``interval_start=YYYY-MM-DDTHH-MM-SS+00-00`` (UTC) for an aware datetime."""
    if interval_start.tzinfo is None or interval_start.utcoffset() is None:
        raise ValueError("interval_start must be an aware datetime")
    utc = interval_start.astimezone(dt.timezone.utc)
    return "interval_start=" + utc.strftime("%Y-%m-%dT%H-%M-%S+00-00")


def data_file_name(file_format: str) -> str:
    return f"part-0.{file_format}"


class PartitionRun:
    """The files of one run: one partition per table, one file per format in each."""

    def __init__(
        self, root: Any, tables: Sequence[str], formats: Sequence[str], partition: str, run_tag: str
    ) -> None:
        if not run_tag.isalnum():
            raise ValueError("run_tag must be letters and digits")
        self.tables: dict[str, Any] = {table: root / table for table in tables}
        self.directories: dict[str, Any] = {table: root / table / partition for table in tables}
        self.formats = tuple(formats)
        self.run_tag = run_tag
        self.rows: dict[str, int] = dict.fromkeys(tables, 0)
        self._open: list[tuple[str, str, Any, Any, Any]] = []  # table, format, temp path, file, writer
        self._closed = False

    def _temp(self, table: str, file_format: str) -> Any:
        return self.directories[table] / f"{TEMP_PREFIX}{self.run_tag}-{data_file_name(file_format)}"

    def open(self) -> None:
        """Mark each partition incomplete and open the temporary files."""
        try:
            for table, directory in self.directories.items():
                self._refuse_links(table)
                directory.mkdir(parents=True, exist_ok=True)
                self._refuse_links(table)
                _remove(directory / SUCCESS)
                for file_format in self.formats:
                    temp = self._temp(table, file_format)
                    file = _create(temp)
                    try:
                        writer = open_writer(file_format, file, table)
                    except BaseException:
                        file.close()
                        raise
                    self._open.append((table, file_format, temp, file, writer))
        except BaseException:
            self.abort()
            raise

    def _refuse_links(self, table: str) -> None:
        _refuse_link(self.tables[table], "table directory")
        _refuse_link(self.directories[table], "partition directory")

    def write(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append a batch of rows to every file of ``table``."""
        if not rows:
            return
        for name, _format, _temp, _file, writer in self._open:
            if name == table:
                writer.write(rows)
        self.rows[table] += len(rows)

    def _close_files(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _table, _format, _temp, file, writer in self._open:
            try:
                writer.close()
            finally:
                file.close()

    def temporary_files(self) -> list[Any]:
        """This run's temporary files (they exist from :meth:`open` until :meth:`commit` or :meth:`abort`)."""
        return [temp for _table, _format, temp, _file, _writer in self._open]

    def commit(self, before_moving: Callable[[], None] | None = None) -> list[str]:
        """Move the files into place, drop what else the partitions held, write ``_SUCCESS``; the data files.

        ``before_moving`` is called once the files are closed and before anything moves; if it raises, the
        run is aborted (its temporary files removed) and nothing moves."""
        try:
            self._close_files()
            if before_moving is not None:
                before_moving()
        except BaseException:
            self.abort()
            raise
        try:
            for table in self.directories:  # the same directories as when the run began
                self._refuse_links(table)
        except BaseException:
            self.abort()
            raise
        finals = []
        for table, file_format, temp, _file, _writer in self._open:
            final = self.directories[table] / data_file_name(file_format)
            if _is_link(final):
                final.unlink()  # the link, not what it points to: a move onto it could follow it
            temp.replace(final)
            finals.append(final)
        keep = {data_file_name(f) for f in self.formats} | {SUCCESS}
        for directory in self.directories.values():
            for item in list(directory.iterdir()):
                if item.name in keep or not OWN_NAME.fullmatch(item.name):
                    continue  # ours and current, or not ours at all
                if _is_link(item) or item.is_file():
                    item.unlink()
        for directory in self.directories.values():
            marker = directory / SUCCESS
            _remove(marker)
            with _create(marker):
                pass
        return [str(path) for path in finals]

    def abort(self) -> None:
        """Close and remove this run's temporary files (best effort); the partitions stay incomplete."""
        try:
            self._close_files()
        except Exception:  # noqa: S110 - the original error is what matters
            pass
        for _table, _format, temp, _file, _writer in self._open:
            try:
                if temp.exists():
                    temp.unlink()
            except OSError:
                pass
