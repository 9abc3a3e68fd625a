"""Precision, recall and F1 for single-label and multi-label classification.

The numbers follow scikit-learn's ``classification_report`` with ``labels`` given and
``zero_division=0``: a ratio with a zero denominator is 0.0, F1 is
``2 * tp / (2 * tp + fp + fn)``, macro averages weigh every label equally (labels absent
from the data included) and weighted averages weigh labels by support. scikit-learn is not
a dependency; these few lines are the part of it whet needs.

Rows are plain dicts, ``{"precision", "recall", "f1", "support"}``, so reports serialise
to JSON as they are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np


def per_class_prf(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, dict]:
    """Precision, recall, F1 and support of each label, for one label per example.

    An example whose gold or predicted label is not in ``labels`` still counts against the
    labels it touches (a false positive for the predicted one, a false negative for the
    gold one), as in scikit-learn.

    Args:
        gold: The true label of each example.
        pred: The predicted label of each example.
        labels: The labels to report, in report order.

    Returns:
        ``{label: {"precision", "recall", "f1", "support"}}`` in the order of ``labels``.

    Example:
        >>> per_class_prf(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])["b"]
        {'precision': 0.5, 'recall': 1.0, 'f1': 0.6666666666666666, 'support': 1}
    """
    _check_pairs(gold, pred)
    labels = _unique(labels)
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    # Labels outside ``labels`` map to the spare bin n, which is dropped after counting.
    gold_ids = np.fromiter((index.get(g, n) for g in gold), dtype=np.int64, count=len(gold))
    pred_ids = np.fromiter((index.get(p, n) for p in pred), dtype=np.int64, count=len(pred))
    true_sum = np.bincount(gold_ids, minlength=n + 1)[:n]
    pred_sum = np.bincount(pred_ids, minlength=n + 1)[:n]
    tp = np.bincount(gold_ids[gold_ids == pred_ids], minlength=n + 1)[:n]
    return _rows(labels, tp, pred_sum, true_sum)


def averages(per_class: dict[str, dict]) -> dict[str, dict]:
    """Macro and weighted averages of per-label rows.

    Args:
        per_class: Rows as returned by :func:`per_class_prf`.

    Returns:
        ``{"macro": row, "weighted": row}``; each row's support is the total support. With
        no support at all the weighted average falls back to the macro one, as in
        scikit-learn.
    """
    rows = list(per_class.values())
    support = np.array([row["support"] for row in rows], dtype=np.int64)
    total = int(support.sum())
    macro: dict = {}
    weighted: dict = {}
    for key in ("precision", "recall", "f1"):
        values = np.array([row[key] for row in rows], dtype=np.float64)
        macro[key] = float(values.mean()) if rows else 0.0
        weighted[key] = float(np.average(values, weights=support)) if total else macro[key]
    macro["support"] = weighted["support"] = total
    return {"macro": macro, "weighted": weighted}


def label_table(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Per-label rows, accuracy and averages for one label per example (no confusion matrix).

    Gold or predicted labels missing from ``labels`` are appended to it (sorted), so every
    example shows up in the table.

    Args:
        gold: The true label of each example.
        pred: The predicted label of each example.
        labels: The labels to report, in report order.

    Returns:
        ``{"labels", "per_class", "accuracy", "macro", "weighted", "samples"}``.

    Raises:
        ValueError: If ``gold`` and ``pred`` differ in length or are empty.
    """
    _check_pairs(gold, pred)
    labels = _with_unseen(labels, gold, pred)
    per_class = per_class_prf(gold, pred, labels)
    correct = sum(g == p for g, p in zip(gold, pred))
    return {
        "labels": labels,
        "per_class": per_class,
        "accuracy": correct / len(gold),
        **averages(per_class),
        "samples": len(gold),
    }


def classification_report(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Evaluate single-label classification.

    A gold label that is not in ``labels`` (say, a dev label never seen in training) is
    appended to the label list rather than dropped: its examples are counted, and counted
    as wrong, since the model cannot predict it.

    Args:
        gold: The true label of each example.
        pred: The predicted label of each example.
        labels: The model's labels, in report order.

    Returns:
        ``{"labels", "per_class", "accuracy", "macro", "weighted", "samples",
        "confusion_matrix"}`` where ``confusion_matrix[i][j]`` counts examples of gold
        ``labels[i]`` predicted as ``labels[j]``.

    Raises:
        ValueError: If ``gold`` and ``pred`` differ in length or are empty.

    Example:
        >>> report = classification_report(["a", "b", "c"], ["a", "b", "a"], ["a", "b"])
        >>> report["labels"], report["confusion_matrix"][2]
        (['a', 'b', 'c'], [1, 0, 0])
    """
    report = label_table(gold, pred, labels)
    labels = report["labels"]
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    gold_ids = np.array([index[g] for g in gold], dtype=np.int64)
    pred_ids = np.array([index[p] for p in pred], dtype=np.int64)
    matrix = np.bincount(gold_ids * n + pred_ids, minlength=n * n).reshape(n, n)
    report["confusion_matrix"] = matrix.tolist()
    return report


def multilabel_report(
    gold: Sequence[Iterable[str]], pred: Sequence[Iterable[str]], labels: Sequence[str]
) -> dict:
    """Evaluate multi-label classification (any number of labels per example).

    Gold or predicted labels missing from ``labels`` are appended to it (sorted), as in
    :func:`classification_report`.

    Args:
        gold: The set of true labels of each example.
        pred: The set of predicted labels of each example.
        labels: The model's labels, in report order.

    Returns:
        ``{"labels", "per_class", "micro", "macro", "weighted", "subset_accuracy",
        "samples"}``; ``subset_accuracy`` is the share of examples whose predicted set equals
        the gold set exactly, ``samples`` the number of examples.

    Raises:
        ValueError: If ``gold`` and ``pred`` differ in length or are empty.
    """
    _check_pairs(gold, pred)
    gold_sets = [set(g) for g in gold]
    pred_sets = [set(p) for p in pred]
    labels = _with_unseen(labels, (x for s in gold_sets for x in s), (x for s in pred_sets for x in s))
    index = {label: i for i, label in enumerate(labels)}
    gold_matrix = _indicator(gold_sets, index)  # (examples, labels)
    pred_matrix = _indicator(pred_sets, index)
    tp = (gold_matrix & pred_matrix).sum(axis=0)
    pred_sum = pred_matrix.sum(axis=0)
    true_sum = gold_matrix.sum(axis=0)
    per_class = _rows(labels, tp, pred_sum, true_sum)
    micro = _rows(["micro"], tp.sum(keepdims=True), pred_sum.sum(keepdims=True), true_sum.sum(keepdims=True))
    exact = (gold_matrix == pred_matrix).all(axis=1)
    return {
        "labels": labels,
        "per_class": per_class,
        "micro": micro["micro"],
        **averages(per_class),
        "subset_accuracy": float(exact.mean()),
        "samples": len(gold_sets),
    }


def _rows(labels: Sequence[str], tp: np.ndarray, pred_sum: np.ndarray, true_sum: np.ndarray) -> dict[str, dict]:
    precision = _divide(tp, pred_sum)
    recall = _divide(tp, true_sum)
    f1 = _divide(2 * tp, pred_sum + true_sum)
    return {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(true_sum[i]),
        }
        for i, label in enumerate(labels)
    }


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise ratio that is 0.0 where the denominator is 0 (zero_division=0)."""
    safe = np.where(denominator == 0, 1, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def _indicator(sets: list[set[str]], index: dict[str, int]) -> np.ndarray:
    matrix = np.zeros((len(sets), len(index)), dtype=bool)
    for row, labels in enumerate(sets):
        matrix[row, [index[label] for label in labels]] = True
    return matrix


def _unique(labels: Sequence[str]) -> list[str]:
    labels = list(labels)
    if len(set(labels)) != len(labels):
        duplicates = sorted(label for label, count in Counter(labels).items() if count > 1)
        raise ValueError(f"labels must be unique; repeated: {', '.join(map(repr, duplicates))}")
    return labels


def _with_unseen(labels: Sequence[str], gold: Iterable[str], pred: Iterable[str]) -> list[str]:
    labels = _unique(labels)
    known = set(labels)
    unseen = {g for g in gold if g not in known} | {p for p in pred if p not in known}
    return labels + sorted(unseen)


def _check_pairs(gold: Sequence, pred: Sequence) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} examples but pred has {len(pred)}; they must match one to one")
    if len(gold) == 0:
        raise ValueError("no examples to evaluate: gold and pred are empty")
