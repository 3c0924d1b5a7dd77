"""Apache Airflow provider for the DingTalk Calendar server API.

Importing this package is cheap on purpose (the scheduler imports operator modules on every DAG parse):
hooks, operators and the emulator live in their own modules.
"""

__version__ = "0.2.0"

#: Where the documentation lives (absolute, so links work from an installed package and on PyPI).
DOCS_URL = "https://github.com/airflow-dtcal/airflow-dtcal/blob/main/docs/"
