"""State this provider keeps in Airflow between runs, in one place.

==============  ==================================================================================
``variables``   small JSON state in an Airflow Variable (load, save; sync and async)
``watermarks``  an incremental export's watermark: kept beside the data (the ``calendars`` table, one
                record per data interval), read and checked here
``cursor``      a calendar watch's cursor (CalendarChangeTrigger)
==============  ==================================================================================
"""
