"""Run a DAG for real with ``dag.test()`` (sqlite metadata DB) and read back task states and XComs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DagRunResult:
    state: str
    run_id: str
    task_states: dict[str, str]
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom(self, task_id: str, map_index: int = -1) -> Any:
        return self.xcoms[(task_id, map_index)]


def run_dag(dag, *, conf: dict | None = None, logical_date=None, run_after=None) -> DagRunResult:
    """Run ``dag`` in-process and collect every task's state and ``return_value`` XCom."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    kwargs: dict[str, Any] = {"run_conf": conf}
    if logical_date is not None:
        kwargs["logical_date"] = logical_date
    if run_after is not None:
        kwargs["run_after"] = run_after
    dag_run = dag.test(**kwargs)
    with create_session() as session:
        states = {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
            for ti in dag_run.get_task_instances(session=session)
        }
        rows = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag.dag_id, key="return_value")
        )
        xcoms = {(row.task_id, row.map_index): XComModel.deserialize_value(row) for row in rows}
    return DagRunResult(state=str(dag_run.state), run_id=dag_run.run_id, task_states=states, xcoms=xcoms)
