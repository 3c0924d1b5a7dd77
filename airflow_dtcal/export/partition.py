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
``mkdir``, ``iterdir``, ``replace``, ``unlink`` and ``exists``: Airflow's ``ObjectStoragePath`` (local, S3,
GCS...) and ``pathlib.Path`` alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_dtcal.export.writers import open_writer

SUCCESS = "_SUCCESS"
TEMP_PREFIX = "_tmp-"


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
                directory.mkdir(parents=True, exist_ok=True)
                marker = directory / SUCCESS
                if marker.exists():
                    marker.unlink()
                for file_format in self.formats:
                    temp = self._temp(table, file_format)
                    file = temp.open("wb")
                    try:
                        writer = open_writer(file_format, file, table)
                    except BaseException:
                        file.close()
                        raise
                    self._open.append((table, file_format, temp, file, writer))
        except BaseException:
            self.abort()
            raise

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
        finals = []
        for table, file_format, temp, _file, _writer in self._open:
            final = self.directories[table] / data_file_name(file_format)
            temp.replace(final)
            finals.append(final)
        keep = {data_file_name(f) for f in self.formats} | {SUCCESS}
        for directory in self.directories.values():
            for item in list(directory.iterdir()):
                if item.name not in keep and item.is_file():
                    item.unlink()
        for directory in self.directories.values():
            with (directory / SUCCESS).open("wb"):
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
