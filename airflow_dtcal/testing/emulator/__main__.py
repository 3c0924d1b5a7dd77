"""``python -m airflow_dtcal.testing.emulator``: the same as the ``dtcal-emulator`` command."""

import sys

from airflow_dtcal.testing.emulator.cli import main

sys.exit(main())
