"""Diversity: Maximal Marginal Relevance (Carbonell & Goldstein, 1998) over the top candidates.

Items are picked one at a time, each the candidate with the highest
``(1 - diversity) * relevance - diversity * (its largest cosine to the items already picked)``.
Relevance is rescaled to [0, 1] over the candidates first, so that ``diversity`` means the same
whether the scores are cosines or the feature ranker's unbounded ones. At 0 the picks are the
candidates in relevance order; at 1 relevance only chooses the first item.
"""

from __future__ import annotations

import numpy as np

# Candidates re-ranked for k recommendations: enough room to swap near-duplicates for other
# kinds of item, few enough that an item far down the relevance order is never promoted.
MIN_CANDIDATES = 50
CANDIDATES_PER_ITEM = 5


def candidates_for(k: int) -> int:
    return max(MIN_CANDIDATES, CANDIDATES_PER_ITEM * k)


def maximal_marginal_relevance(relevance: np.ndarray, vectors: np.ndarray, k: int, diversity: float) -> list[int]:
    """Indices into the candidates, in the order picked.

    Args:
        relevance: (candidates,) scores, higher is better.
        vectors: (candidates, dim) unit item embeddings.
        k: how many to pick.
        diversity: the trade-off in [0, 1]; 0 is the relevance order.
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    span = relevance.max(initial=0.0) - relevance.min(initial=0.0)
    scaled = (relevance - relevance.min(initial=0.0)) / span if span > 0 else np.ones_like(relevance)
    similarity = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T  # (candidates, candidates)
    closest = np.zeros(len(relevance))  # nothing picked yet: no penalty
    available = np.ones(len(relevance), dtype=bool)
    picked: list[int] = []
    for _ in range(min(k, len(relevance))):
        value = np.where(available, (1 - diversity) * scaled - diversity * closest, -np.inf)
        best = int(np.argmax(value))  # ties: the earlier (more relevant) candidate
        picked.append(best)
        available[best] = False
        closest = similarity[best] if len(picked) == 1 else np.maximum(closest, similarity[best])
    return picked


def mean_pairwise_similarity(vectors: np.ndarray) -> float:
    """The mean cosine over distinct pairs of (items, dim) unit vectors: lower is more diverse."""
    n = len(vectors)
    if n < 2:
        return 0.0
    similarity = vectors @ vectors.T
    return float((similarity.sum() - np.trace(similarity)) / (n * (n - 1)))
