"""Extractive question answering (SQuAD): find the answer span in a context, or none.

Encoding: question and context go in as a pair; a context longer than the window is split
into overlapping windows (``data.stride`` tokens shared), each a feature. The gold answer's
character span is mapped through the tokenizer's offsets to start/end token positions; a
window that does not hold the whole answer, and an unanswerable question, point both at
the [CLS] token (the "null" answer).

Decoding: in every window the ``data.n_best`` highest start and end logits are paired into
spans inside the context, no longer than ``data.max_answer_length`` tokens; the best span
over all windows of a question wins. When the training data had unanswerable questions
(SQuAD v2.0) the answer is empty if the null score (start + end logit at [CLS], the lowest
over windows) beats the best span's score by more than ``data.null_score_threshold``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whet.data.examples import QAExample
from whet.data.qa import qa_example, read_qa_examples
from whet.data.settings import DataConfig
from whet.errors import DataError
from whet.tasks.base import Task
from whet.tasks.inputs import examples_from_records
from whet.tasks.padding import pad_inputs

# The "labels" of a question-answering model: which kinds of answer it was trained to give.
ANSWER, NO_ANSWER = "answer", "no_answer"


@dataclass
class Span:
    """A candidate answer: characters [start, end) of the context, and its score (start + end logit)."""

    start: int | None
    end: int | None
    score: float


def answer_token_span(offsets: list[tuple[int, int] | None], start_char: int,
                      end_char: int) -> tuple[int, int] | None:
    """The first and last token of the answer ``[start_char, end_char)`` in one window.

    ``offsets`` holds each token's character span in the context, None for tokens outside
    the context (question, special tokens). None when the window does not hold the whole answer.
    """
    context = [i for i, span in enumerate(offsets) if span is not None]
    if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return None
    start = next(i for i in context if offsets[i][1] > start_char)
    end = next(i for i in reversed(context) if offsets[i][0] < end_char)
    return start, end


def window_spans(start_logits: np.ndarray, end_logits: np.ndarray, offsets: list[tuple[int, int] | None],
                 n_best: int, max_answer_length: int) -> list[Span]:
    """Candidate spans of one window from its ``n_best`` best start and end tokens."""
    starts = np.argsort(start_logits)[::-1][:n_best]
    ends = np.argsort(end_logits)[::-1][:n_best]
    spans = []
    for s in starts:
        for e in ends:
            if offsets[s] is None or offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                continue
            spans.append(Span(offsets[s][0], offsets[e][1], float(start_logits[s] + end_logits[e])))
    return spans


def choose_answer(windows: list[tuple[np.ndarray, np.ndarray, list, int]], *, n_best: int, max_answer_length: int,
                  allow_empty: bool, null_score_threshold: float) -> tuple[Span, float]:
    """The answer of one question from all its windows, and its probability.

    Each window is ``(start_logits, end_logits, offsets, cls_index)``. The probability is a
    softmax over the ``n_best`` best distinct spans (and the null answer when allowed). An
    empty answer is a ``Span(None, None, null score)``.
    """
    best_by_position: dict[tuple[int, int], Span] = {}
    for start_logits, end_logits, offsets, _ in windows:
        # Overlapping windows find the same span; it keeps its best score.
        for span in window_spans(start_logits, end_logits, offsets, n_best, max_answer_length):
            key = (span.start, span.end)
            if key not in best_by_position or span.score > best_by_position[key].score:
                best_by_position[key] = span
    candidates = sorted(best_by_position.values(), key=lambda s: s.score, reverse=True)[:n_best]
    null = Span(None, None, min(float(s[cls] + e[cls]) for s, e, _, cls in windows))
    pool = candidates + ([null] if allow_empty else [])
    if not pool:  # no valid span in any window, and empty answers not allowed
        return null, 0.0
    scores = np.array([s.score for s in pool])
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    if not candidates or (allow_empty and null.score - candidates[0].score > null_score_threshold):
        return null, float(probabilities[-1])
    return candidates[0], float(probabilities[0])


# -- data -------------------------------------------------------------------------------------
def read_qa_file(path: str | Path, *, format: str = "auto", encoding: str = "utf-8",
                 require_answers: bool = True) -> list[QAExample]:
    """Read a question-answering file in SQuAD JSON or JSON Lines format.

    Args:
        path: The data file.
        format: "squad", "jsonl" or "auto" (a .json file is looked into, a .jsonl is JSON Lines).
        encoding: Python codec name.
        require_answers: False when reading questions to predict on: a record without
            ``answers`` gives an example whose ``answers`` is None.

    Returns:
        The questions, in file order.
    """
    return read_qa_examples(path, TASK.detect_format(path, format), declared=format == "squad", encoding=encoding,
                            require_answers=require_answers)


def read(path: str, data: DataConfig, *, require_labels: bool = True) -> list[QAExample]:
    return read_qa_file(path, format=data.format, encoding=data.encoding, require_answers=require_labels)


def label_list(examples: list[QAExample], data: DataConfig) -> list[str]:
    """["answer"], plus "no_answer" when training has unanswerable questions (the model may then answer empty)."""
    if not any(ex.answers for ex in examples):
        raise DataError("the training data has no answerable questions; check data.train")
    return [ANSWER, NO_ANSWER] if any(ex.answers == [] for ex in examples) else [ANSWER]


def unknown_labels(examples: list[QAExample], labels: list[str]) -> dict[str, int]:
    unanswerable = sum(ex.answers == [] for ex in examples)
    return {NO_ANSWER: unanswerable} if unanswerable and NO_ANSWER not in labels else {}


def model_kwargs(labels: list[str], data: DataConfig) -> dict[str, Any]:
    return {}  # the span head (start and end logit per token) needs no label set


# -- encoding ---------------------------------------------------------------------------------
def encode(examples: list[QAExample], tokenizer: Any, labels: list[str], max_length: int,
           stride: int, data: DataConfig) -> list[dict]:
    # Leading whitespace of a question only wastes window space (some SQuAD questions have lots).
    questions = [ex.question.lstrip() for ex in examples]
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    for ex, length in zip(examples, lengths):
        if length > room // 2:
            raise DataError(f"{ex.source}: the question is {length} tokens, more than half of the "
                            f"{max_length}-token window; shorten it or raise data.max_length")
    # Consecutive windows must move on: the overlap stays under half the context room.
    stride = min(stride, (room - max(lengths)) // 2)
    encoded = tokenizer(questions, [ex.context for ex in examples], truncation="only_second",
                        max_length=max_length, stride=stride, return_overflowing_tokens=True,
                        return_offsets_mapping=True)
    features = []
    for row, index in enumerate(encoded["overflow_to_sample_mapping"]):
        ex = examples[index]
        input_ids = encoded["input_ids"][row]
        sequence_ids = encoded.sequence_ids(row)
        offsets = [tuple(span) if sequence_ids[i] == 1 else None
                   for i, span in enumerate(encoded["offset_mapping"][row])]
        cls_index = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
        feature = {"input_ids": input_ids, "offsets": offsets, "cls_index": cls_index, "example": index}
        if "token_type_ids" in encoded:
            feature["token_type_ids"] = encoded["token_type_ids"][row]
        if ex.answers is not None:
            span = None
            if ex.answers:
                span = answer_token_span(offsets, ex.answers[0].start, ex.answers[0].end)
            feature["start_positions"], feature["end_positions"] = span or (cls_index, cls_index)
        features.append(feature)
    return features


def collate(features: list[dict], pad_token_id: int) -> dict[str, Any]:
    import torch

    batch = pad_inputs(features, pad_token_id)
    if "start_positions" in features[0]:
        batch["start_positions"] = torch.tensor([f["start_positions"] for f in features], dtype=torch.long)
        batch["end_positions"] = torch.tensor([f["end_positions"] for f in features], dtype=torch.long)
    return batch


# -- decoding ---------------------------------------------------------------------------------
def reduce_outputs(outputs: Any, batch: dict) -> np.ndarray:
    """(batch, seq, 2): the start and end logits side by side, what decoding keeps of a batch."""
    import torch

    return torch.stack([outputs.start_logits, outputs.end_logits], dim=-1).float().cpu().numpy()


def decode(examples: list[QAExample], features: list[dict], logits: list[np.ndarray],
           labels: list[str], data: DataConfig) -> list[tuple[Span, float]]:
    """Each question's answer span and probability; ``logits`` are (tokens, 2): start and end."""
    windows: dict[int, list] = defaultdict(list)
    for feature, value in zip(features, logits):
        windows[feature["example"]].append((value[:, 0], value[:, 1], feature["offsets"], feature["cls_index"]))
    return [choose_answer(windows[i], n_best=data.n_best, max_answer_length=data.max_answer_length,
                          allow_empty=NO_ANSWER in labels, null_score_threshold=data.null_score_threshold)
            for i in range(len(examples))]


def evaluate(examples: list[QAExample], features: list[dict], logits: list[np.ndarray],
             labels: list[str], data: DataConfig, mode: str) -> tuple[dict, dict[str, float]]:
    from whet.metrics.squad import squad_scores

    answers = decode(examples, features, logits, labels, data)
    predicted = ["" if span.start is None else ex.context[span.start:span.end]
                 for ex, (span, _) in zip(examples, answers)]
    scores = squad_scores([[a.text for a in ex.answers] for ex in examples], predicted)
    if NO_ANSWER in labels:
        note = (f"An empty answer is given when the null score beats the best span by more than "
                f"{data.null_score_threshold} (data.null_score_threshold).")
    else:
        note = "The training data had no unanswerable questions, so the model always gives an answer."
    metrics = {"exact_match": scores["all"]["exact_match"], "f1": scores["all"]["f1"]}
    # The official v2.0 script's HasAns / NoAns split.
    breakdown = {name: row for name, row in scores.items() if name != "all"}
    report = {"task": TASK.name, "examples": len(examples), "metrics": dict(metrics), "breakdown": breakdown,
              "notes": [note], "unknown_labels": unknown_labels(examples, labels)}
    return report, metrics


def predictions(examples: list[QAExample], features: list[dict], logits: list[np.ndarray],
                labels: list[str], data: DataConfig) -> list[dict]:
    out = []
    for ex, (span, probability) in zip(examples, decode(examples, features, logits, labels, data)):
        record: dict[str, Any] = {"id": ex.id} if ex.id is not None else {}
        record["question"] = ex.question
        record["answer"] = "" if span.start is None else ex.context[span.start:span.end]
        record["start"], record["end"] = span.start, span.end
        record["score"] = round(probability, 4)
        out.append(record)
    return out


def prediction_inputs(records: list[Any], data: DataConfig) -> list[QAExample]:
    def build(record: dict, where: str) -> QAExample:
        # Answers in the input (a labelled file given to predict) play no part.
        return qa_example({k: v for k, v in record.items() if k != "answers"}, where, require_answers=False)

    return examples_from_records(records, '{"question": "...", "context": "..."}', build)


# A .json file may hold SQuAD JSON or JSON Lines; the reader looks inside to tell.
TASK = Task(
    name="question-answering", auto_class="AutoModelForQuestionAnswering", peft_task_type="QUESTION_ANS",
    formats=("squad", "jsonl"), extensions={".json": "squad", ".jsonl": "jsonl"},
    metrics=("f1", "exact_match", "loss"), default_metric="f1",
    read=read, label_list=label_list, unknown_labels=unknown_labels, model_kwargs=model_kwargs, encode=encode,
    collate=collate, evaluate=evaluate, predictions=predictions, prediction_inputs=prediction_inputs,
    onnx_outputs=("start_logits", "end_logits"), pipeline_tag="question-answering", reduce_outputs=reduce_outputs,
)
