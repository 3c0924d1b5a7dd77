"""The domain logic, pure: no Airflow import, no I/O.

==============  ==================================================================================
``events``      the CreateEvent body from pythonic arguments: times, recurrence, reminders, notices
``markers``     event keys: how an event carries the key that makes it the one intended
``update``      what to send to PatchEvent: the fields that differ from the stored event
``event_sets``  a declarative sync of a set of events: create, update, cancel
``slots``       the first slot when people (and a room) are free
``responses``   whether attendee responses meet a condition
``watch``       what a calendar change is: a Stream notice, a listed event classified, fingerprints
``budget``      the monthly call budget and poll spacing
``people``      resolving userIds and mobiles to unionIds: the steps, the cache, the outcome
==============  ==================================================================================
"""
