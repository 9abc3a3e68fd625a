"""whet tune on a tiny random BERT: the study file, the outputs, continuing a study, pruning."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest

from tests.conftest import DEMO, write_config
from tests.in_process import run_whet
from whet.config import load_config
from whet.errors import Interrupted
from whet.training.interrupt import STOP
from whet.tune import tune
from whet.validate import config_problems

SEARCH = {"trials": 2, "sampler": {"seed": 3, "startup_trials": 2}, "pruner": {"name": "none"},
          "params": {"training.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
                     "training.batch_size": {"type": "categorical", "choices": [8, 16]}}}


def tune_config(tmp_path: Path, model: Path, name: str, search: dict) -> Path:
    raw = {
        "task": "token-classification",
        "model": str(model),
        "data": {"train": str(DEMO / "ner" / "train.conll"), "dev": str(DEMO / "ner" / "dev.conll")},
        "training": {"epochs": 2, "eval_every": 7, "log_every": 5, "seed": 7},
        "output": {"dir": str(tmp_path / name)},
        "tune": search,
    }
    return write_config(tmp_path, name, raw, {})


def study_of(out: Path) -> optuna.Study:
    return optuna.load_study(study_name="whet-tune", storage=f"sqlite:///{out / 'study.db'}")


def states(study: optuna.Study) -> list[str]:
    return [trial.state.name for trial in study.trials]


@pytest.fixture(scope="module")
def search(tiny_bert, tmp_path_factory):
    """Two trials, then a third started and interrupted: shared by the tests that inspect them."""
    tmp_path = tmp_path_factory.mktemp("tune")
    path = tune_config(tmp_path, tiny_bert, "search", SEARCH)
    first = tune(load_config(path))
    return path, first, tmp_path / "search"


def test_trials_run_and_the_study_is_in_sqlite(search):
    _, result, out = search
    study = study_of(out)
    assert states(study) == ["COMPLETE", "COMPLETE"]
    assert result.metric == "f1" and result.best.value == max(t.value for t in study.trials)
    assert len({trial.params["training.lr"] for trial in study.trials}) == 2  # two different draws
    for trial in study.trials:  # its dev F1 at every 7-step evaluation, at hundredths of the 2 epochs
        assert len(trial.intermediate_values) >= 2 and 0 < min(trial.intermediate_values) < max(trial.intermediate_values) <= 200
        assert (out / f"trial-{trial.number:03d}" / "config.yaml").is_file()


def test_only_the_best_model_is_kept_and_no_checkpoints(search):
    _, result, out = search
    for number in (0, 1):
        run = out / f"trial-{number:03d}"
        assert (run / "model" / "model.safetensors").is_file() == (number == result.best.number)
        assert not (run / "checkpoints").exists()
        assert (run / "dev_report.json").is_file()


def test_table_and_plots_are_written(search):
    _, result, out = search
    with open(out / "trials.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["state"] for row in rows] == ["complete", "complete"]
    assert {float(row["f1"]) for row in rows} == {t.value for t in study_of(out).trials}
    assert float(rows[result.best.number]["training.lr"]) == result.best.params["training.lr"]
    markdown = (out / "trials.md").read_text()
    assert markdown.startswith("| trial | state | f1 | duration_s | training.batch_size | training.lr |")
    for plot in ("history.png", "importances.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_best_config_validates_and_holds_the_best_values(search):
    _, result, out = search
    assert result.best_config == out / "best.yaml"
    assert config_problems(result.best_config) == []
    best = load_config(result.best_config)
    assert best.training.lr == result.best.params["training.lr"]
    assert best.training.batch_size == result.best.params["training.batch_size"]
    assert best.training.metric == "f1" and not best.tune.params
    assert best.output.dir == str(out / "retrain")
    assert "\ntune:" not in result.best_config.read_text()


def test_an_interrupted_search_continues_to_the_number_of_trials_asked(search, monkeypatch):
    path, _, out = search
    import whet.tune as tune_module

    real_handler = tune_module.report_to_trial

    def stop_at_first_step(trial, metric):  # Ctrl-C during the third trial
        handler = real_handler(trial, metric)

        def on_step(event):
            STOP.set()
            handler(event)
        return on_step

    monkeypatch.setattr(tune_module, "report_to_trial", stop_at_first_step)
    with pytest.raises(Interrupted, match="run whet tune again to go on"):
        tune(load_config(path), trials=3)
    assert states(study_of(out)) == ["COMPLETE", "COMPLETE", "FAIL"]

    monkeypatch.setattr(tune_module, "report_to_trial", real_handler)
    before = {t.number: t.value for t in study_of(out).trials[:2]}
    result = tune(load_config(path), trials=3)  # three in all: one more runs
    study = study_of(out)
    assert states(study) == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]
    assert {t.number: t.value for t in study.trials[:2]} == before
    assert result.best.value == max(t.value for t in study.trials if t.value is not None)
    assert len(list((out).glob("trial-*/model"))) == 1

    tune(load_config(path), trials=3)  # nothing left to run
    assert len(study_of(out).trials) == 4


def test_a_pruned_trial_stops_at_its_first_evaluation(tiny_bert, tmp_path):
    # F1 never reaches 2, so the threshold pruner stops each trial once warm-up (none) is over.
    pruning = {**SEARCH, "trials": 1, "pruner": {"name": "threshold", "threshold": 2.0, "warmup_epochs": 0}}
    path = tune_config(tmp_path, tiny_bert, "pruned", pruning)
    result = tune(load_config(path))
    [trial] = study_of(tmp_path / "pruned").trials
    assert trial.state.name == "PRUNED" and len(trial.intermediate_values) == 1
    assert 0 < next(iter(trial.intermediate_values)) < 100  # hundredths of an epoch: within the first
    assert result.best is None and result.best_config is None
    assert not (tmp_path / "pruned" / "trial-000" / "model").exists()  # training ended before the save
    assert "pruned" in (tmp_path / "pruned" / "trials.md").read_text()


def test_a_pruner_with_one_evaluation_per_trial_is_warned_about_and_prunes_nothing(tiny_bert, tmp_path, caplog):
    pruning = {**SEARCH, "trials": 1, "pruner": {"name": "threshold", "threshold": 2.0, "warmup_epochs": 0}}
    path = tune_config(tmp_path, tiny_bert, "once", pruning)
    with caplog.at_level("WARNING", logger="whet"):
        tune(load_config(path, ["training.eval_every=end"]))
    assert "training.eval_every is end: each trial is scored once, at its end, so the threshold pruner" in caplog.text
    [trial] = study_of(tmp_path / "once").trials
    assert len(trial.intermediate_values) == 1 and next(iter(trial.intermediate_values)) == 200  # the end of 2 epochs


def test_cli_reports_a_bad_tune_section_in_one_go(tiny_bert, tmp_path):
    bad = {"params": {"training.warmup": {"type": "float", "low": 0.0, "high": 0.2},
                      "training.epochs": {"type": "int", "low": 0, "high": 3}}}
    path = tune_config(tmp_path, tiny_bert, "bad", bad)
    result = run_whet("tune", str(path), "--trials", "2")
    assert result.returncode == 2
    assert "tune.params.training.warmup: unknown config path; did you mean 'training.warmup_ratio'?" in result.stderr
    assert "tune.params.training.epochs: the value 0 is refused: training.epochs" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "bad").exists()


def test_cli_refuses_a_config_without_a_search(tiny_bert, tmp_path):
    path = tune_config(tmp_path, tiny_bert, "nothing", {"trials": 3})
    result = run_whet("tune", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: tune.params: no settings to search; name at least one, e.g. training.lr: "
        "{type: float, low: 1.0e-5, high: 1.0e-3, log: true}"]


def test_cli_refuses_a_number_of_trials_below_one(tiny_bert, tmp_path):
    path = tune_config(tmp_path, tiny_bert, "zero", SEARCH)
    result = run_whet("tune", str(path), "--trials", "0")
    assert result.returncode == 2
    assert "--trials" in result.stderr and "Traceback" not in result.stderr


def test_whet_train_on_a_config_with_a_search_says_so(tiny_bert, tmp_path, caplog):
    import logging

    from whet.train import train

    path = tune_config(tmp_path, tiny_bert, "plain", SEARCH)
    with caplog.at_level(logging.WARNING, logger="whet"):
        train(load_config(path, overrides=["training.max_steps=2", "training.eval_every=2"]))
    assert any("tune section is a search for whet tune" in r.getMessage() for r in caplog.records)
