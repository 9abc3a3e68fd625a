"""Experiment tracking: tiny runs logged to a real MLflow store in a temp dir and read back with
``MlflowClient`` (params, metric histories with their steps, artifacts); an interrupted run resumed
into the same MLflow run; a failing run ended as FAILED; no tracker at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO, write_config
from whet.config import load_config
from whet.errors import Interrupted
from whet.train import train
from whet.training.interrupt import STOP

STEPS, EVAL_EVERY = 6, 3


def first_lines(source: Path, target: Path, lines: int) -> str:
    target.write_text("".join(source.read_text(encoding="utf-8").splitlines(keepends=True)[:lines]),
                      encoding="utf-8")
    return str(target)


def tracked_config(tmp_path: Path, model: Path, name: str, trackers: list[str], **output) -> Path:
    """32 intents, 6 steps of 16, dev (16 intents) scored every 3 steps, every step logged."""
    raw = {"task": "sequence-classification", "model": str(model),
           "data": {"train": first_lines(DEMO / "intents" / "train.jsonl", tmp_path / "train.jsonl", 32),
                    "dev": first_lines(DEMO / "intents" / "dev.jsonl", tmp_path / "dev.jsonl", 16)},
           "training": {"max_steps": STEPS, "lr": 1e-2, "batch_size": 16, "eval_every": EVAL_EVERY,
                        "log_every": 1, "seed": 3},
           "output": {"dir": str(tmp_path / name), "trackers": trackers, **output}}
    return write_config(tmp_path, name, raw, {})


def only_run(uri: str, experiment: str = "whet"):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def steps(client, run, metric: str) -> list[int]:
    return [m.step for m in sorted(client.get_metric_history(run.info.run_id, metric), key=lambda m: m.step)]


@pytest.fixture(scope="module")
def both_run(tiny_bert, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    events = []
    config = tracked_config(tmp_path, tiny_bert, "both", ["tensorboard", "mlflow"], mlflow_uri=uri,
                            mlflow_experiment="intents", mlflow_run_name="tiny-intents")
    results = train(load_config(config), on_step=events.append)
    return uri, results, events, tmp_path


def test_mlflow_run_holds_the_config_as_params(both_run):
    uri, _, _, tmp_path = both_run
    client, run = only_run(uri, "intents")
    assert run.info.run_name == "tiny-intents" and run.info.status == "FINISHED"
    params = run.data.params
    assert params["task"] == "sequence-classification"
    assert params["training.lr"] == "0.01" and params["training.max_steps"] == str(STEPS)
    assert params["output.trackers"] == "['tensorboard', 'mlflow']"
    record = json.loads((tmp_path / "both" / "mlflow_run.json").read_text())
    assert record == {"tracking_uri": uri, "run_id": run.info.run_id}


def test_mlflow_metrics_are_every_logged_step_and_every_evaluation(both_run):
    uri, results, events, _ = both_run
    client, run = only_run(uri, "intents")
    history = sorted(client.get_metric_history(run.info.run_id, "train/loss"), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(1, STEPS + 1))
    assert [m.value for m in history] == pytest.approx([e.loss for e in events])
    assert steps(client, run, "train/lr") == list(range(1, STEPS + 1))
    evaluated = [e for e in events if e.metrics is not None]
    for metric in ("accuracy", "loss"):
        dev = sorted(client.get_metric_history(run.info.run_id, f"dev/{metric}"), key=lambda m: m.step)
        assert [m.step for m in dev] == [EVAL_EVERY, 2 * EVAL_EVERY] == [e.step for e in evaluated]
        assert [m.value for m in dev] == pytest.approx([e.metrics[metric] for e in evaluated])
    final = client.get_metric_history(run.info.run_id, "final/dev/accuracy")
    assert [(m.step, m.value) for m in final] == [(results["best_step"], pytest.approx(results["dev"]["accuracy"]))]


def test_mlflow_artifacts_are_the_reports_plots_and_model_card(both_run):
    uri, _, _, tmp_path = both_run
    client, run = only_run(uri, "intents")
    top = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "dev_report.json", "dev_report.md", "training_curves.png", "model"} <= top
    model = {artifact.path for artifact in client.list_artifacts(run.info.run_id, "model")}
    assert model == {"model/README.md", "model/whet.json"}  # the card, not the weights
    # A local store keeps the artifacts beside its database, not in ./mlruns of the working directory.
    assert run.info.artifact_uri.startswith((tmp_path / "store" / "mlartifacts").as_uri())
    assert (tmp_path / "both" / "tensorboard").is_dir()


def test_interrupted_run_resumes_into_the_same_mlflow_run(tiny_bert, tmp_path):
    config = load_config(tracked_config(tmp_path, tiny_bert, "resumed", ["mlflow"]))
    run_dir = tmp_path / "resumed"
    uri = f"sqlite:///{run_dir / 'mlflow.db'}"  # the default store: in the run directory

    def stop_at_4(event) -> None:
        if event.step == 4:
            STOP.set()

    with pytest.raises(Interrupted):
        train(config, on_step=stop_at_4)
    client, run = only_run(uri)
    assert run.info.status == "KILLED"
    assert steps(client, run, "train/loss") == [1, 2, 3, 4]

    train(config, resume=True)
    client, resumed = only_run(uri)
    assert resumed.info.run_id == run.info.run_id and resumed.info.status == "FINISHED"
    assert steps(client, resumed, "train/loss") == list(range(1, STEPS + 1))
    assert steps(client, resumed, "dev/accuracy") == [EVAL_EVERY, 2 * EVAL_EVERY]
    assert (run_dir / "mlartifacts").is_dir() and not (run_dir / "tensorboard").exists()


def test_failing_run_ends_as_failed_in_the_store_mlflow_tracking_uri_names(tiny_bert, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    config = load_config(tracked_config(tmp_path, tiny_bert, "failing", ["mlflow"]))

    def fail_at_2(event) -> None:
        if event.step == 2:
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        train(config, on_step=fail_at_2)
    client, run = only_run(uri)
    assert run.info.status == "FAILED" and steps(client, run, "train/loss") == [1, 2]
    assert not (tmp_path / "failing" / "mlflow.db").exists()


def test_no_trackers_write_neither_tensorboard_nor_mlflow(tiny_bert, tmp_path):
    results = train(load_config(tracked_config(tmp_path, tiny_bert, "untracked", [])))
    run_dir = tmp_path / "untracked"
    assert "accuracy" in results["dev"] and (run_dir / "model" / "whet.json").is_file()
    for name in ("tensorboard", "mlflow.db", "mlflow_run.json", "mlartifacts"):
        assert not (run_dir / name).exists(), name


def test_cli_without_mlflow_installed_says_how_to_install_it(tmp_path):
    config = tracked_config(tmp_path, tmp_path / "no-model", "cli", ["mlflow"])
    # whet's CLI in a process where importing mlflow finds nothing, as where it is not installed.
    script = "import runpy, sys; sys.modules['mlflow'] = None; runpy.run_module('whet', run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", script, "train", str(config)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "pip install 'whet[mlflow]'" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "cli").exists()
