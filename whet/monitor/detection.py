"""Change detectors over a key's windows: the current window against its baseline windows.

``ratio``: the current value reaches ``threshold`` times the baseline's; for the negative share
also a two-proportion z test (``min_z``), so a handful of documents cannot raise an alert alone.
``page_hinkley``: river's Page-Hinkley test fed the baseline windows' values, then the current
one; an alert when it signals a change at the current window and the value rose.
Both need ``min_volume`` documents in the window and in the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Window:
    start: float
    documents: int
    negative: int


@dataclass
class Verdict:
    changed: bool
    value: float | None
    baseline: float | None
    detail: str


def _value(window: Window, metric: str) -> float:
    return window.negative / window.documents if metric == "negative_share" else float(window.documents)


def detect(current: Window, baseline: list[Window], *, metric: str, detector: str, threshold: float,
           min_volume: int, min_z: float = 2.0) -> Verdict:
    """Whether ``current`` changed against ``baseline`` (every earlier window, empty ones included)."""
    base_docs = sum(w.documents for w in baseline)
    if current.documents < min_volume or (metric == "negative_share" and base_docs < min_volume):
        return Verdict(False, None, None, f"too few documents (window {current.documents}, baseline {base_docs}; "
                                          f"min_volume {min_volume})")
    value = _value(current, metric)
    if metric == "negative_share":
        base = sum(w.negative for w in baseline) / base_docs
    else:
        base = base_docs / len(baseline)
    if detector == "page_hinkley":
        from river.drift import PageHinkley

        # The series of window values: shares of windows with documents, volumes of every window.
        series = [_value(w, metric) for w in baseline if metric == "volume" or w.documents > 0]
        test = PageHinkley(threshold=threshold, min_instances=min(len(series), 10) or 1, mode="up")
        for past in series:
            test.update(past)
        test.update(value)
        changed = test.drift_detected and value > base
        return Verdict(changed, value, base, f"Page-Hinkley {'signals' if changed else 'no'} change (lambda {threshold:g})")
    if metric == "negative_share":
        pooled = (current.negative + base * base_docs) / (current.documents + base_docs)
        spread = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / current.documents + 1 / base_docs))
        z = (value - base) / spread
        # A baseline without negative documents: its share is taken as half a document's worth.
        floor = max(base, 0.5 / base_docs)
        changed = value >= threshold * floor and z >= min_z
        return Verdict(changed, value, base, f"{value:.2f} is {value / floor:.1f}x the baseline {base:.2f} "
                                             f"(alert from {threshold:g}x), z {z:.1f} (from {min_z:g})")
    changed = value >= threshold * max(base, 1.0)
    return Verdict(changed, value, base, f"{value:.0f} documents, {value / max(base, 1.0):.1f}x the baseline "
                                         f"{base:.1f} a window (alert from {threshold:g}x)")
