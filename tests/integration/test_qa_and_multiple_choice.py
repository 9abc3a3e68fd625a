"""Question answering and multiple choice end to end: ``whet train``, ``eval`` and ``predict`` on a tiny
random BERT, with data whose pattern such a model learns in a few dozen steps.

The commands run in this process through typer's test runner (a fresh process per command
would spend most of the test importing torch).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from whet import load
from whet.cli import app

FILLER = "red blue green cat dog house tree river stone bird lamp door road hill cup sand".split()
CITIES = "porto lisbon lyon osaka bergen leeds graz cork brno seville".split()


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.stdout


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def city_questions(n: int, seed: int) -> list[dict]:
    """Filler words with one city name in three questions of four; the answer is the city.

    Contexts of up to 41 words are longer than one 32-token window, so answers land in
    every window position; the others are unanswerable.
    """
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(6, 40))]
        answers: dict = {"text": [], "answer_start": []}
        if rng.random() < 0.75:
            position, city = rng.randrange(len(words) + 1), rng.choice(CITIES)
            words.insert(position, city)
            answers = {"text": [city], "answer_start": [len(" ".join(words[:position])) + (1 if position else 0)]}
        rows.append({"id": f"q{i}", "question": "which city is named?", "context": " ".join(words),
                     "answers": answers})
    return rows


def train_from_the_command_line(path: Path, raw: dict, train: list[dict], dev: list[dict]) -> dict:
    """``whet train`` on the rows with the config ``raw`` (data files filled in); its results and files."""
    dev_file = write_jsonl(path / "dev.jsonl", dev)
    raw["data"] = {"train": str(write_jsonl(path / "train.jsonl", train)), "dev": str(dev_file), **raw.get("data", {})}
    config = write_config(path / "run.yaml", raw)
    results = json.loads(cli("train", str(config), "--output", str(path / "run")).splitlines()[-1])
    return {"dir": path / "run", "dev": dev_file, "results": results}


@pytest.fixture(scope="module")
def qa_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    raw = {"task": "question-answering", "model": str(tiny_bert), "data": {"max_length": 32, "stride": 8},
           "training": {"epochs": 4, "lr": 8e-3, "batch_size": 16, "eval_every": 12, "seed": 3}}
    return train_from_the_command_line(tmp_path_factory.mktemp("qa"), raw, city_questions(64, seed=1),
                                       city_questions(24, seed=2))


def test_question_answering_learns_spans_and_empty_answers_across_windows(qa_run):
    # Chance: a quarter of the questions are unanswerable and the rest have one of ~50 tokens.
    assert qa_run["results"]["dev"]["f1"] > 0.7
    report = json.loads((qa_run["dir"] / "dev_report.json").read_text())
    assert report["breakdown"]["unanswerable"]["examples"] + report["breakdown"]["answerable"]["examples"] == 24
    assert report["breakdown"]["answerable"]["exact_match"] > 0.5
    info = json.loads((qa_run["dir"] / "model" / "whet.json").read_text())
    assert info["labels"] == ["answer", "no_answer"]  # unanswerable questions in training: empty answers allowed


def test_question_answering_eval_and_predict_from_the_command_line(qa_run, tmp_path):
    model = str(qa_run["dir"] / "model")
    cli("eval", model, str(qa_run["dev"]), "--output", str(tmp_path / "eval"))
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["metrics"]["f1"] == pytest.approx(qa_run["results"]["dev"]["f1"])

    context = "red cat lamp door porto hill cup"
    [answer] = [json.loads(line) for line in cli("predict", model, json.dumps({"question": "which city is named?",
                                                                                "context": context})).splitlines()]
    assert answer["answer"] == "porto" and context[answer["start"]:answer["end"]] == "porto"
    # The score is the answer's probability among the candidate spans, as the library gives it.
    [same] = load(model).predict([{"question": "which city is named?", "context": context}])
    assert answer == same

    inputs = write_jsonl(tmp_path / "questions.jsonl", [{"id": "a", "question": "which city?", "context": context},
                                                        {"id": "b", "question": "which city?", "context": "red cup"}])
    cli("predict", model, "--input", str(inputs), "--output", str(tmp_path / "answers.jsonl"))
    records = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["a", "b"]
    assert set(records[1]) == {"id", "question", "answer", "start", "end", "score"}


def yes_no_questions(n: int, seed: int) -> list[dict]:
    """Three options, always the same words in a random order; the right one is "yes"."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        options = ["yes", "no", "maybe"]
        rng.shuffle(options)
        question = " ".join(rng.choice(FILLER) for _ in range(rng.randint(2, 6))) + "?"
        rows.append({"id": i, "question": question, "options": options, "answer": options.index("yes")})
    return rows


@pytest.fixture(scope="module")
def choice_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    raw = {"task": "multiple-choice", "model": str(tiny_bert),
           "training": {"epochs": 3, "lr": 1e-2, "batch_size": 16, "seed": 3, "metric": "loss"}}
    return train_from_the_command_line(tmp_path_factory.mktemp("multiple-choice"), raw, yes_no_questions(64, seed=1),
                                       yes_no_questions(24, seed=2))


def test_multiple_choice_learns_which_option_is_right(choice_run):
    assert choice_run["results"]["dev"]["loss"] < math.log(3) - 0.05  # a uniform guess scores ln 3
    assert choice_run["results"]["dev"]["accuracy"] > 0.6  # chance is 1/3
    report = json.loads((choice_run["dir"] / "dev_report.json").read_text())
    assert sum(report["breakdown"][f"option {k}"]["examples"] for k in range(3)) == 24


def test_multiple_choice_eval_and_predict_with_different_option_counts(choice_run, tmp_path):
    model = str(choice_run["dir"] / "model")
    cli("eval", model, str(choice_run["dev"]), "--output", str(tmp_path / "eval"))
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["metrics"]["accuracy"] == pytest.approx(choice_run["results"]["dev"]["accuracy"])

    lines = cli("predict", model, '{"question": "red cat?", "options": ["no", "yes"]}',
                '{"id": "x", "question": "blue dog?", "options": ["maybe", "no", "yes", "no"]}').splitlines()
    two, four = (json.loads(line) for line in lines)
    assert len(two["probabilities"]) == 2 and len(four["probabilities"]) == 4
    assert sum(four["probabilities"]) == pytest.approx(1.0, abs=1e-3)
    assert four["id"] == "x" and four["option"] == ["maybe", "no", "yes", "no"][four["answer"]]
    assert four["score"] == max(four["probabilities"])


@pytest.mark.parametrize("task", ["question-answering", "multiple-choice"])
def test_lora_adapters_train_save_and_load_for_the_new_tasks(task, tiny_bert, tmp_path):
    from whet.config import load_config
    from whet.train import train

    rows = city_questions(8, seed=5) if task == "question-answering" else yes_no_questions(8, seed=5)
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    config = write_config(tmp_path / "lora.yaml", {
        "task": task, "model": str(tiny_bert), "data": {"train": str(data), "dev": str(data), "max_length": 64},
        "method": {"name": "lora"}, "training": {"max_steps": 2, "batch_size": 4},
        "output": {"dir": str(tmp_path / "run")}})
    train(load_config(config))
    assert (tmp_path / "run" / "model" / "adapter_model.safetensors").is_file()
    model = load(str(tmp_path / "run" / "model"))
    # Base, adapter and head loaded back give the trained model's dev report, breakdown included.
    trained = json.loads((tmp_path / "run" / "dev_report.json").read_text())
    report = model.evaluate(str(data))
    assert (report["metrics"], report["breakdown"]) == (trained["metrics"], trained["breakdown"])
    [record] = model.predict([{key: rows[0][key] for key in ("question", "context", "options") if key in rows[0]}])
    if task == "question-answering":
        assert rows[0]["context"][record["start"]:record["end"]] == record["answer"]
    else:
        assert record["score"] == max(record["probabilities"])
        assert record["option"] == rows[0]["options"][record["answer"]]
