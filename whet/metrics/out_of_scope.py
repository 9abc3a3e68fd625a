"""Out-of-scope detection: choosing the threshold on a score, and the figures it is judged by.

Every scorer's score is higher for texts further from what the model was trained on; a text
whose score is above the threshold is out of scope. The figures follow Larson et al. (2019),
"An Evaluation Dataset for Intent Classification and Out-of-Scope Prediction": in-scope
accuracy counts an in-scope text flagged out of scope as wrong; OOS precision, recall and F1
treat out of scope as the positive class; AUROC and the false-positive rate at 95 % in-scope
recall judge the score itself, whatever the threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# The share of in-scope texts kept below the threshold that FPR@95 is read at.
IN_SCOPE_RECALL = 0.95


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    rule: str  # "oos_f1": best OOS F1 on labelled out-of-scope texts; "in_scope_recall": keep a share in scope
    in_scope: int  # dev texts in scope
    out_of_scope: int  # dev texts labelled out of scope

    def to_dict(self) -> dict:
        return asdict(self)


def choose_threshold(scores: np.ndarray, is_oos: np.ndarray, target_recall: float = IN_SCOPE_RECALL
                     ) -> ThresholdChoice:
    """The threshold over ``scores`` (higher: more out of scope) of a dev set.

    With out-of-scope texts among them (``is_oos``), the threshold that maximises the F1 of the
    out-of-scope class: maximising accuracy over all texts would let the many in-scope texts
    outvote the few out-of-scope ones (CLINC150's val: 3,000 to 100), and the balanced accuracy
    would flag about thirty in-scope texts for each out-of-scope one found. Without any, the
    threshold that keeps ``target_recall`` of the in-scope texts in scope.
    """
    scores, is_oos = np.asarray(scores, dtype=np.float64), np.asarray(is_oos, dtype=bool)
    inside, outside = int((~is_oos).sum()), int(is_oos.sum())
    if inside == 0:
        raise ValueError("the dev texts are all out of scope; the threshold needs in-scope texts too")
    if outside == 0:
        # The smallest score that keeps at least target_recall of the in-scope texts at or below it.
        kept = int(np.ceil(target_recall * inside))
        threshold = float(np.sort(scores)[max(kept, 1) - 1])
        return ThresholdChoice(threshold, "in_scope_recall", inside, 0)
    # Candidate thresholds: each distinct score (flag the texts strictly above it), and below the lowest.
    order = np.argsort(-scores, kind="stable")
    ranked, positive = scores[order], is_oos[order].astype(np.float64)
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))  # last index of each run of ties
    true_positives = np.cumsum(positive)[ends]
    flagged = ends + 1.0
    f1 = 2 * true_positives / (flagged + outside)
    best = int(np.argmax(f1))
    # Flag the texts down to ends[best]: the threshold is the next lower score (or just below the lowest).
    below = ranked[ends[best] + 1] if ends[best] + 1 < len(ranked) else np.nextafter(ranked[-1], -np.inf)
    return ThresholdChoice(float(below), "oos_f1", inside, outside)


def out_of_scope_metrics(scores: np.ndarray, threshold: float, is_oos: np.ndarray,
                         correct: np.ndarray) -> dict[str, float]:
    """The figures of a detector on labelled texts.

    Args:
        scores: one per text, higher for texts further out of scope.
        threshold: texts scoring above it are flagged out of scope.
        is_oos: whether each text's gold label is the out-of-scope label.
        correct: whether the classifier's label is the gold label (ignored for out-of-scope texts).
    """
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    scores, is_oos, correct = (np.asarray(scores, dtype=np.float64), np.asarray(is_oos, dtype=bool),
                               np.asarray(correct, dtype=bool))
    flagged = scores > threshold
    inside = ~is_oos
    figures = {"in_scope_accuracy": float((correct & ~flagged)[inside].mean()) if inside.any() else float("nan"),
               "in_scope_flagged": float(flagged[inside].mean()) if inside.any() else float("nan"),
               "examples": int(len(scores)), "out_of_scope_examples": int(is_oos.sum()), "threshold": float(threshold)}
    if not is_oos.any() or not inside.any():  # OOS figures need both kinds of texts
        return figures
    precision, recall, f1, _ = precision_recall_fscore_support(is_oos, flagged, average="binary", zero_division=0)
    figures.update(oos_precision=float(precision), oos_recall=float(recall), oos_f1=float(f1),
                   auroc=float(roc_auc_score(is_oos, scores)), fpr_at_95=fpr_at_recall(scores, is_oos))
    return figures


def fpr_at_recall(scores: np.ndarray, is_oos: np.ndarray, recall: float = IN_SCOPE_RECALL) -> float:
    """The share of out-of-scope texts kept in scope by the threshold that keeps ``recall`` of the
    in-scope texts in scope (FPR@95 of the OOD literature, with in-scope as the positive class)."""
    scores, is_oos = np.asarray(scores, dtype=np.float64), np.asarray(is_oos, dtype=bool)
    threshold = choose_threshold(scores[~is_oos], np.zeros(int((~is_oos).sum()), dtype=bool), recall).threshold
    return float((scores[is_oos] <= threshold).mean())
