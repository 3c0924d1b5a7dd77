"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from airflow_dtcal import __version__


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-dtcal",
        "name": "DingTalk Calendar",
        "description": "Create DingTalk Calendar events, invite, list, sync and remove attendees (by "
        "unionId, org userId or mobile), wait for their responses, export events, RSVPs and check-ins to "
        "storage, and run DAGs when a calendar changes.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "dingtalk_calendar",
                "hook-name": "DingTalk Calendar",
                "hook-class-name": "airflow_dtcal.hooks.calendar.DingTalkCalendarHook",
                # Airflow 3.2+ builds the connection form from these without importing the hook.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "login": "App Key (Client ID)",
                        "password": "App Secret (Client Secret)",
                        "host": "API host",
                    },
                    "placeholders": {
                        "login": "dingxxxxxxxxxxxxxxxx",
                        "password": "the app's Client Secret",
                        "host": "api.dingtalk.com (or http://127.0.0.1:PORT for the emulator)",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (s)",
                        "description": "Seconds to wait for DingTalk to answer one request (default 30).",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "max_attempts": {
                        "label": "Max attempts",
                        "description": "Tries per request, the first included (default 5).",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "rate_limit": {
                        "label": "Calls per second per API",
                        "description": "Client-side pacing per app and API in one process; DingTalk allows 20 "
                        "(default 20, 0 = off).",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                },
            }
        ],
        "hook-class-names": ["airflow_dtcal.hooks.calendar.DingTalkCalendarHook"],
        "hooks": [
            {"integration-name": "DingTalk Calendar", "python-modules": ["airflow_dtcal.hooks.calendar"]}
        ],
        "operators": [
            {
                "integration-name": "DingTalk Calendar",
                "python-modules": [
                    "airflow_dtcal.operators.calendar",
                    "airflow_dtcal.operators.events",
                    "airflow_dtcal.operators.export",
                    "airflow_dtcal.operators.lifecycle",
                    "airflow_dtcal.operators.rooms",
                    "airflow_dtcal.operators.slots",
                    "airflow_dtcal.operators.sync",
                    "airflow_dtcal.operators.people",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "DingTalk Calendar", "python-modules": ["airflow_dtcal.sensors.attendees"]}
        ],
        "triggers": [
            {
                "integration-name": "DingTalk Calendar",
                "python-modules": ["airflow_dtcal.triggers.attendees", "airflow_dtcal.triggers.watch"],
            }
        ],
        "integrations": [
            {
                "integration-name": "DingTalk Calendar",
                "external-doc-url": "https://open.dingtalk.com/document/development/create-schedule",
                "tags": ["service"],
            }
        ],
    }
