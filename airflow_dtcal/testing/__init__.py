"""Test support for airflow-dtcal: a local DingTalk Calendar API emulator and a pytest fixture.

The names are imported lazily so that importing this package (the pytest plugin does, in every pytest
run of the environment) costs nothing until the emulator is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["DingTalkEmulator", "EmulatorAdmin"]

if TYPE_CHECKING:  # pragma: no cover
    from airflow_dtcal.testing.emulator import DingTalkEmulator, EmulatorAdmin


def __getattr__(name: str) -> Any:
    if name in __all__:
        from airflow_dtcal.testing import emulator

        return getattr(emulator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
