"""What every zero-shot mode returns, and the arithmetic the modes share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Scores:
    """Scores of n texts against L labels.

    ``probabilities`` (n, L) sum to 1 over the labels. ``confidence`` (n,) is the value the
    out-of-scope threshold applies to; each mode defines it (cosine similarity, entailment
    probability, calibrated probability), always higher for a surer best label.
    """

    probabilities: np.ndarray
    confidence: np.ndarray


class Scorer(Protocol):
    labels: list[str]

    def score(self, texts: list[str]) -> Scores:
        """Scores of ``texts`` against ``labels``."""


def softmax(values: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def logsumexp(values: np.ndarray, axis: int = -1) -> np.ndarray:
    top = values.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(values - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def calibrated(label_logprobs: np.ndarray, content_free_logprobs: np.ndarray | None) -> np.ndarray:
    """Contextual calibration (Zhao et al., 2021): (n, L) log-scores minus log p(label | content-free).

    ``content_free_logprobs`` (m, L) are the label log-probabilities after m content-free
    inputs ("N/A", "", ...); their label distributions are averaged, as in the paper. Dividing
    p(label | text) by p(label | "N/A") removes the model's prior for a label (a verbalizer
    that is simply a frequent word) before the labels are compared.
    """
    if content_free_logprobs is None:
        return label_logprobs
    prior = softmax(content_free_logprobs).mean(axis=0)  # (L,)
    return label_logprobs - np.log(np.maximum(prior, 1e-30))
