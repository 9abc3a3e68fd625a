"""Figures of one window: volume, shares per sentiment, and a sentiment index with its interval."""

from __future__ import annotations

import math


def window_figures(documents: int, negative: int, positive: int) -> dict:
    """Volume, negative and positive shares, and the sentiment index (positive share minus negative
    share, in [-1, 1]) with a 95 % normal-approximation interval (the mean of +1/0/-1 scores)."""
    if documents == 0:
        return {"volume": 0, "negative_share": None, "positive_share": None, "index": None, "index_low": None,
                "index_high": None}
    p_neg, p_pos = negative / documents, positive / documents
    index = p_pos - p_neg
    variance = max(p_pos + p_neg - index * index, 0.0) / documents
    half = 1.96 * math.sqrt(variance)
    return {"volume": documents, "negative_share": round(p_neg, 4), "positive_share": round(p_pos, 4),
            "index": round(index, 4), "index_low": round(max(-1.0, index - half), 4),
            "index_high": round(min(1.0, index + half), 4)}
