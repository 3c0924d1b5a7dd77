"""Test DAG (tests/test_secrets.py): what Airflow itself prints when a task fetches a connection, and proof
that the access token, registered through ``airflow_dtcal.compat.mask_secret``, is known to Airflow's masker.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

with DAG(
    "dtcal_secret_probe",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as probe:

    @task
    def airflow_fetches_the_connection():
        """Only Airflow's own code: the connection fetch the hook also makes, nothing of the provider's."""
        from airflow_dtcal.compat import BaseHook

        BaseHook.get_connection("dingtalk_calendar_default")

    @task
    def token_as_airflow_redacts_it():
        """The hook's token, through Airflow's own redact(): "token=***" if the masker knows it."""
        from airflow.providers.common.compat.sdk import redact

        from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

        return redact(f"token={DingTalkCalendarHook().get_access_token()}")

    airflow_fetches_the_connection() >> token_as_airflow_redacts_it()
