"""Run a DAG for real with ``dag.test()`` (sqlite metadata DB): the package's own helper, which the
``dtcal_dag_test`` fixture uses too."""

from __future__ import annotations

from airflow_dtcal.testing.dag_runs import DagRunResult, run_dag

__all__ = ["DagRunResult", "run_dag"]
