"""MLflow: the run config as params, the step scalars as metrics, and at the end the best model's
final metrics (``final/dev/...``, ``final/test/...``) and the run's reports, plots and model card
as artifacts.

The store defaults to SQLite in the run directory (``sqlite:///<run>/mlflow.db``: MLflow 3's default
backend; its file store is deprecated), with a new experiment's artifacts beside the database in
``mlartifacts/`` rather than in ``./mlruns`` of whatever directory training started from.
``<run>/mlflow_run.json`` records the store and the run, so that ``--resume`` continues that run.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from whet.errors import WhetError
from whet.io.atomic import write_json_atomic
from whet.training.loop import StepEvent
from whet.training.trackers.base import step_scalars

log = logging.getLogger("whet")

RUN_RECORD = "mlflow_run.json"


class MlflowTracker:
    def __init__(self, client: Any, run_id: str, run_dir: Path) -> None:
        self.client, self.run_id, self.run_dir = client, run_id, run_dir

    def log_step(self, event: StepEvent, lr: float) -> None:
        self.log_metrics(step_scalars(event, lr), event.step)

    def log_outcome(self, results: dict[str, Any], files: list[Path]) -> None:
        # At the best step: the final reports are computed with the weights it saved.
        self.log_metrics({f"final/{split}/{name}": value for split in ("dev", "test")
                          for name, value in results.get(split, {}).items()
                          if isinstance(value, (int, float)) and not isinstance(value, bool)},
                         results.get("best_step") or 0)
        for path in files:
            folder = path.parent.relative_to(self.run_dir).as_posix()
            self.client.log_artifact(self.run_id, str(path), None if folder == "." else folder)

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status)

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(name, float(value), now, step)
                                                    for name, value in values.items()])


def open_tracker(run_dir: Path, *, resume: bool, output: Any, params: dict[str, Any]) -> MlflowTracker:
    """A new MLflow run, or with ``resume`` the one ``run_dir`` recorded."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    record = run_dir / RUN_RECORD
    resumed = json.loads(record.read_text(encoding="utf-8")) if resume and record.is_file() else None
    uri = resumed["tracking_uri"] if resumed else tracking_uri(output.mlflow_uri, run_dir)
    client = MlflowClient(uri)
    try:
        if resumed:
            run_id = resumed["run_id"]
            client.update_run(run_id, status="RUNNING")
            log_new_params(client, run_id, flat_params(params))
            log.info("continuing MLflow run %s in %s", run_id, uri)
            return MlflowTracker(client, run_id, run_dir)
        run = client.create_run(experiment_id(client, output.mlflow_experiment, uri),
                                run_name=output.mlflow_run_name or run_dir.name,
                                tags={"whet.run_dir": str(run_dir.resolve())})
        run_id = run.info.run_id
        log_new_params(client, run_id, flat_params(params))
    except MlflowException as err:
        where = f"the run recorded in {record}" if resumed else "output.mlflow_uri or MLFLOW_TRACKING_URI"
        raise WhetError(f"MLflow store {uri}: {err.message}; check {where}") from None
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, {"tracking_uri": uri, "run_id": run_id})
    log.info("MLflow run %s in %s", run_id, uri)
    return MlflowTracker(client, run_id, run_dir)


def tracking_uri(configured: str | None, run_dir: Path) -> str:
    """``output.mlflow_uri``, else ``MLFLOW_TRACKING_URI``, else SQLite in the run directory."""
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(run_dir / 'mlflow.db').resolve()}"


def experiment_id(client: Any, name: str, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifacts = None
    if uri.startswith("sqlite:///"):  # a local database: its artifacts beside it, not under the cwd
        artifacts = (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()
    try:
        return client.create_experiment(name, artifact_location=artifacts)
    except MlflowException:  # created by another run meanwhile
        return client.get_experiment_by_name(name).experiment_id


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"training": {"lr": 0.001}}`` -> ``{"training.lr": "0.001"}``."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flat_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def log_new_params(client: Any, run_id: str, params: dict[str, str]) -> None:
    """MLflow keeps a param's first value: a resumed run adds the params it lacks and names those
    whose value changed, which keep the value they started with."""
    from mlflow.entities import Param

    logged = client.get_run(run_id).data.params
    changed = sorted(key for key, value in params.items() if key in logged and logged[key] != value)
    if changed:
        log.warning("MLflow keeps the params the run started with; changed since: %s", ", ".join(changed))
    client.log_batch(run_id, params=[Param(key, value) for key, value in params.items() if key not in logged])
