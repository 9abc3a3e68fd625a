"""The checks a run's training data goes through before any model loads (``load_run_data`` and
each task's ``label_list``): every refusal names the problem and how to fix it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from whet.config import DataConfig
from whet.data.prepare import load_run_data
from whet.errors import DataError
from whet.tasks import TASKS

PAIR = [{"text": "open an account", "label": "open"}, {"text": "close my account", "label": "close"}]
QA_ROW = {"question": "who sat?", "context": "the cat sat", "answers": [{"text": "cat", "answer_start": 4}]}


def write(path: Path, rows: list) -> str:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows),
                    encoding="utf-8")
    return str(path)


# name -> (task, {split: rows of the file}, other data settings, the message)
CASES = {
    "one label": (
        "sequence-classification", {"train": [{"text": f"text {i}", "label": "open"} for i in range(4)]}, {},
        r"^the training data has 1 distinct label\(s\); classification needs at least 2$"),
    "multi-label rows without labels": (
        "sequence-classification", {"train": [{"text": f"text {i}", "label": []} for i in range(4)]},
        {"multi_label": True}, r"^the training data has no labels; check data\.label_column$"),
    "a row without its label": (
        "sequence-classification", {"train": [*PAIR, {"text": "what is my balance"}]}, {},
        r"train\.jsonl:3: no column 'label' \(columns: 'text'\); set data\.label_column to the column that holds it"),
    "labels in another column": (
        "sequence-classification", {"train": PAIR}, {"label_column": "intent"},
        r"train\.jsonl:1: no column 'intent' \(columns: 'text', 'label'\); did you mean 'text'\? "
        r"set data\.label_column to the column that holds it"),
    "empty training file": (
        "sequence-classification", {"train": []}, {},
        r"train\.jsonl: no examples found; add rows below the header \(or JSON objects, one per line\)"),
    "empty dev file": (
        "question-answering", {"train": [QA_ROW], "dev": []}, {},
        r"dev\.jsonl: no examples found; is data\.dev the right file\?"),
    "empty multiple-choice training file": (
        "multiple-choice", {"train": []}, {}, r"train\.jsonl: no examples found; is data\.train the right file\?"),
    "one example and no dev file": (
        "sequence-classification", {"train": PAIR[:1]}, {},
        r"^data\.train has fewer than 2 examples, too few to split off a dev set; give data\.dev$"),
    "no training file": (
        "sequence-classification", {}, {},
        r"^data\.train is not set; give the training file in the config or with --set data\.train=PATH$"),
    "no entity in the training data": (
        "token-classification", {"train": ["Hello O", "world O", "", "Good O", "bye O"]}, {},
        r"^the training data has no entities \(every tag is O\); check data\.train and its tag column$"),
    "no answerable question": (
        "question-answering", {"train": [{**QA_ROW, "answers": []}] * 2}, {},
        r"^the training data has no answerable questions; check data\.train$"),
    "an answer that is not in the context": (
        "question-answering", {"train": [{**QA_ROW, "answers": [{"text": "dog", "answer_start": 4}]}]}, {},
        r"train\.jsonl:1: answer 1 'dog' is not at answer_start 4 of the context \(found 'cat'\); the text does not "
        r"occur in the context; fix the answer text"),
    "a prompt without its response": (
        "causal-lm", {"train": [{"prompt": "Customer: hello\nAgent:"}]}, {},
        r"train\.jsonl:1: 'response' is missing; a prompt needs its response \(and a response its prompt\)"),
    "an empty response": (
        "causal-lm", {"train": [{"prompt": "Customer: hello\nAgent:", "response": ""}]}, {},
        r"train\.jsonl:1: 'response' is empty; remove the record or fill it in"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_training_data_is_refused_with_the_fix(case: str, tmp_path: Path) -> None:
    task, files, settings, message = CASES[case]
    extension = "conll" if task == "token-classification" else "jsonl"
    paths = {split: write(tmp_path / f"{split}.{extension}", rows) for split, rows in files.items()}
    if "train" in paths and "dev" not in paths and case != "one example and no dev file":
        paths["dev"] = paths["train"]
    with pytest.raises(DataError, match=message):
        load_run_data(TASKS.get(task), DataConfig(**paths, **settings), seed=1)


def test_good_data_passes_the_same_checks(tmp_path: Path) -> None:
    """The reference for the cases above: two labels, one file for train and dev."""
    path = write(tmp_path / "train.jsonl", PAIR)
    data = load_run_data(TASKS.get("sequence-classification"), DataConfig(train=path, dev=path), seed=1)
    assert data.labels == ["close", "open"] and len(data.train) == len(data.dev) == 2
