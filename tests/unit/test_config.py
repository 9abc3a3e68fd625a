"""The run config: unknown keys, bad values, names, overrides, YAML errors, paths, docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from tests.conftest import ROOT
from whet.config import (
    RunConfig,
    apply_overrides,
    check_problems,
    load_config,
    parse_override,
    read_yaml,
    save_config,
    validation_problems,
)
from whet.errors import ConfigError
from whet.tasks import TASKS
from whet.validate import config_problems
from whet.io.yaml_loader import load_yaml

NER = {"task": "token-classification"}


def with_(section: str, **values: object) -> dict:
    """A minimal valid NER config with ``values`` set in ``section``."""
    return {**NER, section: values}


def write_config(path: Path, raw: dict | str) -> Path:
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw), encoding="utf-8")
    return path


# Unknown keys name their full path and suggest the closest valid key.

@pytest.mark.parametrize(("raw", "expected"), [
    ({**NER, "trainig": {}}, "trainig: unknown key; did you mean 'training'?"),
    (with_("training", lrr=1e-4), "training.lrr: unknown key; did you mean 'lr'?"),
    (with_("data", trian="a.conll"), "data.trian: unknown key; did you mean 'train'?"),
    ({**NER, "method": {"lora": {"alpah": 4}}}, "method.lora.alpah: unknown key; did you mean 'alpha'?"),
])
def test_unknown_key_names_the_path_and_the_closest_key(raw: dict, expected: str) -> None:
    assert validation_problems(raw) == [expected]


def test_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    (problem,) = validation_problems(with_("eval", zzzzzz=1))
    assert problem == "eval.zzzzzz: unknown key; valid keys: mode, batch_size, generate, max_new_tokens"


# Settings belong to one method: another method's are refused, naming the method they belong to.

@pytest.mark.parametrize(("method", "expected"), [
    ({"name": "ia3", "lora": {"r": 64}},
     "method.lora: these settings belong to method 'lora', but method.name is 'ia3'; remove them or set "
     "method.name: lora"),
    ({"prefix_tuning": {"num_virtual_tokens": 4}},  # method.name defaults to full
     "method.prefix_tuning: these settings belong to method 'prefix-tuning', but method.name is 'full'; remove them "
     "or set method.name: prefix-tuning"),
])
def test_settings_of_a_method_not_chosen_are_refused(method: dict, expected: str) -> None:
    assert validation_problems(with_("method", **method)) == [expected]


def test_settings_of_a_method_not_chosen_are_listed_with_the_other_problems() -> None:
    raw = {**NER, "method": {"name": "lora", "lora": {"r": 4}, "ia3": {}, "pet": {}}, "training": {"lr": 0}}
    assert [p.split(":")[0] for p in validation_problems(raw)] == ["method.ia3", "method.pet", "training.lr"]


def test_a_saved_config_holds_only_the_chosen_methods_settings_and_loads_again(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "run.yaml", with_("method", name="lora", lora={"r": 4})))
    save_config(config, tmp_path / "saved.yaml")
    assert set(read_yaml(tmp_path / "saved.yaml")["method"]) == {"name", "lora"}
    assert load_config(tmp_path / "saved.yaml").method == config.method


# Bad values name the path, the rule and the value given.

@pytest.mark.parametrize(("section", "key", "value", "expected"), [
    ("training", "lr", -1e-4, r"^training\.lr: Input should be greater than 0 \(got -0\.0001\)$"),
    ("training", "epochs", 0, r"^training\.epochs: Input should be greater than or equal to 1 \(got 0\)$"),
    ("training", "batch_size", "sixteen", r"^training\.batch_size: Input should be a valid integer.*'sixteen'"),
    ("training", "lr", "fast", r"^training\.lr: Input should be a valid number.*'fast'"),
    ("training", "precision", "fp8", r"^training\.precision: Input should be 'auto', 'fp32' or 'bf16' \(got 'fp8'\)$"),
    ("data", "dev_split", 0.7, r"^data\.dev_split: Input should be less than 0\.5"),
    ("data", "format", "xml", r"^data\.format: Input should be 'auto', 'conll', 'jsonl', 'csv', 'tsv', 'text' or 'squad'"),
])
def test_bad_value_names_the_path(section: str, key: str, value: object, expected: str) -> None:
    (problem,) = validation_problems(with_(section, **{key: value}))
    assert re.search(expected, problem), problem
    assert "\n" not in problem


def test_section_given_as_a_scalar_is_reported() -> None:
    assert validation_problems({**NER, "training": 5}) == [
        "training: Input should be a valid dictionary or instance of TrainingConfig (got 5)"]


def test_missing_task_is_reported() -> None:
    assert validation_problems({}) == ["task: required field is missing"]


# Registry names list what exists and suggest the closest.

ALL_TASKS = ", ".join(sorted(TASKS.names()))  # e.g. "multiple-choice, ..., token-classification"

def test_unknown_task_lists_tasks_and_suggests_the_closest() -> None:
    assert validation_problems({"task": "token-clasification"}) == [
        "task: unknown task 'token-clasification'; did you mean 'token-classification'? "
        f"choose one of: {ALL_TASKS}"]


def test_unknown_method_lists_methods_and_suggests_the_closest() -> None:
    assert validation_problems(with_("method", name="lorra")) == [
        "method.name: unknown method 'lorra'; did you mean 'lora'? choose one of: adalora, bitfit, bottleneck, "
        "fewshot, frozen, full, ia3, lora, p-tuning, pet, prefix-tuning, prompt-tuning"]


def test_unknown_name_without_a_close_match_only_lists_the_names() -> None:
    (problem,) = validation_problems({"task": "ner"})
    assert "did you mean" not in problem
    assert problem.endswith(f"choose one of: {ALL_TASKS}")


@pytest.mark.parametrize(("task", "metric", "suggestion", "choices"), [
    ("token-classification", "precison", "precision", "accuracy, f1, loss, macro_f1, precision, recall"),
    ("sequence-classification", "acuracy", "accuracy", "accuracy, f1, loss, macro_f1"),
    ("sequence-classification", "recall", None, "accuracy, f1, loss, macro_f1"),
])
def test_unknown_metric_for_the_task(task: str, metric: str, suggestion: str | None, choices: str) -> None:
    (problem,) = validation_problems({"task": task, "training": {"metric": metric}})
    assert problem.startswith(f"training.metric: unknown metric '{metric}'; ")
    assert (f"did you mean '{suggestion}'?" in problem) == (suggestion is not None)
    assert problem.endswith(f"choose one of: {choices}")


def test_known_metric_is_accepted() -> None:
    assert validation_problems({"task": "sequence-classification", "training": {"metric": "macro_f1"}}) == []


# Adversarial training and R-Drop: a method name alone or a section; settings a method does not use are refused.

def test_adversarial_method_alone_takes_its_defaults_and_a_saved_config_loads_again(tmp_path: Path) -> None:
    config = RunConfig.model_validate(with_("training", adversarial="pgd", rdrop=0.5))
    adversarial = config.training.adversarial
    assert (adversarial.method, adversarial.epsilon, adversarial.alpha, adversarial.steps) == ("pgd", 0.3, 0.1, 3)
    assert config.training.rdrop.alpha == 0.5
    freelb = RunConfig.model_validate(with_("training", adversarial={"method": "freelb", "steps": 4})).training
    assert (freelb.adversarial.steps, freelb.adversarial.init_magnitude, freelb.adversarial.epsilon) == (4, 0.1, None)
    save_config(config, tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml").training == config.training
    assert RunConfig.model_validate(NER).training.adversarial.method == "none"


@pytest.mark.parametrize(("training", "expected"), [
    ({"adversarial": "fgn"}, "training.adversarial.method: Input should be 'none', 'fgm', 'pgd' or 'freelb' (got 'fgn')"),
    ({"adversarial": {"method": "fgm", "steps": 3}},
     "training.adversarial: steps is not a setting of method fgm; remove it, or set method to pgd or freelb"),
    ({"adversarial": {"method": "pgd", "init_magnitude": 0.2}},
     "training.adversarial: init_magnitude is not a setting of method pgd; remove it, or set method to freelb"),
    ({"adversarial": {"epsilon": 0.5}},
     "training.adversarial: epsilon is not a setting of method none; remove it, or set method to fgm, pgd or freelb"),
    ({"adversarial": {"method": "pgd", "alpha": 0}}, "training.adversarial.alpha: Input should be greater than 0 (got 0)"),
    ({"adversarial": {"method": "freelb", "steps": 0}},
     "training.adversarial.steps: Input should be greater than or equal to 1 (got 0)"),
    ({"rdrop": -1}, "training.rdrop.alpha: Input should be greater than or equal to 0 (got -1)"),
    ({"rdrop": True}, "training.rdrop: give R-Drop's weight, e.g. rdrop: 1.0 (0 turns it off)"),
])
def test_bad_adversarial_and_rdrop_settings_are_one_line_each(training: dict, expected: str) -> None:
    assert validation_problems(with_("training", **training)) == [expected]


@pytest.mark.parametrize(("training", "expected"), [
    ({"eval_every": 0}, "training.eval_every: give a number of optimizer steps (1 or more) or end, not 0"),
    ({"eval_every": "epoch"}, "training.eval_every: give a number of optimizer steps (1 or more) or end, not 'epoch'"),
    ({"eval_every": "end", "patience": 2},
     "training: patience counts evaluations without improvement, and eval_every end evaluates once; remove "
     "patience or evaluate each epoch (eval_every null) or every N steps"),
])
def test_eval_every_takes_steps_or_end(training: dict, expected: str) -> None:
    assert validation_problems(with_("training", **training)) == [expected]
    assert validation_problems(with_("training", eval_every="end")) == []


@pytest.mark.parametrize("training", [{"adversarial": "fgm"}, {"rdrop": 1.0}])
def test_a_method_with_its_own_recipe_refuses_them(training: dict, tmp_path: Path) -> None:
    raw = {"task": "sequence-classification", "method": {"name": "fewshot"}, "training": training}
    key = next(iter(training))
    expected = (f"training.{key}: method fewshot trains with its own recipe, not the training loop that "
                f"training.{key} acts in; remove it or choose another method")
    assert config_problems(write_config(tmp_path / "fewshot.yaml", raw)) == [expected]


# Every problem at once.

def test_all_problems_are_reported_together() -> None:
    raw = {"task": "tagging", "method": {"name": "lorra"}, "training": {"lr": 0, "lrr": 1}}
    problems = validation_problems(raw)
    assert [p.split(":")[0] for p in problems] == ["task", "method.name", "training.lr", "training.lrr"]


def test_load_config_counts_the_problems_and_lists_one_a_line(tmp_path: Path) -> None:
    path = write_config(tmp_path / "run.yaml", {"task": "tagging", "method": {"name": "lorra"},
                                                "training": {"epochs": 0}})
    with pytest.raises(ConfigError, match=r"(?m)run\.yaml: 3 problems:$") as err:
        load_config(path)
    heading, *problems = str(err.value).splitlines()
    assert heading == f"{path}: 3 problems:"
    assert [p.split(":")[0] for p in problems] == ["  task", "  method.name", "  training.epochs"]
    assert problems[0].startswith("  task: unknown task 'tagging'")


def test_past_ten_problems_the_rest_are_counted() -> None:
    problems = [f"labels.l{i}.descripton: unknown key" for i in range(151)]
    with pytest.raises(ConfigError) as err:
        check_problems("labels.yaml", problems)
    lines = str(err.value).splitlines()
    assert lines[0] == "labels.yaml: 151 problems:"
    assert lines[1:11] == [f"  {problem}" for problem in problems[:10]]
    assert lines[11:] == ["  ... and 141 more"]


def test_load_config_says_problem_for_one(tmp_path: Path) -> None:
    path = write_config(tmp_path / "run.yaml", with_("training", lr=2))
    with pytest.raises(ConfigError, match=r"run\.yaml: 1 problem: training\.lr: Input should be less than or equal to 1"):
        load_config(path)


# --set overrides.

@pytest.mark.parametrize(("text", "path", "value"), [
    ("training.lr=1.0e-4", ["training", "lr"], 1e-4),
    ("training.epochs=5", ["training", "epochs"], 5),
    ("data.multi_label=true", ["data", "multi_label"], True),
    ("data.max_length=null", ["data", "max_length"], None),
    ("training.max_grad_norm=", ["training", "max_grad_norm"], None),
    ("method.lora.target_modules=[query, value]", ["method", "lora", "target_modules"], ["query", "value"]),
    ("model=org/model=v2", ["model"], "org/model=v2"),  # only the first '=' separates
    ("data.label_column=yes", ["data", "label_column"], "yes"),  # YAML 1.2: only true/false are booleans
    ("eval.generate=TRUE", ["eval", "generate"], True),
    ("method.pet.verbalizers.on=off", ["method", "pet", "verbalizers", "on"], "off"),
    (" task = token-classification", ["task"], "token-classification"),
])
def test_parse_override_reads_values_as_yaml(text: str, path: list[str], value: object) -> None:
    assert parse_override(text) == (path, value)


@pytest.mark.parametrize("text", ["foo", "=3", " =x"])
def test_malformed_override_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--set .*: expected KEY=VALUE, e\.g\. --set training\.lr=3e-5$"):
        parse_override(text)


def test_override_value_that_is_not_yaml_says_to_quote_it() -> None:
    with pytest.raises(ConfigError, match=r"^--set 'method\.lora\.target_modules=\[query': the value is not valid "
                                          r"YAML \(.+\); put it in quotes$"):
        parse_override("method.lora.target_modules=[query")


def test_apply_overrides_sets_nested_keys_without_touching_the_input() -> None:
    raw = {"task": "token-classification", "training": {"lr": 1e-4}}
    result = apply_overrides(raw, ["training.epochs=2", "method.lora.r=4", "training.lr=2.0e-5"])
    assert result == {"task": "token-classification", "training": {"lr": 2e-5, "epochs": 2},
                      "method": {"lora": {"r": 4}}}
    assert raw == {"task": "token-classification", "training": {"lr": 1e-4}}


def test_override_below_a_value_that_is_not_a_section() -> None:
    with pytest.raises(ConfigError, match=r"--set 'model\.name=x': 'model' is not a section"):
        apply_overrides({"model": "builtin:minilm"}, ["model.name=x"])


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path / "run.yaml", NER)
    config = load_config(path, ["training.lr=3e-5", "method.name=lora", "method.lora.r=4"])
    assert config.training.lr == 3e-5  # YAML reads 3e-5 as a string; pydantic parses the number
    assert (config.method.name, config.method.lora.r) == ("lora", 4)
    with pytest.raises(ConfigError, match=r"training\.lrr: unknown key; did you mean 'lr'\?"):
        load_config(path, ["training.lrr=3e-5"])


# Names are kept as written: keys always, and `yes`/`no`/`on`/`off` values; only true/false are booleans.

NAME_WORDS = ["yes", "no", "on", "off", "null", "1.0"]


def test_label_names_in_a_run_config_stay_the_text_written(tmp_path: Path) -> None:
    verbalizers = "".join(f"      {name}: {word}\n" for name, word in zip(NAME_WORDS, ["no", "yes", "off", "on", "nil", "one"]))
    path = write_config(tmp_path / "run.yaml", "task: sequence-classification\nmethod:\n  name: pet\n  pet:\n"
                                               f"    verbalizers:\n{verbalizers}data:\n  label_column: no\n"
                                               "  packing: true\n  multi_label: FALSE\neval:\n  generate: True\n")
    config = load_config(path)
    assert config.method.pet.verbalizers == {"yes": "no", "no": "yes", "on": "off", "off": "on", "null": "nil",
                                             "1.0": "one"}
    assert config.data.label_column == "no"
    assert (config.data.packing, config.data.multi_label, config.eval.generate) == (True, False, True)


def test_yes_and_no_still_set_a_boolean_setting(tmp_path: Path) -> None:
    # They are read as text, and the config model converts text to a boolean where the setting is one.
    config = load_config(write_config(tmp_path / "run.yaml", "task: token-classification\ndata:\n  packing: yes\n"))
    assert config.data.packing is True


@pytest.mark.parametrize(("value", "read_as"), [("null", "null"), ("1.0", "a number"), ("2024-01-01", "a date")])
def test_a_value_read_as_another_type_where_text_is_expected_says_to_quote_it(value: str, read_as: str) -> None:
    problems = validation_problems(load_yaml(f"task: token-classification\ndata:\n  label_column: {value}\n"))
    assert len(problems) == 1
    assert re.fullmatch(rf"data\.label_column: .+ was read as {read_as}, not text; put it in quotes \(\".+\"\) to "
                        rf"keep it as written", problems[0]), problems[0]


# Reading the YAML file.

def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope\.yaml not found; check the path"):
        read_yaml(tmp_path / "nope.yaml")


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path / "run.yaml", "task: token-classification\ntraining:\n  lr: 1\n   epochs: 2\n")
    with pytest.raises(ConfigError, match=r"run\.yaml:4: invalid YAML \(.*\); check indentation and quoting$") as err:
        read_yaml(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_empty_config_file(tmp_path: Path, text: str) -> None:
    path = write_config(tmp_path / "run.yaml", text)
    with pytest.raises(ConfigError, match=r"run\.yaml is empty; start from one of the configs in configs/"):
        read_yaml(path)


@pytest.mark.parametrize("text", ["- task: token-classification\n", "token-classification\n", "42\n"])
def test_config_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write_config(tmp_path / "run.yaml", text)
    with pytest.raises(ConfigError, match=r"run\.yaml: expected a mapping of settings at the top level"):
        read_yaml(path)


# Paths and defaults filled in by load_config.

def test_relative_data_paths_resolve_against_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    absolute = str(tmp_path / "elsewhere" / "test.conll")
    path = write_config(config_dir / "run.yaml", {**NER, "data": {"train": "train.conll", "dev": "../data/dev.conll",
                                                                  "test": absolute}})
    monkeypatch.chdir(tmp_path)  # the working directory plays no part
    config = load_config(path)
    assert config.data.train == str((config_dir / "train.conll").resolve())
    assert config.data.dev == str((tmp_path / "data" / "dev.conll").resolve())
    assert config.data.test == absolute


def test_default_output_dir_is_runs_and_the_config_name(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path / "my-ner.yaml", NER)).output.dir == str(Path("runs") / "my-ner")
    given = load_config(write_config(tmp_path / "other.yaml", {**NER, "output": {"dir": "out/x"}}))
    assert given.output.dir == "out/x"


# Experiment trackers (output.trackers).

def test_trackers_default_to_tensorboard_and_match_the_registry() -> None:
    from typing import get_args

    from whet.config import OutputConfig
    from whet.training.trackers import TRACKERS

    assert RunConfig.model_validate(NER).output.trackers == ["tensorboard"]
    assert list(get_args(get_args(OutputConfig.model_fields["trackers"].annotation)[0])) == TRACKERS.names()


@pytest.mark.parametrize(("output", "expected"), [
    ({"trackers": ["wandb"]}, r"^output\.trackers\.0: Input should be 'tensorboard' or 'mlflow' \(got 'wandb'\)$"),
    ({"trackers": ["mlflow", "mlflow"]}, r"^output\.trackers: \['mlflow', 'mlflow'\]: list each tracker once$"),
    ({"mlflow_uri": "sqlite:///runs/mlflow.db"},
     r"^output: mlflow_uri is a setting of the mlflow tracker, which trackers does not list; add mlflow to "
     r"output\.trackers or remove output\.mlflow_uri$"),
    ({"trackers": [], "mlflow_experiment": "ner"}, r"^output: mlflow_experiment is a setting of the mlflow tracker"),
])
def test_bad_trackers_are_reported(output: dict, expected: str) -> None:
    (problem,) = validation_problems(with_("output", **output))
    assert re.search(expected, problem), problem


def test_mlflow_tracker_without_mlflow_installed_says_how_to_install_it(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if absent: importlib finds no module
    path = write_config(tmp_path / "tracked.yaml", with_("output", trackers=["tensorboard", "mlflow"]))
    with pytest.raises(ConfigError, match=r"^\S+tracked\.yaml: 1 problem: output\.trackers: mlflow is not installed; "
                                          r"pip install 'whet\[mlflow\]', or remove mlflow from the list$"):
        load_config(path)
    assert load_config(write_config(tmp_path / "plain.yaml", NER)).output.trackers == ["tensorboard"]


# Documentation of the schema itself.

def _fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, object]]:
    found = []
    for name, field in model.model_fields.items():
        found.append((prefix + name, field))
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found += _fields(field.annotation, f"{prefix}{name}.")
    return found


ALL_FIELDS = _fields(RunConfig)


def test_the_schema_walk_reaches_nested_sections() -> None:
    names = [name for name, _ in ALL_FIELDS]
    assert {"training.lr", "data.train", "method.lora.r", "output.dir"} <= set(names)


@pytest.mark.parametrize(("name", "field"), ALL_FIELDS, ids=[name for name, _ in ALL_FIELDS])
def test_every_field_has_a_description_and_a_default(name: str, field: object) -> None:
    assert field.description and field.description.strip(), f"{name} has no description"
    assert field.is_required() == (name == "task"), f"{name}: only task may lack a default"


# Shipped configs.

SHIPPED = sorted((ROOT / "configs").glob("*.yaml"))


def test_there_are_shipped_configs() -> None:
    assert SHIPPED


def _data_is_in_the_repository(path: Path, raw: dict) -> bool:
    data = raw.get("data") or {}
    files = [(path.parent / data[split]).resolve() for split in ("train", "dev", "test") if data.get(split)]
    return all(f.is_relative_to(ROOT) for f in files)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_config_is_valid(path: Path) -> None:
    raw = read_yaml(path)
    assert raw.get("task"), "every shipped config names its task"
    assert path.read_text(encoding="utf-8").startswith("#"), "shipped configs start with a comment saying how to run them"
    if _data_is_in_the_repository(path, raw):
        assert config_problems(path) == []  # the config and its data files
    else:
        assert validation_problems(raw) == []  # data lives outside the repository (../shared): config only
