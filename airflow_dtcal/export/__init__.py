"""Calendar data out: the pure parts of :class:`~airflow_dtcal.transfers.export.ExportEventsOperator`.

* :mod:`.rows`: the rows of the tables (``events``, ``attendees``, ``check_ins``, ``check_outs``, and ``calendars``: how
  each calendar was listed) built from what DingTalk returns, and their columns;
* :mod:`.writers`: streaming JSON Lines and Parquet writers over file objects (a batch at a time);
* :mod:`.partition`: partition naming and the replace protocol of one run (temporary names, move,
  ``_SUCCESS`` last) over any pathlib-like path (``ObjectStoragePath``, ``pathlib.Path``);
* :mod:`.plan`: the checked arguments of a run;
* :mod:`.claims`: which run of an interval may move its files into place (the last one to start).

The incremental watermark, read back from the ``calendars`` table, is :mod:`airflow_dtcal.state.watermarks`.

No Airflow import and no network here: the operator does the calls and hands the pages to these.
"""
