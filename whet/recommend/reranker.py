"""The cross-encoder re-ranker: the first stage's top candidates, each read together with the user.

The first stage (the feature ranker when the model has one, else the bi-encoder's cosine) picks
each user's top ``candidates`` items; a sentence-transformers ``CrossEncoder`` reads the user's
text and each candidate's text in one pass and scores the pair. The cross-encoder is fine-tuned
on (user text, item text) pairs: the positive is the item that came next, the negatives are
drawn from the bi-encoder's top candidates for that user (never the target, never a seen item),
so it learns to tell apart exactly the items the first stage confuses. The loss is one of
sentence-transformers' cross-encoder losses, in whet's loop (their trainer needs ``datasets``).
It learns only from steps whose target is among the bi-encoder's candidates, the only ones it
will ever re-rank (``candidate_training_cases`` says why).

A final combination, a pairwise logistic regression (``ranker.pairwise_ranker``) of the
first-stage score and the cross-encoder's, learns on each user's held-out last training step
how much the cross-encoder is worth; the cross-encoder and the first stage never saw those steps.
The candidates are ordered by it, above every other item; the rest keep their first-stage order.

Saved as ``reranker/`` in the model directory: the cross-encoder (safetensors) and
``reranker.json`` (candidates, the user's side, the combination's weights).
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whet.recommend.bi_encoder import user_text
from whet.recommend.data import Case, Catalog
from whet.recommend.ranker import Ranker, pairwise_ranker

log = logging.getLogger("whet")

RERANKER_DIR = "reranker"
RERANKER_FILE = "reranker.json"
COMBINED = ["first_stage", "reranker"]


def load_cross_encoder(name: str, max_seq_length: int, device: str = "cpu") -> Any:
    """A one-label ``CrossEncoder``: a saved re-ranker as it was trained, or any encoder
    (``builtin:minilm``, a sentence-transformers or transformers directory, a hub id) with a new
    linear head on its first token; weights from safetensors only."""
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.cross_encoder import CrossEncoder

    from whet.errors import ModelError
    from whet.models.pretrained import quiet_transformers, resolve_model

    location = resolve_model(name)
    try:
        with quiet_transformers():
            if (Path(location) / RERANKER_FILE).is_file():
                model = CrossEncoder(location, device=device, model_kwargs={"use_safetensors": True})
            else:
                # A bi-encoder's folder lists pooling modules a cross-encoder has no use for: only
                # its transformer is read, as a sequence classifier with one (new) label.
                transformer = Transformer(location, transformer_task="sequence-classification",
                                          config_kwargs={"num_labels": 1}, model_kwargs={"use_safetensors": True})
                model = CrossEncoder(modules=[transformer], device=device)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"cannot load a cross-encoder from '{name}': {first}; use builtin:minilm or a local "
                         f"model directory with safetensors weights") from None
    model.max_seq_length = max_seq_length
    return model


@dataclass
class Reranker:
    model: Any  # sentence_transformers CrossEncoder, one label
    candidates: int
    history_items: int
    combination: Ranker | None = None  # None: candidates ordered by the cross-encoder alone
    batch_size: int = 64

    def pair_scores(self, catalog: Catalog, cases: list[Case], items: np.ndarray,
                    valid: np.ndarray | None = None) -> np.ndarray:
        """(cases, candidates) cross-encoder logits of each user's text with each item's text
        (only where ``valid``; 0 elsewhere)."""
        valid = np.ones(items.shape, dtype=bool) if valid is None else valid
        scores = np.zeros(items.shape, dtype=np.float32)
        where = np.argwhere(valid)  # (pairs, 2) of (case, candidate)
        if not len(where):
            return scores
        queries = {row: user_text(catalog, cases[row].history, self.history_items) for row in set(where[:, 0].tolist())}
        pairs = [(queries[row], catalog.texts[items[row, c]]) for row, c in where]
        logits = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False,
                                    activation_fn=_identity(), convert_to_numpy=True)
        scores[where[:, 0], where[:, 1]] = np.asarray(logits, dtype=np.float32).reshape(-1)
        return scores

    def rerank(self, catalog: Catalog, cases: list[Case], first: np.ndarray) -> np.ndarray:
        """(cases, items) scores: each user's top candidates of ``first`` (seen items skipped)
        ordered by the combination, above every other item, which keeps its ``first`` order."""
        items, valid = candidate_items(first, cases, self.candidates)
        # A user known only by interests has no text for the cross-encoder: the first stage alone.
        valid &= np.asarray([bool(case.history) for case in cases])[:, None]
        scores = self.pair_scores(catalog, cases, items, valid)
        first_at = np.take_along_axis(first, items, axis=1)
        combined = (scores if self.combination is None
                    else self.combination.score(np.stack([first_at, scores])))
        return place_candidates(first, items, valid, combined)


def _identity() -> Any:
    import torch

    return torch.nn.Identity()


def candidate_items(first: np.ndarray, cases: list[Case], count: int) -> tuple[np.ndarray, np.ndarray]:
    """(cases, count) positions of each user's best ``first`` scores, seen items left out, best
    first, and whether each is a real candidate (False: the catalog ran out; removed items score -inf)."""
    masked = np.array(first, dtype=np.float64)
    for row, case in enumerate(cases):
        masked[row, [item for item in case.seen if item < masked.shape[1]]] = -np.inf
    count = min(count, masked.shape[1])
    top = np.argpartition(-masked, count - 1, axis=1)[:, :count]
    order = np.argsort(-np.take_along_axis(masked, top, axis=1), axis=1, kind="stable")
    items = np.take_along_axis(top, order, axis=1)
    return items, np.isfinite(np.take_along_axis(masked, items, axis=1))


def candidate_training_cases(first: np.ndarray, cases: list[Case], count: int, negatives: int,
                             seed: int) -> tuple[list[Case], list[list[int]]]:
    """The ``cases`` whose target is among their top ``count`` items of ``first``, each with
    ``negatives`` other candidates drawn at random.

    Only those cases are ever re-ranked. Training on the others too, with negatives from the
    candidates, would teach the cross-encoder that items like the user's history are wrong (the
    negatives are such items by construction, and those targets are not), and it would then
    reverse the first stage's order. A training step's ``seen`` holds its own target (the
    user's later items are seen too): the target is left in for the search.
    """
    searched = [Case(case.user, case.history, case.seen - {case.target}, case.target) for case in cases]
    items, valid = candidate_items(first, searched, count)
    rng = random.Random(seed)
    kept, drawn = [], []
    for case, row, real in zip(cases, items, valid):
        others = [int(item) for item in row[real] if item != case.target]
        if len(others) < int(real.sum()):  # the target is a candidate
            kept.append(case)
            drawn.append(rng.sample(others, min(negatives, len(others))))
    return kept, drawn


def place_candidates(first: np.ndarray, items: np.ndarray, valid: np.ndarray, combined: np.ndarray) -> np.ndarray:
    """``first`` with each row's valid candidates scored by ``combined`` and every other item
    moved (keeping its order) below the lowest of them."""
    scores = np.array(first, dtype=np.float64)
    rows = np.arange(len(scores))[:, None]
    scores[rows, items] = np.where(valid, -np.inf, scores[rows, items])
    for row in range(len(scores)):
        if not valid[row].any():
            continue
        floor = float(combined[row][valid[row]].min())
        rest = scores[row][np.isfinite(scores[row])]
        if rest.size:
            scores[row] -= rest.max() - floor + 1.0  # -inf stays -inf
        scores[row, items[row][valid[row]]] = combined[row][valid[row]]
    return scores


def fit_combination(reranker: Reranker, catalog: Catalog, cases: list[Case], first: np.ndarray,
                    seed: int) -> Ranker | None:
    """The weights of (first-stage score, cross-encoder score), from the target against every
    other candidate, for the ``cases`` whose target is among their candidates; None when none is."""
    items, valid = candidate_items(first, cases, reranker.candidates)
    hit = [row for row, case in enumerate(cases) if case.target in items[row][valid[row]]]
    if not hit:
        return None
    chosen = [cases[row] for row in hit]
    items, valid, first = items[hit], valid[hit], first[hit]
    features = np.stack([np.take_along_axis(first, items, axis=1),
                         reranker.pair_scores(catalog, chosen, items, valid)])  # (2, cases, candidates)
    differences = []
    for row, case in enumerate(chosen):
        at = int(np.flatnonzero(items[row] == case.target)[0])
        others = [c for c in np.flatnonzero(valid[row]) if c != at]
        differences += [features[:, row, at] - features[:, row, c] for c in others]
    log.info("re-ranker: combination fitted on %d of %d users (the others' targets were not candidates)",
             len(chosen), len(cases))
    return pairwise_ranker(COMBINED, np.asarray(differences), seed)


def training_rows(catalog: Catalog, cases: list[Case], negatives: list[list[int]], *, loss: str,
                  history_items: int, seed: int) -> tuple[dict[str, list], list[float] | None]:
    """The cross-encoder's training columns and labels: for ``bce`` one (query, item) row per
    positive and per negative, labelled 1 and 0; for ``mnrl`` one row per case, (query, positive,
    negative_1...) with no labels. A case short of negatives gets random other items."""
    rng = random.Random(seed)
    count = max((len(found) for found in negatives), default=0)
    queries = [user_text(catalog, case.history, history_items) for case in cases]
    filled = []
    for case, found in zip(cases, negatives):
        found = list(found)
        while len(found) < count:
            item = rng.randrange(len(catalog))
            if item != case.target and item not in case.seen and item not in found:
                found.append(item)
        filled.append(found)
    if loss == "mnrl":
        columns = {"query": queries, "positive": [catalog.texts[case.target] for case in cases]}
        for n in range(count):
            columns[f"negative_{n + 1}"] = [catalog.texts[found[n]] for found in filled]
        return columns, None
    rows = [(query, catalog.texts[item], float(item == case.target))
            for query, case, found in zip(queries, cases, filled) for item in [case.target, *found]]
    return {"query": [r[0] for r in rows], "item": [r[1] for r in rows]}, [r[2] for r in rows]


def train_cross_encoder(model: Any, columns: dict[str, list], labels: list[float] | None, *, loss: str,
                        negatives: int, batch_size: int, lr: float, warmup_ratio: float, epochs: int, seed: int,
                        log_every: int, state: Any) -> float:
    """Fine-tune ``model`` on the rows of ``training_rows``; return the seconds it took.

    ``bce``: sentence-transformers' BinaryCrossEntropyLoss, the positive weighted by the number of
    negatives so the two classes count alike; ``mnrl``: its cross-encoder MultipleNegativesRankingLoss
    (the positive against the mined negatives and as many in-batch ones), in batches without a
    text twice.
    """
    import torch
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, MultipleNegativesRankingLoss

    from whet.recommend.bi_encoder import TextRows, no_duplicate_batches
    from whet.setfit.encoder_training import fine_tune_encoder, shuffled_batches

    names = list(columns)
    rows = len(columns[names[0]])
    if loss == "mnrl":
        loss_fn = MultipleNegativesRankingLoss(model, num_negatives=negatives)
        batches = no_duplicate_batches(TextRows(columns), batch_size, epochs, seed)
    else:
        loss_fn = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(negatives)))
        batches = shuffled_batches(rows, batch_size, epochs, seed)
    targets = torch.tensor(labels) if labels is not None else None
    started = time.perf_counter()
    fine_tune_encoder(model, batches,
                      lambda batch: ([[columns[name][i] for i in batch] for name in names],
                                     targets[batch] if targets is not None else None),
                      loss_fn, lr=lr, warmup_ratio=warmup_ratio, max_grad_norm=1.0, log_every=log_every,
                      state=state, tokenize=False)
    return time.perf_counter() - started


def save_reranker(folder: Path, reranker: Reranker) -> None:
    """The cross-encoder (safetensors) and ``reranker.json`` into ``folder``."""
    from whet.io.atomic import write_json_atomic
    from whet.models.pretrained import quiet_transformers

    folder = Path(folder)
    with quiet_transformers():
        reranker.model.save(str(folder), safe_serialization=True, create_model_card=False)
    write_json_atomic(folder / RERANKER_FILE, {
        "candidates": reranker.candidates, "history_items": reranker.history_items,
        "max_seq_length": reranker.model.max_seq_length, "batch_size": reranker.batch_size,
        "combination": reranker.combination.as_dict() if reranker.combination is not None else None})


def load_reranker(folder: Path) -> Reranker:
    saved = json.loads((Path(folder) / RERANKER_FILE).read_text(encoding="utf-8"))
    model = load_cross_encoder(str(folder), saved["max_seq_length"])
    combination = Ranker.from_dict(saved["combination"]) if saved["combination"] else None
    return Reranker(model, saved["candidates"], saved["history_items"], combination, saved["batch_size"])
