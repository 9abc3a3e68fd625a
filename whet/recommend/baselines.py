"""Recommenders without training, to measure the fine-tuned encoder against.

Each returns a scorer: a function from cases to a (cases, items) matrix of scores.
- popularity: how many users took each item;
- co-occurrence: for each of the user's recent items, how many users took both it and the
  candidate (item-to-item collaborative filtering); transitions: how often the candidate came
  right after the user's last item;
- BM25 (bm25s) of the item texts against the user's recent items' texts;
- an encoder's cosine similarity of the user's text and the item texts, untrained or trained.
Co-occurrence and transitions break their many ties by popularity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from whet.recommend.bi_encoder import user_text
from whet.recommend.data import Case, Catalog, Interactions

Scorer = Callable[[list[Case]], np.ndarray]
TIE_BREAK = 1e-6


def item_counts(interactions: Interactions, items: int) -> np.ndarray:
    counts = np.zeros(items, dtype=np.float64)
    for sequence in interactions.sequences.values():
        np.add.at(counts, list(set(sequence)), 1.0)
    return counts


def popularity(interactions: Interactions, items: int) -> Scorer:
    counts = item_counts(interactions, items)
    return lambda cases: np.tile(counts, (len(cases), 1))


def _user_item_matrix(interactions: Interactions, items: int) -> Any:
    from scipy.sparse import csr_matrix

    rows, cols = [], []
    for row, sequence in enumerate(interactions.sequences.values()):
        unique = sorted(set(sequence))
        rows += [row] * len(unique)
        cols += unique
    return csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(interactions.sequences), items))


def cooccurrence(interactions: Interactions, items: int, recent: int) -> Scorer:
    """Sum over the user's ``recent`` latest items of how many users took both it and the candidate."""
    users = _user_item_matrix(interactions, items)
    pairs = (users.T @ users).tocsr()  # (items, items)
    pairs.setdiag(0)
    fallback = TIE_BREAK * item_counts(interactions, items) / max(1, len(interactions.sequences))

    def score(cases: list[Case]) -> np.ndarray:
        out = np.tile(fallback, (len(cases), 1))
        for row, case in enumerate(cases):
            latest = list(dict.fromkeys(case.history[-recent:]))
            if latest:
                out[row] += np.asarray(pairs[latest].sum(axis=0)).ravel()
        return out

    return score


def transitions(interactions: Interactions, items: int) -> Scorer:
    """How often the candidate came right after the user's last item."""
    from scipy.sparse import csr_matrix

    sources, targets = [], []
    for sequence in interactions.sequences.values():
        sources += sequence[:-1]
        targets += sequence[1:]
    following = csr_matrix((np.ones(len(sources)), (sources, targets)), shape=(items, items))
    fallback = TIE_BREAK * item_counts(interactions, items) / max(1, len(interactions.sequences))

    def score(cases: list[Case]) -> np.ndarray:
        out = np.tile(fallback, (len(cases), 1))
        for row, case in enumerate(cases):
            if case.history:
                out[row] += following[case.history[-1]].toarray().ravel()
        return out

    return score


def bm25(catalog: Catalog, history_items: int) -> Scorer:
    """BM25 (bm25s, English stopwords) of each item's text against the user's recent items' texts."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(catalog.texts, show_progress=False), show_progress=False)

    def score(cases: list[Case]) -> np.ndarray:
        queries = bm25s.tokenize([user_text(catalog, case.history, history_items) for case in cases],
                                 return_ids=False, show_progress=False)
        return np.stack([retriever.get_scores(tokens) for tokens in queries])

    return score


def embedding(encoder: Any, catalog: Catalog, history_items: int) -> Scorer:
    """Cosine similarity of the user's text and each item's text under ``encoder``."""
    from whet.models.sentence_model import embed, unit_rows

    items = unit_rows(embed(encoder, catalog.texts))  # (items, dim)
    return lambda cases: unit_rows(embed(encoder, [user_text(catalog, c.history, history_items) for c in cases])) @ items.T
