"""Load of ``make test-deployment EXECUTOR=celery``: ``parts`` mapped tasks, each gathering ``creates``
``acreate_event`` calls on one hook, so the Celery workers (each as if on a machine of its own) call one
DingTalk app at the same time. The connection's ``pacing="redis"`` shares the app's 20 calls/s between them.
The harness (scripts/deployment/celery_load.py) passes the numbers in the run's conf."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

with DAG(
    dag_id="dtcal_deploy_load",
    description="Many gathered creates on every Celery worker at once (deployment check)",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["dingtalk", "deployment"],
    params={
        "organizer": Param("union-load-organizer", type="string"),
        "parts": Param(2, type="integer", minimum=1, maximum=16),
        "creates": Param(10, type="integer", minimum=1, maximum=500),
    },
) as dag:

    @task
    def parts(params=None) -> list[int]:
        return list(range(params["parts"]))

    @task(retries=0)
    def create_events(part: int, params=None) -> dict:
        """``creates`` events in the organizer's calendar, all gathered at once on one hook."""
        import asyncio

        from airflow_dtcal.hooks.calendar import DingTalkCalendarHook

        organizer, count = params["organizer"], params["creates"]

        def body(i: int) -> dict:
            day = pendulum.datetime(2026, 6, 1, 9, tz="Asia/Shanghai").add(days=part, minutes=i)
            return {
                "summary": f"Load {part}-{i}",
                "start": {"dateTime": day.isoformat(), "timeZone": "Asia/Shanghai"},
                "end": {"dateTime": day.add(minutes=30).isoformat(), "timeZone": "Asia/Shanghai"},
            }

        async def gathered() -> list[dict]:
            hook = DingTalkCalendarHook()
            try:
                return await asyncio.gather(*(hook.acreate_event(organizer, body(i)) for i in range(count)))
            finally:
                await hook.aclose()

        created = asyncio.run(gathered())
        return {"part": part, "created": len(created)}

    create_events.expand(part=parts())
