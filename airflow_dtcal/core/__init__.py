"""The pure core under both of the hook's transports: no Airflow import, no I/O.

=================  ==================================================================================
``settings``       connection fields + extras (plain and prefixed keys) + hook arguments -> ``Settings``
``calls``          one ``Call`` per API operation: method, percent-encoded path, query, body, headers
``answers``        an HTTP answer -> the parsed body or a typed error: size cap, gzip, JSON, shape, codes
``jsontext``       JSON from strangers: linear-time parsing with bounded nesting (answers, frames, state)
``paging``         ``nextToken`` loops that end: repeated tokens, a page cap, oversized pages
``retry``          which failures are retried, and the capped backoff between attempts
``pacing``         process-wide access tokens and the per-app, per-API pacer shared by sync and async
=================  ==================================================================================

The sync methods (``requests.Session``) and the async ``a*`` methods (``httpx.AsyncClient``) of
:class:`~airflow_dtcal.hooks.calendar.DingTalkCalendarHook` differ only in how they move bytes.
"""
