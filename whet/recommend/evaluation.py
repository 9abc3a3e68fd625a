"""Ranking each case's target among every item the user has not interacted with.

The protocol of the text-based recommendation papers: the target against the whole catalog
less the user's history (the target itself is never excluded). Ties count as the median place
among the tied items, so a scorer that gives many items the same score (popularity, co-occurrence)
is neither flattered nor punished by the order of the catalog.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from whet.recommend.data import Case

CUTOFF = 10


def target_ranks(scores: np.ndarray, cases: list[Case]) -> np.ndarray:
    """1-based rank of each case's target in its row of ``scores`` (cases, items), seen items left out."""
    ranks = np.empty(len(cases), dtype=np.int64)
    for row, (case, values) in enumerate(zip(cases, scores)):
        values = np.asarray(values, dtype=np.float64).copy()
        target = values[case.target]
        excluded = [item for item in case.seen if item != case.target]
        values[excluded] = -np.inf
        above = int(np.sum(values > target))
        ties = int(np.sum(values == target)) - 1
        ranks[row] = 1 + above + ties // 2
    return ranks


def ranking_metrics(ranks: np.ndarray, cutoff: int = CUTOFF) -> dict[str, float]:
    """Recall@cutoff, NDCG@cutoff (one relevant item: 1/log2(rank + 1) within the cutoff) and MRR."""
    ranks = np.asarray(ranks, dtype=np.float64)
    hit = ranks <= cutoff
    return {f"recall@{cutoff}": float(hit.mean()),
            f"ndcg@{cutoff}": float(np.where(hit, 1.0 / np.log2(ranks + 1), 0.0).mean()),
            "mrr": float((1.0 / ranks).mean())}


def evaluate_scores(score_cases: Callable[[list[Case]], np.ndarray], cases: list[Case],
                    chunk: int = 1024) -> dict[str, float]:
    """Metrics of a scorer (cases -> (cases, items) scores) over ``cases``, in chunks to bound memory."""
    ranks = [target_ranks(score_cases(cases[start:start + chunk]), cases[start:start + chunk])
             for start in range(0, len(cases), chunk)]
    return ranking_metrics(np.concatenate(ranks))
