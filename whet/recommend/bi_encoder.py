"""The bi-encoder: a user's recent items as one text, matched to the next item's text.

Training pairs are (user text -> next item text) at every step of every user's sequence; the
loss is sentence-transformers' MultipleNegativesRankingLoss (or its cached form): each pair's
item against every other item of the batch, and optionally against negatives mined from the
untuned encoder's ranking. Batches never hold one text twice (sentence-transformers'
NoDuplicatesBatchSampler), so a popular item is not its own negative.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np

from whet.recommend.data import Case, Catalog

log = logging.getLogger("whet")


def user_text(catalog: Catalog, history: list[int], history_items: int) -> str:
    """The most recent ``history_items`` items' query texts, newest first (truncation cuts the oldest)."""
    return " | ".join(catalog.query_texts[item] for item in reversed(history[-history_items:]))


def sample_cases(cases: list[Case], max_pairs: int | None, seed: int) -> list[Case]:
    if max_pairs is None or len(cases) <= max_pairs:
        return list(cases)
    return random.Random(seed).sample(cases, max_pairs)


def mine_negatives(user_vectors: np.ndarray, item_vectors: np.ndarray, cases: list[Case], *, count: int,
                   ranks: tuple[int, int], seed: int) -> list[list[int]]:
    """``count`` items per case drawn from ranks ``ranks`` of the encoder's list, never the
    target or an item the user has seen.

    sentence-transformers' ``mine_hard_negatives`` does this on a ``datasets.Dataset``, a package
    whet does not depend on; here the search is faiss's exact inner product over the same embeddings.
    """
    import faiss

    index = faiss.IndexFlatIP(item_vectors.shape[1])
    index.add(np.ascontiguousarray(item_vectors, dtype=np.float32))
    low, high = ranks
    _, found = index.search(np.ascontiguousarray(user_vectors, dtype=np.float32), min(high, len(item_vectors)))
    rng = random.Random(seed)
    negatives = []
    for case, row in zip(cases, found):
        # (ranks counted among the items the user could still be recommended)
        pool = [int(item) for item in row if item != case.target and item not in case.seen][low:high]
        negatives.append(rng.sample(pool, min(count, len(pool))) if pool else [])
    return negatives


class TextRows:
    """Training rows as the batch sampler reads them: ``rows[i]`` is a dict of column -> text."""

    def __init__(self, columns: dict[str, list[str]]) -> None:
        self.columns = columns
        self.column_names = list(columns)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __getitem__(self, i: int) -> dict[str, str]:
        return {name: texts[i] for name, texts in self.columns.items()}


def no_duplicate_batches(rows: TextRows, batch_size: int, epochs: int, seed: int) -> list[list[list[int]]]:
    """Each epoch's batches of row numbers, no text twice in a batch (sentence-transformers' sampler)."""
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

    sampler = NoDuplicatesBatchSampler(rows, batch_size=batch_size, drop_last=False, valid_label_columns=[], seed=seed)
    epochs_of_batches = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        epochs_of_batches.append([list(batch) for batch in sampler])
    return epochs_of_batches


def fine_tune(encoder: Any, rows: TextRows, *, loss: str, batch_size: int, mini_batch_size: int, scale: float,
              epochs: int, lr: float, warmup_ratio: float, seed: int, log_every: int, state: Any) -> None:
    """Contrastive fine-tuning of ``encoder`` on (user text, next item text, mined negatives...) rows."""
    from sentence_transformers.sentence_transformer.losses import (CachedMultipleNegativesRankingLoss,
                                                                   MultipleNegativesRankingLoss)

    from whet.setfit.encoder_training import fine_tune_encoder

    if loss == "cached_mnrl":
        loss_fn = CachedMultipleNegativesRankingLoss(encoder, scale=scale, mini_batch_size=mini_batch_size)
    else:
        loss_fn = MultipleNegativesRankingLoss(encoder, scale=scale)
    names = rows.column_names
    fine_tune_encoder(encoder, no_duplicate_batches(rows, batch_size, epochs, seed),
                      lambda batch: ([[rows.columns[name][i] for i in batch] for name in names], None), loss_fn,
                      lr=lr, warmup_ratio=warmup_ratio, max_grad_norm=1.0, log_every=log_every, state=state)
