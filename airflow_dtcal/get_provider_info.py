"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from airflow_dtcal import __version__
from airflow_dtcal.core import connection_form


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
                # The extra fields, from the one table the 3.0-3.1 form widgets use too.
                "conn-fields": connection_form.conn_fields(),
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
                    "airflow_dtcal.operators.events",
                    "airflow_dtcal.operators.event_updates",
                    "airflow_dtcal.operators.attendees",
                    "airflow_dtcal.operators.event_sets",
                    "airflow_dtcal.operators.rooms",
                    "airflow_dtcal.operators.slots",
                    "airflow_dtcal.operators.people",
                    "airflow_dtcal.operators.calendars",
                ],
            }
        ],
        "transfers": [
            {
                "source-integration-name": "DingTalk Calendar",
                "target-integration-name": "Common IO",
                "python-module": "airflow_dtcal.transfers.export",
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
