"""The out-of-scope threshold: deciding, and tuning it to a precision of in-scope predictions."""

from __future__ import annotations

import numpy as np
import pytest

from whet.zeroshot.scores import calibrated, softmax
from whet.zeroshot.threshold import decide, tune_threshold


def brute_force(confidence, predicted, gold, target):
    """Every candidate threshold tried directly: (threshold, precision, coverage) of the lowest one
    reaching the target, else of the most precise one (the lowest among equals)."""
    rows = []
    for threshold in sorted(set(confidence.tolist())):
        admitted = confidence >= threshold
        precision = np.mean([p == g for p, g, a in zip(predicted, gold, admitted) if a])
        rows.append((threshold, precision, admitted.mean()))
    reaching = [row for row in rows if row[1] >= target]
    if reaching:
        return reaching[0], True
    best = max(row[1] for row in rows)
    return next(row for row in rows if row[1] == best), False


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("target", [0.5, 0.8, 0.95])
def test_tuned_threshold_matches_trying_every_threshold(seed, target):
    rng = np.random.default_rng(seed)
    n = 40
    confidence = np.round(rng.random(n), 1)  # ties on purpose
    gold = rng.choice(["a", "b", "none"], n).tolist()
    # Confident predictions are more often right, as with a real model.
    predicted = [g if rng.random() < c and g != "none" else "a" for g, c in zip(gold, confidence)]
    choice = tune_threshold(confidence, predicted, gold, target)
    (threshold, precision, coverage), reached = brute_force(confidence, predicted, gold, target)
    assert (choice.threshold, choice.reached) == (threshold, reached)
    assert choice.precision == pytest.approx(precision) and choice.coverage == pytest.approx(coverage)


def test_decide_gives_the_none_label_below_the_threshold():
    probabilities = np.array([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]])
    confidence = np.array([0.9, 0.2, 0.5])
    assert decide(["a", "b"], probabilities, confidence, None, "none") == ["a", "b", "a"]
    assert decide(["a", "b"], probabilities, confidence, 0.5, "none") == ["a", "none", "a"]


def test_contextual_calibration_divides_by_the_content_free_probabilities():
    label_logprobs = np.log(np.array([[0.6, 0.3, 0.1]]))
    content_free = np.log(np.array([[0.5, 0.4, 0.1], [0.7, 0.2, 0.1]]))
    prior = np.array([0.6, 0.3, 0.1])  # mean of the two content-free label distributions
    expected = np.array([0.6, 0.3, 0.1]) / prior
    assert softmax(calibrated(label_logprobs, content_free)) == pytest.approx((expected / expected.sum())[None])
    assert calibrated(label_logprobs, None) is label_logprobs
