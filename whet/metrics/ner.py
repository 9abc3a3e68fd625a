"""Entity-level NER metrics, equal to seqeval's ``classification_report``.

An entity counts as correct only if its type, start and end all match a gold entity. The
per-type, micro, macro and weighted numbers are computed with the same numpy operations
seqeval uses, so they match ``seqeval.metrics.classification_report(..., output_dict=True)``
to the last bit (with ``f1`` for seqeval's ``f1-score``). A token-level table over the raw
tags comes alongside, for the cases where entity scores hide what goes wrong (B-/I- mixups).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from whet.metrics.classification import label_table
from whet.metrics.entities import entity_spans


def ner_report(
    gold: list[list[str]],
    pred: list[list[str]],
    *,
    mode: str = "default",
    scheme: str | None = None,
) -> dict:
    """Evaluate tagged sentences at the entity level and at the token level.

    Args:
        gold: The gold tags of each sentence.
        pred: The predicted tags of each sentence, one per gold tag.
        mode: ``"default"`` (conlleval's lenient chunking, seqeval's default) or
            ``"strict"`` (only well-formed chunks under ``scheme``, seqeval's strict mode).
        scheme: ``"iob2"`` or ``"bioes"``; required for strict mode.

    Returns:
        ``{"per_type": {type: row}, "micro": row, "macro": row, "weighted": row, "token": table}``
        where a row is ``{"precision", "recall", "f1", "support"}`` and support counts gold
        entities. Types found only in predictions appear with support 0. With no entity at
        all, macro is 0.0 where seqeval gives NaN. ``token`` is
        :func:`whet.metrics.classification.label_table` over the flattened tags.

    Raises:
        ValueError: If the sentence counts or any sentence's lengths differ, there are no
            tags at all, or the tags cannot be read under ``mode`` / ``scheme``.

    Example:
        >>> report = ner_report([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
        >>> report["micro"]["f1"], report["per_type"]["PER"]["support"]
        (1.0, 1)
    """
    _check_lengths(gold, pred)
    gold_entities: dict[str, set[tuple[int, int, int]]] = defaultdict(set)
    pred_entities: dict[str, set[tuple[int, int, int]]] = defaultdict(set)
    for sentence, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        for type_, start, end in entity_spans(gold_tags, mode, scheme):
            gold_entities[type_].add((sentence, start, end))
        for type_, start, end in entity_spans(pred_tags, mode, scheme):
            pred_entities[type_].add((sentence, start, end))

    types = sorted(gold_entities.keys() | pred_entities.keys())
    tp = np.array([len(gold_entities[t] & pred_entities[t]) for t in types], dtype=np.int64)
    pred_sum = np.array([len(pred_entities[t]) for t in types], dtype=np.int64)
    true_sum = np.array([len(gold_entities[t]) for t in types], dtype=np.int64)

    precision, recall, f1 = _prf(tp, pred_sum, true_sum)
    per_type = {t: _row(precision[i], recall[i], f1[i], true_sum[i]) for i, t in enumerate(types)}
    total = int(true_sum.sum())
    micro_p, micro_r, micro_f1 = _prf(tp.sum(keepdims=True), pred_sum.sum(keepdims=True), np.array([total]))
    micro = _row(micro_p[0], micro_r[0], micro_f1[0], total)
    if types:
        macro = _row(np.average(precision), np.average(recall), np.average(f1), total)
    else:
        # seqeval averages an empty array here and reports NaN; 0.0 keeps reports valid JSON.
        macro = _row(0.0, 0.0, 0.0, 0)
    if total:
        weighted = _row(*(np.average(x, weights=true_sum) for x in (precision, recall, f1)), total)
    else:
        # seqeval's rule when no gold entity exists: everything is 0.0 (zero_division=0).
        weighted = _row(0.0, 0.0, 0.0, 0)

    flat_gold = [tag for tags in gold for tag in tags]
    flat_pred = [tag for tags in pred for tag in tags]
    token = label_table(flat_gold, flat_pred, sorted(set(flat_gold) | set(flat_pred)))
    return {"per_type": per_type, "micro": micro, "macro": macro, "weighted": weighted, "token": token}


def _prf(tp: np.ndarray, pred_sum: np.ndarray, true_sum: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # The same expressions, in the same order, as seqeval's _precision_recall_fscore_support,
    # so floating-point results are identical rather than merely close.
    precision = tp / np.where(pred_sum == 0, 1, pred_sum)
    precision[pred_sum == 0] = 0.0
    recall = tp / np.where(true_sum == 0, 1, true_sum)
    recall[true_sum == 0] = 0.0
    denominator = 1.0 * precision + recall
    denominator[denominator == 0.0] = 1
    f1 = 2.0 * precision * recall / denominator
    return precision, recall, f1


def _row(precision: float, recall: float, f1: float, support: int) -> dict:
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(support)}


def _check_lengths(gold: list[list[str]], pred: list[list[str]]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but pred has {len(pred)}; they must match one to one")
    if not any(gold):
        raise ValueError("no tags to evaluate: every gold sentence is empty")
    for i, (gold_tags, pred_tags) in enumerate(zip(gold, pred)):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(
                f"sentence {i} has {len(gold_tags)} gold tags but {len(pred_tags)} predicted tags;"
                " predict exactly one tag per word"
            )
