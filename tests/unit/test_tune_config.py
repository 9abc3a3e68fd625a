"""The run config's tune section: its checks against the other sections, the trial configs built from
it, and the pruning handler on a study without a model."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest

from whet.config import RunConfig, config_paths, tune_metric, validation_problems
from whet.tune import build_pruner, epoch_step, report_to_trial, trial_config

LR = {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}


def raw_config(tune: dict, **sections) -> dict:
    return {"task": "sequence-classification", "data": {"train": "train.csv"}, **sections, "tune": tune}


def test_a_valid_search_has_no_problems() -> None:
    tune = {"params": {"training.lr": LR, "training.batch_size": {"type": "categorical", "choices": [16, 32]},
                       "training.warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2, "step": 0.05},
                       "method.lora.r": {"type": "int", "low": 4, "high": 32, "step": 4}}}
    assert validation_problems(raw_config(tune, method={"name": "lora"})) == []


def test_every_problem_is_reported_at_once_naming_the_field() -> None:
    tune = {"metric": "acuracy",
            "params": {"method.r": {"type": "int", "low": 4, "high": 16},
                       "training.lr": {"type": "float", "low": 1e-5, "high": 2.0},
                       "training.batch_size": {"type": "float", "low": 8, "high": 32},
                       "method.lora.r": {"type": "int", "low": 4, "high": 16},
                       "output.dir": {"type": "categorical", "choices": ["a", "b"]}}}
    problems = validation_problems(raw_config(tune))
    assert problems[0].startswith("tune.metric: unknown metric 'acuracy'; did you mean 'accuracy'?")
    assert problems[1] == "tune.params.method.r: unknown config path; did you mean 'method.lora.r'?"
    assert problems[2].startswith("tune.params.training.lr: the value 2.0 is refused: training.lr: Input should be "
                                  "less than or equal to 1")
    assert problems[3].startswith("tune.params.training.batch_size: the value 16.8")  # a float range, an int field
    assert "valid integer" in problems[3]
    assert problems[4].startswith("tune.params.method.lora.r: the value 4 is refused: method.lora: these settings "
                                  "belong to method 'lora', but method.name is 'full'")
    assert problems[5].startswith("tune.params.output.dir: unknown config path")  # each trial has its own
    assert len(problems) == 6


@pytest.mark.parametrize(("entry", "message"), [
    ({"low": 1e-5, "high": 1e-3}, "tune.params.training.lr: give the distribution's type: float, int, categorical"),
    ({"type": "float", "low": 1e-3, "high": 1e-5}, "tune.params.training.lr: low 0.001 is above high 1e-05; swap them"),
    ({"type": "float", "low": 0.0, "high": 1e-3, "log": True}, "tune.params.training.lr: log: true needs low above 0"),
    ({"type": "float", "low": 1e-5, "hihg": 1e-3}, "tune.params.training.lr.hihg: unknown key; did you mean 'high'?"),
    ({"type": "categorical", "choices": []}, "tune.params.training.lr.choices: List should have at least 1 item"),
])
def test_a_malformed_distribution_names_its_entry(entry: dict, message: str) -> None:
    problems = validation_problems(raw_config({"params": {"training.lr": entry}}))
    assert any(problem.startswith(message) for problem in problems), problems


def test_metric_and_direction_follow_the_task() -> None:
    config = RunConfig.model_validate(raw_config({"params": {"training.lr": LR}}))
    assert tune_metric(config) == ("accuracy", "maximize")
    config = RunConfig.model_validate(raw_config({"metric": "loss", "params": {"training.lr": LR}}))
    assert tune_metric(config) == ("loss", "minimize")
    problems = validation_problems(raw_config({"metric": "loss", "direction": "maximize", "params": {"training.lr": LR}}))
    assert problems == ["tune.direction: loss is better lower; set direction: minimize or leave it out"]
    problems = validation_problems(raw_config({"metric": "f1", "params": {"training.lr": LR}},
                                              training={"metric": "accuracy"}))
    assert problems[0].startswith("tune.metric: trials keep their best checkpoint by the metric searched on")


def test_threshold_pruner_needs_its_threshold() -> None:
    problems = validation_problems(raw_config({"pruner": {"name": "threshold"}, "params": {"training.lr": LR}}))
    assert problems == ["tune.pruner: name threshold needs a threshold value; set tune.pruner.threshold"]


def test_paths_reach_every_setting_but_the_search_and_the_output() -> None:
    paths = config_paths()
    assert {"training.lr", "method.lora.r", "data.max_length", "model"} <= set(paths)
    assert not any(path.startswith(("tune.", "output.")) for path in paths)
    assert "training" not in paths and "method.lora" not in paths  # sections are not settings


def test_trial_config_sets_the_values_the_metric_and_its_directory(tmp_path) -> None:
    config = RunConfig.model_validate(raw_config({"params": {"training.lr": LR}}, method={"name": "lora"}))
    trial = trial_config(config, {"training.lr": 3e-4, "method.lora.r": 4}, tmp_path / "trial-000")
    assert (trial.training.lr, trial.method.lora.r, trial.training.metric) == (3e-4, 4, "accuracy")
    assert trial.output.dir == str(tmp_path / "trial-000") and not trial.tune.params
    assert "tune" not in trial.model_dump()  # a saved trial config is a plain whet train config
    assert config.training.lr == 5e-5  # the searched config is left as it was


def event(value: float | None, epoch: float) -> SimpleNamespace:
    return SimpleNamespace(metrics=None if value is None else {"accuracy": value}, epoch=epoch, step=int(epoch * 10))


def test_median_pruning_stops_a_trial_below_the_earlier_ones() -> None:
    config = RunConfig.model_validate(raw_config({"pruner": {"startup_trials": 1, "warmup_epochs": 1.0},
                                                  "params": {"training.lr": LR}}))
    study = optuna.create_study(direction="maximize", pruner=build_pruner(config.tune, "maximize"))
    good = study.ask()
    for epoch, value in [(0.5, 0.5), (1.0, 0.7), (1.5, 0.8)]:
        good.report(value, epoch_step(epoch))
    study.tell(good, 0.8)

    trial = study.ask()
    on_step = report_to_trial(trial, "accuracy")
    on_step(event(None, 0.25))  # a training step without an evaluation reports nothing
    on_step(event(0.1, 0.5))  # below the median, but within the warm-up epoch
    with pytest.raises(optuna.TrialPruned, match="accuracy 0.1500 at epoch 1.00"):
        on_step(event(0.15, 1.0))
    assert study.trials[1].intermediate_values == {50: 0.1, 100: 0.15}

    fine = study.ask()
    on_step = report_to_trial(fine, "accuracy")
    for epoch, value in [(0.5, 0.6), (1.0, 0.75), (1.5, 0.9)]:
        on_step(event(value, epoch))  # never below the median: runs to the end


def test_trials_of_different_batch_sizes_report_at_the_same_points_of_training() -> None:
    study = optuna.create_study(direction="maximize")
    small, large = study.ask(), study.ask()
    report_to_trial(small, "accuracy")(SimpleNamespace(metrics={"accuracy": 0.5}, epoch=1.0, step=100))
    report_to_trial(large, "accuracy")(SimpleNamespace(metrics={"accuracy": 0.6}, epoch=1.0, step=50))
    assert [t.intermediate_values for t in study.trials] == [{100: 0.5}, {100: 0.6}]
