"""Recommenders without training, to measure the fine-tuned encoder against.

Each returns a scorer: a function from cases to a (cases, items) matrix of scores.
- popularity: how many users took each item;
- co-occurrence: for each of the user's recent items, how many users took both it and the
  candidate (item-to-item collaborative filtering); transitions: how often the candidate came
  right after the user's last item;
- BM25 (bm25s) of the item texts against the user's recent items' texts;
- an encoder's cosine similarity of the user's text and the item texts, untrained or trained.
Co-occurrence and transitions break their many ties by popularity. The counts behind them
(``ItemCounts``) are saved with a model whose ranker uses them as features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whet.recommend.bi_encoder import user_text
from whet.recommend.data import Case, Catalog, Interactions

Scorer = Callable[[list[Case]], np.ndarray]
TIE_BREAK = 1e-6


@dataclass
class ItemCounts:
    """What the users did, counted: how many took each item, each pair of items (both in one
    user's positives), and each item right after another."""

    popularity: np.ndarray  # (items,)
    together: Any  # scipy CSR (items, items), zero diagonal
    following: Any  # scipy CSR (items, items): row = the earlier item

    @property
    def items(self) -> int:
        return len(self.popularity)


def count_items(interactions: Interactions, items: int) -> ItemCounts:
    from scipy.sparse import csr_matrix

    rows, cols, sources, targets = [], [], [], []
    for row, sequence in enumerate(interactions.sequences.values()):
        unique = sorted(set(sequence))
        rows += [row] * len(unique)
        cols += unique
        sources += sequence[:-1]
        targets += sequence[1:]
    users = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(interactions.sequences), items))
    together = (users.T @ users).tocsr()  # (items, items)
    together.setdiag(0)
    together.eliminate_zeros()
    following = csr_matrix((np.ones(len(sources)), (sources, targets)), shape=(items, items))
    return ItemCounts(np.asarray(users.sum(axis=0)).ravel(), together, following)


def save_counts(counts: ItemCounts, path: Path) -> None:
    from safetensors.numpy import save

    from whet.io.atomic import write_bytes_atomic

    tensors = {"popularity": counts.popularity.astype(np.float32)}
    for name in ("together", "following"):
        matrix = getattr(counts, name)
        tensors |= {f"{name}.data": matrix.data.astype(np.float32), f"{name}.indices": matrix.indices.astype(np.int64),
                    f"{name}.indptr": matrix.indptr.astype(np.int64)}
    write_bytes_atomic(path, save(tensors))


def load_counts(path: Path) -> ItemCounts:
    from safetensors.numpy import load_file
    from scipy.sparse import csr_matrix

    tensors = load_file(str(path))
    items = len(tensors["popularity"])
    matrices = [csr_matrix((tensors[f"{name}.data"], tensors[f"{name}.indices"], tensors[f"{name}.indptr"]),
                           shape=(items, items)) for name in ("together", "following")]
    return ItemCounts(tensors["popularity"].astype(np.float64), *matrices)


def _fallback(counts: ItemCounts) -> np.ndarray:
    return TIE_BREAK * counts.popularity / max(1.0, float(counts.popularity.max(initial=0.0)))


def popularity(counts: ItemCounts) -> Scorer:
    return lambda cases: np.tile(counts.popularity, (len(cases), 1))


def cooccurrence(counts: ItemCounts, recent: int) -> Scorer:
    """Sum over the user's ``recent`` latest items of how many users took both it and the candidate."""
    def score(cases: list[Case]) -> np.ndarray:
        out = np.tile(_fallback(counts), (len(cases), 1))
        for row, case in enumerate(cases):
            latest = [item for item in dict.fromkeys(case.history[-recent:]) if item < counts.items]
            if latest:
                out[row] += np.asarray(counts.together[latest].sum(axis=0)).ravel()
        return out

    return score


def transitions(counts: ItemCounts) -> Scorer:
    """How often the candidate came right after the user's last item."""
    def score(cases: list[Case]) -> np.ndarray:
        out = np.tile(_fallback(counts), (len(cases), 1))
        for row, case in enumerate(cases):
            if case.history and case.history[-1] < counts.items:
                out[row] += counts.following[case.history[-1]].toarray().ravel()
        return out

    return score


def similarity(counts: ItemCounts, recent: int) -> Scorer:
    """Item-to-item cosine: for each of the user's ``recent`` latest items, the users who took both
    it and the candidate over the square root of the product of their popularities, summed. Unlike
    the raw co-occurrence count, a popular candidate is not favoured for being popular."""
    norms = np.sqrt(np.maximum(counts.popularity, 1.0))

    def score(cases: list[Case]) -> np.ndarray:
        out = np.tile(_fallback(counts), (len(cases), 1))
        for row, case in enumerate(cases):
            latest = [item for item in dict.fromkeys(case.history[-recent:]) if item < counts.items]
            if latest:
                together = counts.together[latest].toarray() / norms[latest, None]  # (latest, items)
                out[row] += together.sum(axis=0) / norms
        return out

    return score


def recent_transitions(counts: ItemCounts, recent: int) -> Scorer:
    """How often the candidate came right after one of the user's ``recent`` latest items, the
    last item counting fully, the one before it half, and so on."""
    def score(cases: list[Case]) -> np.ndarray:
        out = np.tile(_fallback(counts), (len(cases), 1))
        for row, case in enumerate(cases):
            for back, item in enumerate(reversed(case.history[-recent:]), 1):
                if item < counts.items:
                    out[row] += counts.following[item].toarray().ravel() / back
        return out

    return score


def category_affinity(categories: list[tuple[str, ...]], recent: int) -> Scorer:
    """The share of the user's ``recent`` latest items that share a category with the candidate
    (an item without categories shares none)."""
    names = {name: column for column, name in enumerate(sorted({c for item in categories for c in item}))}
    member = np.zeros((len(categories), max(len(names), 1)), dtype=np.float32)  # (items, categories)
    for item, found in enumerate(categories):
        member[item, [names[c] for c in found]] = 1.0

    def score(cases: list[Case]) -> np.ndarray:
        out = np.zeros((len(cases), len(categories)), dtype=np.float32)
        for row, case in enumerate(cases):
            latest = [item for item in dict.fromkeys(case.history[-recent:]) if item < len(categories)]
            if latest:
                out[row] = ((member[latest] @ member.T) > 0).mean(axis=0)
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
