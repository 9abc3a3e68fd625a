"""Adding a task is one module and one registry line.

This module is that module: text regression, one score per text, on the sequence-classification
head with a single output. The test registers it (the one line) and runs ``whet validate``,
``train``, ``eval`` and ``predict`` on it through typer's test runner, in this process, so the
registration holds for every command.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from whet.cli import app
from whet.data.text_files import json_records, read_text_file
from whet.errors import DataError
from whet.tasks.base import Task
from whet.tasks.padding import pad_inputs

NAME = "text-regression"


@dataclass
class ScoredText:
    text: str
    score: float | None  # None for a text to predict on
    source: str = ""


def read(path: str, data: Any, *, require_labels: bool = True) -> list[ScoredText]:
    TASK.detect_format(path, data.format)
    examples = []
    for where, record in json_records(read_text_file(path, data.encoding), path):
        score = record.get("score")
        if require_labels and not isinstance(score, (int, float)):
            raise DataError(f"{where}: 'score' must be a number")
        examples.append(ScoredText(text=record["text"], score=score, source=where))
    return examples


def encode(examples: list[ScoredText], tokenizer: Any, labels: list[str], max_length: int, stride: int,
           data: Any) -> list[dict]:
    encoded = tokenizer([ex.text for ex in examples], truncation=True, max_length=max_length)
    features = []
    for index, (ex, input_ids) in enumerate(zip(examples, encoded["input_ids"])):
        feature = {"input_ids": input_ids, "example": index}
        if ex.score is not None:
            feature["labels"] = float(ex.score)
        features.append(feature)
    return features


def collate(features: list[dict], pad_token_id: int) -> dict[str, Any]:
    import torch

    batch = pad_inputs(features, pad_token_id)
    if "labels" in features[0]:
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.float)
    return batch


def evaluate(examples: list[ScoredText], features: list[dict], logits: list[np.ndarray], labels: list[str],
             data: Any, mode: str) -> tuple[dict, dict[str, float]]:
    predicted = np.array([value[0] for value in logits])  # one window per text, one output
    gold = np.array([ex.score for ex in examples])
    metrics = {"mse": float(np.mean((predicted - gold) ** 2))}
    return {"task": NAME, "examples": len(examples), "metrics": dict(metrics)}, metrics


def predictions(examples: list[ScoredText], features: list[dict], logits: list[np.ndarray], labels: list[str],
                data: Any) -> list[dict]:
    return [{"text": ex.text, "score": round(float(value[0]), 4)} for ex, value in zip(examples, logits)]


def prediction_inputs(records: list[Any], data: Any) -> list[ScoredText]:
    return [ScoredText(text=record if isinstance(record, str) else record["text"], score=None)
            for record in records]


TASK = Task(
    name=NAME, auto_class="AutoModelForSequenceClassification", peft_task_type="SEQ_CLS",
    formats=("jsonl",), extensions={".jsonl": "jsonl"}, metrics=("mse", "loss"), default_metric="mse",
    lower_is_better=("mse", "loss"),  # the best checkpoint is the one with the smallest error
    read=read, label_list=lambda examples, data: [], unknown_labels=lambda examples, labels: {},
    model_kwargs=lambda labels, data: {"num_labels": 1, "problem_type": "regression"},
    encode=encode, collate=collate, evaluate=evaluate, predictions=predictions, prediction_inputs=prediction_inputs,
)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The task registry with this task added, for one test: every lookup goes through ``whet.tasks.TASKS``."""
    import whet.tasks

    tasks = copy.deepcopy(whet.tasks.TASKS)
    tasks.register(NAME, f"{__name__}:TASK")  # the registry line
    monkeypatch.setattr(whet.tasks, "TASKS", tasks)


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.stdout


def sunny_texts(n: int, seed: int) -> list[dict]:
    """Four words each; the score is how many of them are "sun"."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice(["sun", "rain", "cloud", "snow"]) for _ in range(4)]
        rows.append({"text": " ".join(words), "score": float(words.count("sun"))})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_task_defined_outside_whet_trains_evaluates_and_predicts(registered, tiny_bert, tmp_path):
    dev_rows = sunny_texts(32, seed=2)
    dev = write_jsonl(tmp_path / "dev.jsonl", dev_rows)
    raw = {"task": NAME, "model": str(tiny_bert),
           "data": {"train": str(write_jsonl(tmp_path / "train.jsonl", sunny_texts(96, seed=1))), "dev": str(dev)},
           "training": {"epochs": 15, "lr": 5e-3, "batch_size": 16, "seed": 3}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    cli("validate", str(config))

    results = json.loads(cli("train", str(config), "--output", str(tmp_path / "run")).splitlines()[-1])
    # Learning: closer than the best constant guess, the mean score, whose error is the variance.
    variance = float(np.var([row["score"] for row in dev_rows]))
    assert results["dev"]["mse"] < variance / 2

    model = str(tmp_path / "run" / "model")
    cli("eval", model, str(dev), "--output", str(tmp_path / "eval"))
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["task"] == NAME and report["metrics"]["mse"] == pytest.approx(results["dev"]["mse"])
    assert "| mse |" in (tmp_path / "eval" / "report.md").read_text()

    sunny, rainy = [json.loads(line) for line in cli("predict", model, "sun sun sun sun", "rain snow cloud rain")
                    .splitlines()]
    assert sunny["text"] == "sun sun sun sun" and sunny["score"] > rainy["score"]


def test_without_its_registry_line_the_task_is_unknown(tmp_path):
    from whet.validate import config_problems

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"task": NAME, "model": "builtin:minilm", "data": {"train": "t.jsonl"}}))
    [problem] = config_problems(config)
    assert f"unknown task '{NAME}'" in problem and "token-classification" in problem
