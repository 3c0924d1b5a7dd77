"""airflow_dtcal.compat's masking on the running Airflow line, outside a task (a worker's or triggerer's view).

Inside a task under ``dags test`` (supervisor in the same process) tests/test_secrets.py covers it.
"""

from __future__ import annotations

import asyncio

from airflow_dtcal import compat
from tests.airflow_compat import redact


def test_mask_secret_registers_the_value_with_airflows_masker():
    compat.mask_secret("compat-sync-value-6d1f0a")
    assert redact("token=compat-sync-value-6d1f0a") == "token=***"


def test_amask_secret_registers_the_value_from_a_coroutine():
    asyncio.run(compat.amask_secret("compat-async-value-9e2b7c"))
    assert redact("token=compat-async-value-9e2b7c") == "token=***"


def test_empty_values_are_ignored():
    compat.mask_secret("")
    asyncio.run(compat.amask_secret(""))
    assert redact("nothing to hide") == "nothing to hide"
