"""The cross-encoder re-ranker: candidates, their re-ordering, the combination, training rows,
its config and its save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest

from whet.errors import ConfigError
from whet.recommend.data import Case, Catalog
from whet.recommend.ranker import Ranker
from whet.recommend.reranker import (COMBINED, Reranker, candidate_items, candidate_training_cases, fit_combination,
                                     load_cross_encoder, load_reranker, place_candidates, save_reranker,
                                     training_rows)
from whet.recommend.settings import load_recommend_config

TEXTS = [f"item {i}" for i in range(6)]
CATALOG = Catalog([str(i) for i in range(6)], TEXTS, TEXTS)


class ItemNumberModel:
    """A stand-in cross-encoder whose logit for (user, 'item N') is ``logits[N]``."""

    def __init__(self, logits: list[float]) -> None:
        self.logits = logits
        self.pairs: list[tuple[str, str]] = []

    def predict(self, pairs, **kwargs):
        self.pairs += pairs
        return np.array([self.logits[int(item.split()[1])] for _, item in pairs], dtype=np.float32)


def test_candidates_are_the_best_unseen_items_best_first():
    first = np.array([[0.9, 0.8, 0.1, 0.7, 0.2, -np.inf]])
    items, valid = candidate_items(first, [Case("u", [0], {0})], 3)
    assert items.tolist() == [[1, 3, 4]] and valid.tolist() == [[True, True, True]]
    # fewer recommendable items than candidates: the seen and the removed ones are not real candidates
    items, valid = candidate_items(first, [Case("u", [0], {0, 1, 2, 3})], 3)
    assert items[0][0] == 4 and valid.tolist() == [[True, False, False]]


def test_training_keeps_the_steps_whose_target_is_a_candidate_with_negatives_from_the_candidates():
    first = np.array([[0.0, 0.9, 0.8, 0.7, 0.1, 0.2], [0.0, 0.9, 0.8, 0.7, 0.1, 0.2]])
    # a training step's seen items include its own target and the user's later items
    cases = [Case("u", [0], {0, 2, 3}, 2), Case("v", [0], {0, 4}, 4)]
    kept, negatives = candidate_training_cases(first, cases, 3, 2, seed=0)
    assert kept == cases[:1]  # v's target (item 4) is not among its top 3 (items 1, 2, 3)
    assert sorted(negatives[0]) == [1, 5]  # u's candidates are 1, 2 (the target) and 5; item 3 is seen


def test_candidates_are_reordered_above_the_rest_which_keeps_its_order():
    first = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, -np.inf]])
    items, valid = np.array([[0, 1, 2]]), np.array([[True, True, True]])
    placed = place_candidates(first, items, valid, np.array([[-3.0, 7.0, 0.5]]))
    assert np.argsort(-placed[0]).tolist()[:5] == [1, 2, 0, 3, 4]
    assert placed[0, [1, 2, 0]].tolist() == [7.0, 0.5, -3.0]  # the combined scores themselves
    assert placed[0, 5] == -np.inf


def test_rerank_orders_candidates_by_the_combination_and_skips_users_without_history():
    model = ItemNumberModel([0.0, 0.0, 3.0, 2.0, 1.0, 0.0])
    only_reranker = Ranker(COMBINED, np.zeros(2), np.ones(2), np.array([0.0, 1.0]))
    reranker = Reranker(model, candidates=3, history_items=2, combination=only_reranker)
    first = np.tile([0.1, 0.9, 0.8, 0.7, 0.6, 0.5], (2, 1))
    cases = [Case("u", [0], {0}), Case("v", [], set())]
    scores = reranker.rerank(CATALOG, cases, first)
    assert np.argsort(-scores[0]).tolist() == [2, 3, 1, 4, 5, 0]  # items 1, 2, 3 re-read; 4, 5 below them
    assert np.argsort(-scores[1]).tolist() == [1, 2, 3, 4, 5, 0]  # interests only: the first stage's order
    assert all(query == "item 0" for query, _ in model.pairs) and len(model.pairs) == 3
    # with the weight on the first stage, its order comes back
    reranker.combination = Ranker(COMBINED, np.zeros(2), np.ones(2), np.array([1.0, 0.0]))
    assert np.argsort(-reranker.rerank(CATALOG, cases[:1], first[:1])[0]).tolist()[:3] == [1, 2, 3]


def test_combination_weighs_the_score_that_finds_the_targets():
    rng = np.random.default_rng(0)
    cases = [Case(str(i), [0], {0}, int(rng.integers(1, 6))) for i in range(40)]
    first = rng.normal(size=(40, 6))
    # the cross-encoder sees item 2 as best; the targets that are candidates are mostly item 2
    cases = [Case(c.user, c.history, c.seen, 2 if i % 4 else c.target) for i, c in enumerate(cases)]
    reranker = Reranker(ItemNumberModel([0.0, 0.0, 3.0, 0.0, 0.0, 0.0]), candidates=5, history_items=1)
    combination = fit_combination(reranker, CATALOG, cases, first, seed=0)
    assert combination.names == COMBINED and combination.weights[1] > 3 * abs(combination.weights[0])
    # no target among the candidates: nothing to learn from
    far = [Case("u", [0], {0}, 5)]
    assert fit_combination(Reranker(ItemNumberModel([0.0] * 6), 2, 1), CATALOG, far,
                           np.array([[0.0, 5.0, 4.0, 3.0, 2.0, 1.0]]), seed=0) is None


def test_training_rows_label_the_target_and_fill_short_negatives():
    cases = [Case("u", [0, 1], {0, 1}, 2), Case("v", [3], {3}, 4)]
    columns, labels = training_rows(CATALOG, cases, [[5, 3], [0]], loss="bce", history_items=2, seed=0)
    assert columns["query"][:3] == ["item 1 | item 0"] * 3  # newest first
    assert columns["item"][:3] == ["item 2", "item 5", "item 3"] and labels == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    filled = columns["item"][5]
    assert filled not in ("item 4", "item 3", "item 0")  # neither the target, a seen item, nor one already drawn
    columns, labels = training_rows(CATALOG, cases, [[5, 3], [0]], loss="mnrl", history_items=2, seed=0)
    assert labels is None and list(columns) == ["query", "positive", "negative_1", "negative_2"]
    assert columns["positive"] == ["item 2", "item 4"] and columns["negative_1"] == ["item 5", "item 0"]


def test_config_needs_fewer_negatives_than_candidates(tmp_path):
    (tmp_path / "rec.yaml").write_text("data:\n  items: items.jsonl\n  interactions: train.csv\n"
                                       "reranker:\n  candidates: 4\n  negatives: 4\n  candidats: 3\n",
                                       encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_recommend_config(tmp_path / "rec.yaml")
    assert "reranker.candidats" in str(err.value) and "candidates" in str(err.value)
    (tmp_path / "rec.yaml").write_text("data:\n  items: items.jsonl\n  interactions: train.csv\n"
                                       "reranker:\n  candidates: 4\n  negatives: 4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"negatives \(4\) must be fewer than candidates \(4\)"):
        load_recommend_config(tmp_path / "rec.yaml")
    (tmp_path / "ok.yaml").write_text("data:\n  items: items.jsonl\n  interactions: train.csv\n", encoding="utf-8")
    assert load_recommend_config(tmp_path / "ok.yaml").reranker.enabled is False


def test_a_saved_reranker_loads_with_its_weights_and_combination(tmp_path):
    model = load_cross_encoder("builtin:minilm", max_seq_length=32)
    assert model.num_labels == 1
    combination = Ranker(COMBINED, np.zeros(2), np.array([0.5, 2.0]), np.array([0.3, 1.2]))
    reranker = Reranker(model, candidates=4, history_items=2, combination=combination)
    save_reranker(tmp_path / "reranker", reranker)
    assert list((tmp_path / "reranker").glob("*.safetensors")) and not list((tmp_path / "reranker").glob("*.bin"))
    loaded = load_reranker(tmp_path / "reranker")
    assert (loaded.candidates, loaded.history_items, loaded.model.max_seq_length) == (4, 2, 32)
    assert loaded.combination.as_dict() == combination.as_dict()
    cases, items = [Case("u", [0, 1], {0, 1})], np.array([[2, 3, 4, 5]])
    assert loaded.pair_scores(CATALOG, cases, items) == pytest.approx(reranker.pair_scores(CATALOG, cases, items),
                                                                      abs=1e-5)
