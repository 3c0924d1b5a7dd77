"""Run a DAG for real with ``dag.test()`` and read back the run's and the tasks' states and XComs.

The ``dtcal_dag_test`` fixture (:mod:`airflow_dtcal.testing.pytest_plugin`) calls :func:`run_dag` after it
has made the metadata database and a DAG bundle holding the DAG's file; this module imports Airflow only
when a DAG runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


@dataclass
class DagRunResult:
    """What one ``dag.test()`` left in the metadata database."""

    state: str
    run_id: str
    task_states: dict[str, str]
    #: ``return_value`` XComs by (task id, map index).
    xcoms: dict[tuple[str, int], Any] = field(default_factory=dict)

    def xcom(self, task_id: str, map_index: int = -1) -> Any:
        return self.xcoms[(task_id, map_index)]

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


def run_dag(
    dag: Any, *, conf: dict | None = None, logical_date: Any = None, run_after: Any = None
) -> DagRunResult:
    """Run ``dag`` in-process and collect every task's state and ``return_value`` XCom."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    kwargs: dict[str, Any] = {"run_conf": conf}
    if logical_date is not None:
        kwargs["logical_date"] = logical_date
    if run_after is not None:
        kwargs["run_after"] = run_after
    _activate_assets(dag)
    dag_run = dag.test(**kwargs)
    with create_session() as session:
        states = {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
            for ti in dag_run.get_task_instances(session=session)
        }
        rows: Any = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag.dag_id, key="return_value")
        )
        xcoms = {(row.task_id, row.map_index): XComModel.deserialize_value(row) for row in rows}
    return DagRunResult(state=str(dag_run.state), run_id=dag_run.run_id, task_states=states, xcoms=xcoms)


def _activate_assets(dag: Any) -> None:
    """Airflow 3.0's ``dag.test()`` writes nothing of the DAG to the metadata database, and a task whose
    inlet or outlet asset is not active there fails (``AirflowInactiveAssetInInletOrOutletException``);
    3.1+ write the DAG's bundle first. On 3.0 this records and activates the DAG's assets as the
    dag-processor would."""
    from airflow import __version__

    if not __version__.startswith("3.0."):
        return
    from airflow.dag_processing.collection import AssetModelOperation
    from airflow.serialization.serialized_objects import SerializedDAG
    from airflow.utils.session import create_session

    serialized = SerializedDAG.serialize_dag(dag)  # type: ignore[attr-defined]  # 3.0's API (3.3 moved it)
    scheduler_dag = SerializedDAG.deserialize_dag(serialized)  # type: ignore[attr-defined]
    assets = AssetModelOperation.collect({dag.dag_id: scheduler_dag})
    with create_session() as session:
        models = assets.sync_assets(session=session)
        session.flush()
        assets.activate_assets_if_possible(models.values(), session=session)


def load_dag(path: Path, dag_id: str | None = None) -> Any:
    """The DAG defined by the file at ``path`` (the one named ``dag_id`` when the file defines several),
    parsed by Airflow's own DagBag as the dag-processor would."""
    try:  # Airflow 3.1+ (the old home warns there)
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    if not path.is_file():
        raise ValueError(f"{path}: no such DAG file")
    bag = DagBag(dag_folder=str(path), safe_mode=False)
    if bag.import_errors:
        raise ValueError(f"{path}: the DAG file does not import:\n" + "\n".join(bag.import_errors.values()))
    dags = {name: dag for name, dag in bag.dags.items() if Path(dag.fileloc).resolve() == path.resolve()}
    if dag_id is not None:
        if dag_id not in dags:
            raise ValueError(f"{path}: defines no DAG {dag_id!r} (it defines {sorted(dags)})")
        return dags[dag_id]
    if len(dags) != 1:
        raise ValueError(f"{path}: defines {len(dags)} DAGs {sorted(dags)}; name one with dag_id=")
    return next(iter(dags.values()))


def bundles_holding(folder: Path) -> str | None:
    """None when a configured local DAG bundle holds ``folder``; else the bundle list (JSON, for
    ``AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST``) with one named ``dtcal-dag-test`` that does."""
    from airflow.configuration import conf

    configured = conf.getjson("dag_processor", "dag_bundle_config_list") or []
    bundles: list[dict] = (
        [b for b in configured if isinstance(b, dict)] if isinstance(configured, list) else []
    )
    dags_folder = Path(os.path.expanduser(conf.get("core", "dags_folder"))).resolve()
    for bundle in bundles:
        if bundle.get("classpath") != LOCAL_BUNDLE:
            continue
        path = (bundle.get("kwargs") or {}).get("path")
        root = Path(path).resolve() if path else dags_folder
        if folder == root or root in folder.parents:
            return None
    own = {"name": "dtcal-dag-test", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(folder)}}
    others = [b for b in bundles if b.get("name") != own["name"]]
    return json.dumps([*others, own])
