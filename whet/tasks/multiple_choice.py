"""Multiple choice: pick the right option for a question (SWAG, ARC, RACE-style data).

Each option is encoded as the pair (question, option); the model scores every pair with
one logit and a softmax over a question's options gives their probabilities. Options are
scored independently of each other, so when questions with different option counts share
a batch (at prediction time) the shorter ones are filled with copies of their last option
and the copies are ignored when decoding. Training and evaluation files need one option
count per file (see ``whet.data.multiple_choice``). An input longer than the model's window
is refused rather than truncated: cutting a question or an option could remove what
decides the answer.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from whet.data.examples import ChoiceExample
from whet.data.multiple_choice import choice_example, read_choice_jsonl
from whet.data.settings import DataConfig
from whet.errors import DataError
from whet.tasks.base import Task
from whet.tasks.inputs import examples_from_records
from whet.tasks.padding import pad_inputs


# -- data -------------------------------------------------------------------------------------
def read_choice_file(path: str | Path, *, format: str = "auto", encoding: str = "utf-8",
                     require_answers: bool = True) -> list[ChoiceExample]:
    """Read a multiple-choice JSON Lines file.

    Args:
        path: The data file.
        format: "jsonl" or "auto".
        encoding: Python codec name.
        require_answers: False when reading questions to predict on (``answer`` may be missing).

    Returns:
        The questions, in file order.
    """
    TASK.detect_format(path, format)  # JSON Lines is the only format; this refuses any other
    return read_choice_jsonl(path, encoding=encoding, require_answers=require_answers)


def read(path: str, data: DataConfig, *, require_labels: bool = True) -> list[ChoiceExample]:
    return read_choice_file(path, format=data.format, encoding=data.encoding, require_answers=require_labels)


def label_list(examples: list[ChoiceExample], data: DataConfig) -> list[str]:
    return []  # the answer is a position among each question's own options, not a label


def unknown_labels(examples: list[ChoiceExample], labels: list[str]) -> dict[str, int]:
    return {}


def model_kwargs(labels: list[str], data: DataConfig) -> dict[str, Any]:
    return {}  # the head gives one score per option whatever their number


# -- encoding ---------------------------------------------------------------------------------
def encode(examples: list[ChoiceExample], tokenizer: Any, labels: list[str], max_length: int,
           stride: int, data: DataConfig) -> list[dict]:
    # One tokenizer call for every (question, option) pair of every example.
    encoded = tokenizer([ex.question for ex in examples for _ in ex.options],
                        [option for ex in examples for option in ex.options])
    features, row = [], 0
    for index, ex in enumerate(examples):
        rows = range(row, row + len(ex.options))
        row += len(ex.options)
        input_ids = [encoded["input_ids"][r] for r in rows]
        for number, ids in enumerate(input_ids):
            if len(ids) > max_length:
                raise DataError(f"{ex.source}: the question with option {number} is {len(ids)} tokens, more "
                                f"than the {max_length}-token window; shorten them or raise data.max_length")
        # The batch sampler's token budget counts every option's tokens.
        feature = {"input_ids": input_ids, "length": len(input_ids) * max(map(len, input_ids)),
                   "example": index}
        if "token_type_ids" in encoded:
            feature["token_type_ids"] = [encoded["token_type_ids"][r] for r in rows]
        if ex.answer is not None:
            feature["labels"] = ex.answer
        features.append(feature)
    return features


def collate(features: list[dict], pad_token_id: int) -> dict[str, Any]:
    import torch

    count = max(len(f["input_ids"]) for f in features)
    sequences = []
    for f in features:
        for k in range(count):
            last = min(k, len(f["input_ids"]) - 1)  # a shorter question repeats its last option
            sequence = {"input_ids": f["input_ids"][last]}
            if "token_type_ids" in f:
                sequence["token_type_ids"] = f["token_type_ids"][last]
            sequences.append(sequence)
    # (batch * options, seq) -> (batch, options, seq), the shape the multiple-choice head takes
    batch = {k: v.view(len(features), count, -1) for k, v in pad_inputs(sequences, pad_token_id).items()}
    if "labels" in features[0]:
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
    return batch


# -- decoding ---------------------------------------------------------------------------------
def probabilities(examples: list[ChoiceExample], logits: list[np.ndarray]) -> list[np.ndarray]:
    """Each question's option probabilities; ``logits`` hold one score per (padded) option."""
    out = []
    for ex, value in zip(examples, logits):
        scores = value[: len(ex.options)].astype(np.float64)
        e = np.exp(scores - scores.max())
        out.append(e / e.sum())
    return out


def evaluate(examples: list[ChoiceExample], features: list[dict], logits: list[np.ndarray],
             labels: list[str], data: DataConfig, mode: str) -> tuple[dict, dict[str, float]]:
    predicted = [int(p.argmax()) for p in probabilities(examples, logits)]
    gold = [ex.answer for ex in examples]
    correct = [p == g for p, g in zip(predicted, gold)]
    metrics = {"accuracy": sum(correct) / len(correct)}
    # Per position of the right option: a model that favours one position shows it here.
    chosen, breakdown = Counter(predicted), {}
    for position in sorted(set(gold) | set(chosen)):
        rows = [c for c, g in zip(correct, gold) if g == position]
        breakdown[f"option {position}"] = {"accuracy": sum(rows) / len(rows) if rows else 0.0,
                                           "examples": len(rows), "predicted": chosen[position]}
    report = {"task": TASK.name, "examples": len(examples), "metrics": dict(metrics), "breakdown": breakdown,
              "notes": ["Rows 'option N': questions whose right answer is option N (examples) and "
                        "how often option N was chosen (predicted)."]}
    return report, metrics


def predictions(examples: list[ChoiceExample], features: list[dict], logits: list[np.ndarray],
                labels: list[str], data: DataConfig) -> list[dict]:
    out = []
    for ex, option_probabilities in zip(examples, probabilities(examples, logits)):
        best = int(option_probabilities.argmax())
        record: dict[str, Any] = {"id": ex.id} if ex.id is not None else {}
        record.update(question=ex.question, answer=best, option=ex.options[best],
                      score=round(float(option_probabilities[best]), 4),
                      probabilities=[round(float(p), 4) for p in option_probabilities])
        out.append(record)
    return out


def prediction_inputs(records: list[Any], data: DataConfig) -> list[ChoiceExample]:
    return examples_from_records(records, '{"question": "...", "options": ["...", "..."]}',
                                 lambda record, where: choice_example(record, where, require_answer=False))


TASK = Task(
    name="multiple-choice", auto_class="AutoModelForMultipleChoice",
    # peft has no multiple-choice task type: its generic wrapper passes every input through,
    # and the methods keep the head trainable with modules_to_save.
    peft_task_type=None,
    formats=("jsonl",), extensions={".json": "jsonl", ".jsonl": "jsonl"},
    metrics=("accuracy", "loss"), default_metric="accuracy",
    read=read, label_list=label_list, unknown_labels=unknown_labels, model_kwargs=model_kwargs, encode=encode,
    collate=collate, evaluate=evaluate, predictions=predictions, prediction_inputs=prediction_inputs,
    # No pipeline_tag: the hub has no multiple-choice pipeline.
    onnx_outputs=("logits",), input_axes=("batch", "choices", "sequence"),
)
