"""State this provider keeps in Airflow between runs, in one place.

==============  ==================================================================================
``variables``   small JSON state in an Airflow Variable (load, save; sync and async)
``watermarks``  an incremental export's sync tokens per calendar and data interval
``cursor``      a calendar watch's cursor (CalendarChangeTrigger)
==============  ==================================================================================
"""
