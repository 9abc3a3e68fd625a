"""Plan files: every problem in the keys, values and experiences' data, found before any training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.continual_data import write_plan
from tests.in_process import run_whet
from whet.continual.experiences import plan_problems
from whet.continual.plan import load_plan
from whet.errors import ConfigError

EXPERIENCES = {"one": ["fruit", "tool"], "two": ["animal", "color"]}


def edit(path: Path, change) -> Path:
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_plan_loads_with_its_defaults_and_paths_relative_to_the_file(tmp_path):
    path = write_plan(tmp_path, Path("model"), EXPERIENCES, strategy={"name": "replay + lwf"})
    edit(path, lambda raw: raw["experiences"][0].update(train="data/one-train.jsonl"))
    plan = load_plan(path, ["strategy.replay.memory_size=50"])
    assert plan.strategy.names() == ["replay", "lwf"] and plan.strategy.replay.memory_size == 50
    assert plan.experiences[0].train == str((tmp_path / "data" / "one-train.jsonl").resolve())
    assert plan.training.epochs == 5 and plan.method.name == "full"
    assert plan_problems(path) == []


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw["experiences"][0].update(trian="x"), "experiences.0.trian: unknown key; did you mean 'train'?"),
    (lambda raw: raw["strategy"].update(name="rplay"), "strategy.name: unknown strategy 'rplay'; did you mean 'replay'?"),
    (lambda raw: raw["strategy"].update(name="joint+replay"), "'joint' does not combine with other strategies"),
    (lambda raw: raw["strategy"].update(name="ewc+ewc"), "names a strategy twice"),
    (lambda raw: raw["strategy"].update(lwff={}), "strategy.lwff: unknown key; did you mean 'lwf'?"),
    (lambda raw: raw.update(scenario="class"), "scenario: Input should be 'class-incremental'"),
    (lambda raw: raw["strategy"].update(name="adapters"), "strategy adapters routes by task id"),
    (lambda raw: raw.update(scenario="task-incremental", strategy={"name": "adapters"}), "set method.name: lora"),
    (lambda raw: raw.update(method={"name": "lora"}, strategy={"name": "ewc"}), "strategy ewc anchors the model's own"),
    (lambda raw: raw.update(data={"train": "x.jsonl"}), "data.train: give the files of each experience"),
    (lambda raw: raw["experiences"].append(dict(raw["experiences"][0])), "the name 'one' is used twice"),
    (lambda raw: raw["experiences"][0].update(name="a b"), "experiences.0.name: String should match pattern"),
    (lambda raw: raw.update(experiences=[]), "experiences: List should have at least 1 item"),
    (lambda raw: raw["training"].update(metric="loss"), "higher is better, not loss"),
    (lambda raw: raw["training"].update(rdrop=1.0), "training.rdrop: in a plan the strategies compute each batch's loss"),
    (lambda raw: raw["training"].update(class_weights="balanced"),
     "training.class_weights: in a plan the strategies compute each batch's loss"),
    (lambda raw: raw["strategy"].update(ewc={"weight": -1}), "strategy.ewc.weight: Input should be greater than 0"),
])
def test_plan_key_and_value_problems_are_named(tmp_path, change, message):
    path = edit(write_plan(tmp_path, Path("model"), EXPERIENCES), change)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        load_plan(path)
    assert any(message in problem for problem in plan_problems(path))


def test_every_data_problem_is_reported_at_once(tmp_path):
    path = write_plan(tmp_path, Path("model"), EXPERIENCES)
    (tmp_path / "data" / "two-dev.jsonl").write_text("")

    def change(raw):
        raw["experiences"][0]["train"] = str(tmp_path / "missing.jsonl")

    problems = plan_problems(edit(path, change))
    assert len(problems) == 2
    assert problems[0].startswith("experiences.0 (one).train:") and "missing.jsonl" in problems[0]
    assert problems[1].startswith("experiences.1 (two).dev:") and "no examples" in problems[1]


def test_label_sets_that_contradict_the_scenario_are_refused(tmp_path):
    repeated = {"one": ["fruit", "tool"], "two": ["fruit", "tool"]}
    [problem] = plan_problems(write_plan(tmp_path, Path("model"), repeated, name="class"))
    assert "experience 'two' brings no new labels" in problem and "domain-incremental" in problem
    [problem] = plan_problems(write_plan(tmp_path, Path("model"), EXPERIENCES, name="domain",
                                         scenario="domain-incremental"))
    assert "experience 'two' has labels outside the first label set (animal, color)" in problem
    assert plan_problems(write_plan(tmp_path, Path("model"), repeated, name="same", scenario="domain-incremental")) == []
    assert plan_problems(write_plan(tmp_path, Path("model"), repeated, name="task", scenario="task-incremental")) == []


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whet", *args], capture_output=True, text=True, timeout=120,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})


def test_a_bad_plan_exits_2_with_one_line(tmp_path):
    path = edit(write_plan(tmp_path, Path("model"), EXPERIENCES), lambda raw: raw["strategy"].update(name="rplay"))
    result = run_cli("continual", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: 1 problem: strategy.name: unknown strategy 'rplay'; did you mean 'replay'? "
        f"choose one of: adapters, ewc, joint, lwf, naive, replay"]


def test_check_and_validate_report_data_problems_of_a_plan(tmp_path):
    path = edit(write_plan(tmp_path, Path("model"), EXPERIENCES),
                lambda raw: raw["experiences"][1].update(dev="nowhere.jsonl"))
    for command in (["continual", str(path), "--check"], ["validate", str(path)]):
        result = run_whet(*command)
        assert result.returncode == 2
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: experiences.1 (two).dev:") and "nowhere.jsonl" in line
    fixed = edit(path, lambda raw: raw["experiences"][1].update(dev=str(tmp_path / "data" / "two-dev.jsonl")))
    checked = run_whet("continual", str(fixed), "--check")
    assert (checked.returncode, checked.stderr) == (0, "")
    absent = run_whet("continual", str(tmp_path / "absent.yaml"))
    assert absent.returncode == 2 and absent.stderr.startswith("error: config file") and "not found" in absent.stderr


def test_every_shipped_plan_is_valid_and_starts_with_its_command():
    from tests.conftest import ROOT

    plans = sorted((ROOT / "configs" / "continual").glob("*.yaml"))
    assert plans
    for path in plans:
        assert path.read_text().splitlines()[0] == f"# whet continual configs/continual/{path.name}"
        assert plan_problems(path) == [], path.name


def test_the_plan_reference_is_current():
    from tests.conftest import ROOT

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import plan_reference
    finally:
        sys.path.pop(0)
    assert (ROOT / "docs" / "continual-plan.md").read_text() == plan_reference.reference(), \
        "run: python scripts/plan_reference.py"
