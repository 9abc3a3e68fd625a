"""The out-of-scope threshold: texts whose confidence is below it get the "none" label.

Tuned on a labelled dev file for a target **precision of in-scope predictions**: among dev
texts whose confidence reaches the threshold (predicted in scope), the share whose predicted
label is their gold label. Dev texts whose gold label is the none label count as wrong
whenever they are predicted in scope. The chosen threshold is the lowest one that reaches
the target, so as many texts as possible stay in scope; when no threshold reaches it, the
one with the highest precision is chosen and ``reached`` is False.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class ThresholdChoice:
    threshold: float
    target_precision: float
    precision: float  # of in-scope predictions on the dev file, at this threshold
    coverage: float  # share of the dev texts predicted in scope
    reached: bool
    examples: int
    dev: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def decide(labels: list[str], probabilities: np.ndarray, confidence: np.ndarray, threshold: float | None,
           none_label: str) -> list[str]:
    """The best label of each text, or ``none_label`` where the confidence is below ``threshold``."""
    best = [labels[i] for i in probabilities.argmax(axis=1)]
    if threshold is None:
        return best
    return [label if score >= threshold else none_label for label, score in zip(best, confidence)]


def tune_threshold(confidence: np.ndarray, predicted: list[str], gold: list[str], target_precision: float) -> ThresholdChoice:
    """The lowest threshold whose in-scope precision on (``predicted``, ``gold``) reaches the target.

    ``predicted`` are the best labels before any threshold.
    """
    order = np.argsort(-confidence, kind="stable")
    scores = confidence[order]
    correct = np.array([predicted[i] == gold[i] for i in order], dtype=np.float64)
    # Admitting the top j texts; only cut between different scores (a threshold admits all ties).
    cuts = np.flatnonzero(np.append(scores[1:] != scores[:-1], True)) + 1
    precision = np.cumsum(correct)[cuts - 1] / cuts
    good = np.flatnonzero(precision >= target_precision)
    reached = len(good) > 0
    pick = good[-1] if reached else int(np.flatnonzero(precision == precision.max())[-1])
    admitted = int(cuts[pick])
    return ThresholdChoice(threshold=float(scores[admitted - 1]), target_precision=target_precision,
                           precision=float(precision[pick]), coverage=admitted / len(scores), reached=reached,
                           examples=len(scores))
