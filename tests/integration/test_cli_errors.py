"""The ``whet`` CLI on bad input: one line starting with "error:" (or a heading and one
problem per line), exit code 2, no traceback.

The commands run through the console entry point in this process (tests/in_process.py), each
with the exit code, stdout and stderr a user would see; one also runs as a process of its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEMO
from tests.in_process import ENV as COMMAND_ENV
from tests.in_process import run_whet


def run_all(commands: dict[str, list[str]], cwd: Path,
            stdin: dict[str, str] | None = None) -> dict[str, subprocess.CompletedProcess]:
    """Run ``whet <args>`` for each named argument list; results by name. ``stdin``: text typed
    into the named commands."""
    return {name: run_whet(*args, cwd=cwd, stdin=(stdin or {}).get(name, "")) for name, args in commands.items()}


def write_yaml(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


# --- Bad input: one "error:" line and exit code 2 --------------------------------------------------

# name -> (arguments, pattern the error line must match). Run in the directory that the
# `workdir` fixture fills: ner.yaml is a valid NER config on the demo data, the rest is broken.
ONE_LINE_ERRORS = {
    "missing config file": (
        ["train", "missing.yaml"], r"config file missing\.yaml not found; check the path"),
    "invalid YAML": (
        ["train", "broken.yaml"], r"broken\.yaml:4: invalid YAML \(.+\); check indentation and quoting"),
    "unknown method": (
        ["train", "ner.yaml", "--set", "method.name=lorra"],
        r"ner\.yaml: 1 problem: method\.name: unknown method 'lorra'; did you mean 'lora'\? "
        r"choose one of: adalora, bitfit, bottleneck, fewshot, frozen, full, ia3, lora, p-tuning, pet, prefix-tuning, "
        r"prompt-tuning"),
    "method that cannot train the task": (
        ["train", "ner.yaml", "--set", "method.name=prompt-tuning"],
        r"ner\.yaml: 1 problem: method 'prompt-tuning' cannot train task 'token-classification' \(.+\); "
        r"for token-classification choose one of: full, frozen, bitfit, lora, adalora, ia3, prefix-tuning, bottleneck"),
    "settings of a method not chosen": (
        ["validate", "ner.yaml", "--set", "method.name=ia3", "--set", "method.lora.r=64"],
        r"^error: method\.lora: these settings belong to method 'lora', but method\.name is 'ia3'; "
        r"remove them or set method\.name: lora$"),
    "merge of a method that cannot merge": (
        ["train", "ner.yaml", "--set", "method.name=bottleneck", "--merge"],
        r"output\.merge: method 'bottleneck' cannot be merged into the base weights; merging works for lora, "
        r"adalora, ia3; set output\.merge to false"),
    "adapter name that is a path": (
        ["predict", "not-a-model", "--adapter", "../model", "some text"],
        r"adapter name '\.\./model' is not allowed; use letters, digits, '_', '\.' and '-', not starting with a dot"),
    "unknown task": (
        ["train", "ner.yaml", "--set", "task=token-clasification"],
        r"task: unknown task 'token-clasification'; did you mean 'token-classification'\? "
        r"choose one of: (\S+, )*sequence-classification, token-classification"),
    "malformed --set": (
        ["train", "ner.yaml", "--set", "foo"], r"--set 'foo': expected KEY=VALUE, e\.g\. --set training\.lr=3e-5"),
    "missing data file": (
        ["train", "ner.yaml", "--set", "data.train=no-such-file.conll"],
        r"no-such-file\.conll not found; check the path in the data section of the config"),
    "model directory missing": (
        ["train", "ner.yaml", "--set", "model=/nonexistent/dir"],
        r"model directory /nonexistent/dir does not exist; check the path or use model: builtin:minilm"),
    "hub id unreachable": (
        ["train", "ner.yaml", "--set", "model=some-org/no-such-model"],
        r"cannot load 'some-org/no-such-model': it is not a local directory and the Hugging Face Hub could "
        r"not provide it"),
    "predict on a directory that is not a whet model": (
        ["predict", "not-a-model", "some text"],
        r"not-a-model has no whet\.json; it is not a model saved by whet"),
    "predict with no texts": (
        ["predict", "not-a-model"], r"nothing to predict: give texts as arguments or a file with --input"),
    "answer not in its context": (
        ["validate", "qa.yaml"],
        r"data\.train: \S*bad-qa\.jsonl:2: answer 1 'Lisbon' is not at answer_start 19 of the context "
        r"\(found 'Porto\.'\); the text does not occur in the context; fix the answer text"),
    "options of unequal number": (
        ["validate", "mc.yaml"],
        r"data\.train: \S*bad-mc\.jsonl:2: 2 options, but \S*bad-mc\.jsonl:1 has 3; every question in a file "
        r"needs the same number of options"),
}

OTHER_RUNS = {
    "validate config problems": ["validate", "ner.yaml", "--set", "task=tagging", "--set", "training.lrr=1",
                                 "--set", "eval.mode=lenient"],
    # A malformed CoNLL line, a token/tag count mismatch and an empty file: one line each.
    "validate data problems": ["validate", "ner.yaml", "--set", "data.train=malformed.conll",
                               "--set", "data.dev=mismatch.jsonl", "--set", "data.test=empty.conll"],
    "validate ok": ["validate", "ner.yaml"],
    "validate method for task": ["validate", "ner.yaml", "--set", "method.name=p-tuning"],
    "debug": ["--debug", "train", "ner.yaml", "--set", "task=token-clasification"],
    "several config problems": ["train", "ner.yaml", "--set", "training.lr=-1e-4", "--set", "training.epochs=0"],
    "labels file with many problems": ["zeroshot", "--labels", "many-problems.yaml", "--input", "texts.txt"],
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-errors")
    write_yaml(path / "ner.yaml", {"task": "token-classification",
                                   "data": {"train": str(DEMO / "ner" / "train.conll"),
                                            "dev": str(DEMO / "ner" / "dev.conll")},
                                   "output": {"dir": str(path / "run")}})
    (path / "broken.yaml").write_text("task: token-classification\ndata:\n  train: x.conll\n   dev: y.conll\n")
    (path / "malformed.conll").write_text("Alice B-PER\nsmiled O\nloudly\n")
    (path / "mismatch.jsonl").write_text(
        '{"tokens": ["Alice", "smiled"], "tags": ["B-PER", "O"]}\n'
        '{"tokens": ["Bob", "smiled", "too"], "tags": ["B-PER", "O"]}\n')
    (path / "empty.conll").write_text("")
    (path / "many-problems.yaml").write_text("labels:\n" + "".join(f"  l{i}: {{descripton: x}}\n" for i in range(12)))
    (path / "texts.txt").write_text("a text\n")
    context = "Ana Silva lives in Porto."
    write_yaml(path / "qa.yaml", {"task": "question-answering", "data": {"train": write_jsonl(path / "bad-qa.jsonl", [
        {"question": "Where?", "context": context, "answers": [{"text": "Porto", "answer_start": 19}]},
        {"question": "Where?", "context": context, "answers": [{"text": "Lisbon", "answer_start": 19}]}])}})
    write_yaml(path / "mc.yaml", {"task": "multiple-choice", "data": {"train": write_jsonl(path / "bad-mc.jsonl", [
        {"question": "Which?", "options": ["a", "b", "c"], "answer": 0},
        {"question": "Which?", "options": ["a", "b"], "answer": 1}])}})
    (path / "not-a-model").mkdir()
    (path / "not-a-model" / "notes.txt").write_text("not a model")
    return path


@pytest.fixture(scope="module")
def results(workdir: Path) -> dict[str, subprocess.CompletedProcess]:
    commands = {name: args for name, (args, _) in ONE_LINE_ERRORS.items()} | OTHER_RUNS
    return run_all(commands, cwd=workdir)


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


@pytest.mark.parametrize("case", ONE_LINE_ERRORS)
def test_bad_input_gives_one_error_line_and_exit_code_2(case: str, results: dict) -> None:
    result = results[case]
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert re.search(ONE_LINE_ERRORS[case][1], lines[0]), lines[0]


def test_in_a_process_of_its_own_the_error_is_one_line_and_exit_code_2(workdir: Path) -> None:
    # Past loading torch and transformers, as a user's `whet train` is, and out through the
    # interpreter's exit.
    args, pattern = ONE_LINE_ERRORS["hub id unreachable"]
    result = subprocess.run([sys.executable, "-m", "whet", *args], cwd=workdir, env={**os.environ, **COMMAND_ENV},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    [line] = result.stderr.splitlines()
    assert re.search(pattern, line), line


def test_several_problems_print_one_a_line_under_a_count(results: dict) -> None:
    result = results["several config problems"]
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    assert result.stderr.splitlines() == [
        "error: ner.yaml: 2 problems:",
        "  training.epochs: Input should be greater than or equal to 1 (got 0)",
        "  training.lr: Input should be greater than 0 (got '-1e-4')",
    ]


def test_a_long_list_of_problems_shows_ten_and_counts_the_rest(results: dict) -> None:
    result = results["labels file with many problems"]
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert lines[0] == "error: many-problems.yaml: 12 problems:"
    assert lines[1] == "  labels.l0.descripton: unknown key; did you mean 'description'?"
    assert lines[2:] == [f"  labels.l{i}.descripton: unknown key; did you mean 'description'?" for i in range(1, 10)] \
        + ["  ... and 2 more"]


def test_validate_reports_every_config_problem_at_once(results: dict) -> None:
    result = results["validate config problems"]
    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["task", "training.lrr", "eval.mode"]
    assert all(line.startswith("error: ") for line in lines)
    assert "did you mean 'lr'?" in lines[1]


def test_validate_reports_every_data_problem_at_once_one_line_each(results: dict) -> None:
    result = results["validate data problems"]
    assert result.returncode == 2
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    assert re.fullmatch(r"error: data\.train: \S*malformed\.conll:3: expected at least 2 columns \(token and tag\), "
                        r"got 1; separate columns with spaces or tabs", lines[0])
    assert re.fullmatch(r"error: data\.dev: \S*mismatch\.jsonl:2: 3 tokens but 2 tags; give one tag per token", lines[1])
    assert re.fullmatch(r"error: data\.test: \S*empty\.conll: no sentences found; write one token and its tag "
                        r"per line, with a blank line between sentences", lines[2])


def test_validate_accepts_a_good_config(results: dict) -> None:
    result = results["validate ok"]
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == "ner.yaml: ok"


def test_validate_refuses_a_method_that_cannot_train_the_task(results: dict) -> None:
    result = results["validate method for task"]
    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stderr.startswith("error: method 'p-tuning' cannot train task 'token-classification'")
    assert result.stderr.count("\n") == 1


def test_debug_shows_the_traceback(results: dict) -> None:
    result = results["debug"]
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "ConfigError: ner.yaml: 1 problem: task: unknown task 'token-clasification'" in result.stderr


# --- Labels in dev that training never saw: reported and counted, not a crash ----------------------

def write_jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def unseen_label_runs(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("unseen-labels")
    ner_train = write_jsonl(path / "ner-train.jsonl", [
        {"tokens": ["Alice", "lives", "in", "Paris"], "tags": ["B-PER", "O", "O", "B-LOC"]},
        {"tokens": ["Bob", "visited", "Rome"], "tags": ["B-PER", "O", "B-LOC"]}])
    ner_dev = write_jsonl(path / "ner-dev.jsonl", [
        {"tokens": ["Carol", "works", "at", "Acme", "Corp"], "tags": ["B-PER", "O", "O", "B-ORG", "I-ORG"]},
        {"tokens": ["Dan", "joined", "Globex"], "tags": ["B-PER", "O", "B-ORG"]}])
    intents_train = write_jsonl(path / "intents-train.jsonl", [
        {"text": "I lost my card", "label": "lost_card"}, {"text": "close my account", "label": "close_account"},
        {"text": "my card is gone", "label": "lost_card"}, {"text": "shut the account", "label": "close_account"}])
    intents_dev = write_jsonl(path / "intents-dev.jsonl", [
        {"text": "where is my card", "label": "lost_card"}, {"text": "new address", "label": "change_address"},
        {"text": "I moved house", "label": "change_address"}])
    training = {"max_steps": 2, "batch_size": 2, "seed": 0}
    configs = {
        "ner": {"task": "token-classification", "data": {"train": ner_train, "dev": ner_dev}},
        "intents": {"task": "sequence-classification", "data": {"train": intents_train, "dev": intents_dev}},
    }
    commands = {}
    for name, raw in configs.items():
        config = write_yaml(path / f"{name}.yaml", {**raw, "model": str(tiny_bert), "training": training})
        commands[name] = ["train", str(config), "--set", f"output.dir={path / name}"]
    return {"dir": path, "results": run_all(commands, cwd=path)}


@pytest.mark.parametrize(("name", "unknown"), [
    ("ner", {"B-ORG": 2, "I-ORG": 1}),
    ("intents", {"change_address": 2}),
])
def test_dev_labels_unseen_in_training_are_counted_not_fatal(name: str, unknown: dict, unseen_label_runs: dict) -> None:
    result = unseen_label_runs["results"][name]
    assert result.returncode == 0, result.stderr
    assert_no_traceback(result)
    listed = ", ".join(f"{label} ({count})" for label, count in sorted(unknown.items()))
    # Whitespace is normalised: the log handler may still wrap and indent a long line.
    assert f"dev has labels not seen in training, counted as errors: {listed}" in " ".join(result.stderr.split())
    report = json.loads((unseen_label_runs["dir"] / name / "dev_report.json").read_text(encoding="utf-8"))
    assert report["unknown_labels"] == unknown
