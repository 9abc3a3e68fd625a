"""Sequence classification: one label (softmax) or several (sigmoid) per text or text pair.

Texts longer than the model's window become overlapping windows (the tokenizer's own
overflow with a stride); an example's prediction averages its windows' logits.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from whet.data.examples import TextExample
from whet.data.settings import DataConfig
from whet.data.tabular import read_text_examples
from whet.errors import DataError
from whet.metrics.report_parts import ReportTables
from whet.tasks.base import Task
from whet.tasks.padding import pad_inputs

IGNORE = -100
THRESHOLD = 0.5  # multi-label decision threshold on each label's sigmoid


# -- data -------------------------------------------------------------------------------------
def read_classification_file(path: str | Path, *, format: str = "auto", **options: Any) -> list[TextExample]:
    """Read a sequence-classification data file in JSONL, CSV or TSV format.

    Args:
        path: The data file.
        format: "jsonl", "csv", "tsv" or "auto" (from the extension).
        **options: What else ``whet.data.tabular.read_text_examples`` takes: the encoding, the
            columns, ``multi_label``, ``label_separator`` and ``require_labels``.

    Returns:
        The examples, in file order.
    """
    return read_text_examples(path, format=TASK.detect_format(path, format), **options)


def read(path: str, data: DataConfig, *, require_labels: bool = True) -> list[TextExample]:
    return read_classification_file(
        path, format=data.format, encoding=data.encoding, text_column=data.text_column,
        text_pair_column=data.text_pair_column, label_column=data.label_column,
        multi_label=data.multi_label, label_separator=data.label_separator, require_labels=require_labels)


def label_list(examples: list[TextExample], data: DataConfig) -> list[str]:
    labels = sorted({label for ex in examples for label in ex.labels})
    if len(labels) < 2 and not data.multi_label:
        raise DataError(f"the training data has {len(labels)} distinct label(s); classification needs at least 2")
    if not labels:
        raise DataError("the training data has no labels; check data.label_column")
    return labels


def unknown_labels(examples: list[TextExample], labels: list[str]) -> dict[str, int]:
    known = set(labels)
    return dict(Counter(label for ex in examples for label in ex.labels if label not in known))


def model_kwargs(labels: list[str], data: DataConfig) -> dict[str, Any]:
    problem = "multi_label_classification" if data.multi_label else "single_label_classification"
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)}, "problem_type": problem}


# -- encoding ---------------------------------------------------------------------------------
def encode(examples: list[TextExample], tokenizer: Any, labels: list[str], max_length: int,
           stride: int, data: DataConfig) -> list[dict]:
    label2id = {label: i for i, label in enumerate(labels)}
    if data.text_pair_column:
        windows = _pair_windows(examples, tokenizer, max_length, stride)
    else:
        stride = min(stride, (max_length - tokenizer.num_special_tokens_to_add(pair=False)) // 2)
        encoded = tokenizer([ex.text for ex in examples], truncation=True, max_length=max_length, stride=stride,
                            return_overflowing_tokens=True)
        windows = [(index, encoded["input_ids"][row], None)
                   for row, index in enumerate(encoded["overflow_to_sample_mapping"])]
    features = []
    for index, input_ids, token_type_ids in windows:
        feature = {"input_ids": input_ids, "example": index}
        if token_type_ids is not None:
            feature["token_type_ids"] = token_type_ids
        ex = examples[index]
        if data.multi_label:
            feature["labels"] = [1.0 if label in ex.labels else 0.0 for label in labels]
        elif ex.labels:
            feature["labels"] = label2id.get(ex.labels[0], IGNORE)
        features.append(feature)
    return features


def _pair_windows(examples: list[TextExample], tokenizer: Any, max_length: int,
                 stride: int) -> list[tuple[int, list[int], list[int] | None]]:
    """Windows over text pairs: the longer text of each pair is the one split into windows."""
    stride = min(stride, (max_length - tokenizer.num_special_tokens_to_add(pair=True)) // 4)
    firsts = tokenizer([ex.text for ex in examples], add_special_tokens=False)["input_ids"]
    seconds = tokenizer([ex.text_pair for ex in examples], add_special_tokens=False)["input_ids"]
    groups: dict[str, list[int]] = {"only_first": [], "only_second": []}
    for i, (first, second) in enumerate(zip(firsts, seconds)):
        groups["only_second" if len(second) >= len(first) else "only_first"].append(i)
    windows = []
    for strategy, indices in groups.items():
        if not indices:
            continue
        try:
            encoded = tokenizer([examples[i].text for i in indices], [examples[i].text_pair for i in indices],
                                truncation=strategy, max_length=max_length, stride=stride,
                                return_overflowing_tokens=True, return_token_type_ids=True)
        except Exception as err:  # both texts of a pair are too long to share one window
            raise DataError(f"cannot split a text pair into windows of {max_length} tokens ({err}); "
                            f"raise data.max_length or shorten the texts") from None
        for row, local in enumerate(encoded["overflow_to_sample_mapping"]):
            windows.append((indices[local], encoded["input_ids"][row], encoded["token_type_ids"][row]))
    return sorted(windows, key=lambda w: w[0])


def collate(features: list[dict], pad_token_id: int) -> dict[str, Any]:
    import torch

    batch = pad_inputs(features, pad_token_id)
    if "labels" in features[0]:
        values = [f["labels"] for f in features]
        multi = isinstance(values[0], list)  # multi-hot rows for multi-label data
        batch["labels"] = torch.tensor(values, dtype=torch.float if multi else torch.long)
    return batch


# -- decoding ---------------------------------------------------------------------------------
def probabilities(examples: list[TextExample], features: list[dict], logits: list[np.ndarray],
                  multi_label: bool) -> np.ndarray:
    """(examples, labels) probabilities from window logits averaged per example."""
    summed = np.zeros((len(examples), logits[0].shape[-1]), dtype=np.float64)
    counts = np.zeros(len(examples))
    for feature, value in zip(features, logits):
        summed[feature["example"]] += value
        counts[feature["example"]] += 1
    mean = summed / counts[:, None]
    if multi_label:
        return 1.0 / (1.0 + np.exp(-mean))
    shifted = np.exp(mean - mean.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def evaluate(examples: list[TextExample], features: list[dict], logits: list[np.ndarray],
             labels: list[str], data: DataConfig, mode: str) -> tuple[dict, dict[str, float]]:
    from whet.metrics.classification import classification_report, multilabel_report

    probs = probabilities(examples, features, logits, data.multi_label)
    report: dict[str, Any] = {"task": TASK.name, "multi_label": data.multi_label, "examples": len(examples),
                              "unknown_labels": unknown_labels(examples, labels)}
    if data.multi_label:
        predicted = [{labels[j] for j in np.flatnonzero(row >= THRESHOLD)} for row in probs]
        classes = multilabel_report([set(ex.labels) for ex in examples], predicted, labels)
        metrics = {"accuracy": classes["subset_accuracy"], "macro_f1": classes["macro"]["f1"],
                   "f1": classes["micro"]["f1"]}
    else:
        predicted = [labels[int(row.argmax())] for row in probs]
        classes = classification_report([ex.labels[0] for ex in examples], predicted, labels)
        metrics = {"accuracy": classes["accuracy"], "macro_f1": classes["macro"]["f1"], "f1": classes["accuracy"]}
    report["classes"] = classes
    return report, metrics


def predictions(examples: list[TextExample], features: list[dict], logits: list[np.ndarray],
                labels: list[str], data: DataConfig) -> list[dict]:
    probs = probabilities(examples, features, logits, data.multi_label)
    out = []
    for ex, row in zip(examples, probs):
        record: dict[str, Any] = {"text": ex.text}
        if ex.text_pair is not None:
            record["text_pair"] = ex.text_pair
        if data.multi_label:
            record["labels"] = [labels[j] for j in np.flatnonzero(row >= THRESHOLD)]
        else:
            best = int(row.argmax())
            record["label"], record["score"] = labels[best], round(float(row[best]), 4)
        record["probabilities"] = {label: round(float(p), 4) for label, p in zip(labels, row)}
        out.append(record)
    return out


def prediction_inputs(records: list[Any], data: DataConfig) -> list[TextExample]:
    examples = []
    for n, record in enumerate(records):
        if isinstance(record, str):
            text, pair = record, None
        elif isinstance(record, dict) and isinstance(record.get(data.text_column, record.get("text")), str):
            text = record.get(data.text_column, record.get("text"))
            pair = record.get(data.text_pair_column or "text_pair")
        else:
            raise DataError(f"input {n + 1}: expected a string or an object with '{data.text_column}'")
        if data.text_pair_column and not isinstance(pair, str):
            raise DataError(f"input {n + 1}: this model classifies text pairs; give "
                            f"'{data.text_column}' and '{data.text_pair_column}'")
        examples.append(TextExample(text=text, labels=[], text_pair=pair if data.text_pair_column else None,
                                    source=f"input {n + 1}"))
    return examples


# -- report -----------------------------------------------------------------------------------
def console_tables(report: dict) -> list[Any]:
    from rich.text import Text

    from whet.metrics.report_parts import AVERAGES, CONSOLE_MATRIX_MAX, confusion_table, fmt, score_table

    classes = report["classes"]
    if report.get("multi_label"):
        averages = {f"{a} avg": classes[a] for a in AVERAGES}
        return [score_table("Labels", "label", classes["per_class"], averages),
                Text(f"Subset accuracy (exact match): {fmt(classes['subset_accuracy'])}")]
    averages = {f"{a} avg": classes[a] for a in ("macro", "weighted")}
    parts = [score_table("Classes", "class", classes["per_class"], averages),
             Text(f"Accuracy {fmt(classes['accuracy'])}, macro F1 {fmt(classes['macro']['f1'])}")]
    if len(classes["labels"]) <= CONSOLE_MATRIX_MAX:
        parts.append(confusion_table(classes["labels"], classes["confusion_matrix"]))
    return parts + [Text(line) for line in out_of_scope_lines(report)]


def out_of_scope_lines(report: dict) -> list[str]:
    """The out-of-scope figures of a model with a detector (``Predictor.evaluate``); the tables
    above them score the labels before any text is found out of scope."""
    from whet.metrics.report_parts import fmt

    found = report.get("out_of_scope")
    if not found:
        return []
    lines = [f"Out of scope ({found['scorer']}, threshold {found['threshold']:.4g}, label {found['none_label']}): "
             f"in-scope accuracy {fmt(found['in_scope_accuracy'])}, in-scope texts flagged "
             f"{fmt(found['in_scope_flagged'])}"]
    if "auroc" in found:
        lines.append(f"{found['out_of_scope_examples']} texts labelled {found['oos_label']}: precision "
                     f"{fmt(found['oos_precision'])}, recall {fmt(found['oos_recall'])}, F1 {fmt(found['oos_f1'])}, "
                     f"AUROC {fmt(found['auroc'])}, FPR at 95% in-scope recall {fmt(found['fpr_at_95'])}")
    return lines


def markdown_tables(report: dict) -> list[str]:
    from whet.metrics.report_parts import AVERAGES, MARKDOWN_MATRIX_MAX, fmt, markdown_confusion, markdown_score_table

    classes = report["classes"]
    lines = ["", "## Classes", ""]
    if report.get("multi_label"):
        lines.append(f"Subset accuracy (exact match): {fmt(classes['subset_accuracy'])}")
        lines.append("")
        return lines + markdown_score_table("label", classes["per_class"], {f"{a} avg": classes[a] for a in AVERAGES})
    lines.append(f"Accuracy: {fmt(classes['accuracy'])}, macro F1: {fmt(classes['macro']['f1'])}")
    lines.append("")
    averages = {f"{a} avg": classes[a] for a in ("macro", "weighted")}
    lines += markdown_score_table("class", classes["per_class"], averages)
    if len(classes["labels"]) <= MARKDOWN_MATRIX_MAX:
        lines += ["", "## Confusion matrix", "", "Rows are gold labels, columns predicted labels.", ""]
        lines += markdown_confusion(classes["labels"], classes["confusion_matrix"])
    found = out_of_scope_lines(report)
    if found:
        lines += ["", "## Out of scope", "", *(f"- {line}" for line in found)]
    return lines


def report_plots(report: dict) -> list[tuple[str, bytes]]:
    """F1 by label or class and, for single-label data, the confusion matrix normalised by row."""
    from whet.metrics.report_parts import confusion_png, f1_bars_png

    classes, multi_label = report["classes"], report.get("multi_label")
    plots = []
    if classes["per_class"]:
        plots.append(("f1_by_type", f1_bars_png(classes["per_class"], "label" if multi_label else "class")))
    if not multi_label:
        plots.append(("confusion_matrix", confusion_png(classes["labels"], classes["confusion_matrix"])))
    return plots


# A .txt file says nothing about a table's layout (for NER it means CoNLL): data.format must.
TASK = Task(
    name="sequence-classification", auto_class="AutoModelForSequenceClassification", peft_task_type="SEQ_CLS",
    formats=("jsonl", "csv", "tsv"), extensions={".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv"},
    metrics=("accuracy", "macro_f1", "f1", "loss"), default_metric="accuracy",
    read=read, label_list=label_list, unknown_labels=unknown_labels, model_kwargs=model_kwargs, encode=encode,
    collate=collate, evaluate=evaluate, predictions=predictions, prediction_inputs=prediction_inputs,
    onnx_outputs=("logits",), pipeline_tag="text-classification",
    # The classifier starts random on a pooled vector that pretraining never shaped for the
    # task: at the body's 5e-5 it is still far from trained after 3 epochs (Banking77, 77
    # intents, MiniLM: dev accuracy 0.65 against 0.85+ with the head at 1e-3).
    head_lr_floor=1e-3,
    report_tables=ReportTables(console=console_tables, markdown=markdown_tables, plots=report_plots),
)
