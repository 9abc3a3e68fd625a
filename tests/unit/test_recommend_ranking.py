"""Ranking metrics, the baselines' scores, the feature ranker and the item index's checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from whet.errors import ModelError
from whet.recommend import baselines
from whet.recommend.data import Case, Catalog, Interactions
from whet.recommend.evaluation import ranking_metrics, target_ranks
from whet.recommend.index import build_index, encoder_fingerprint, load_index, remove_positions, save_index, search
from whet.recommend.ranker import feature_scores, fit_ranker, without_last_items


def test_ranks_leave_out_seen_items_but_never_the_target_and_split_ties():
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0, 0.0]])
    cases = [Case("u", [0], {0, 1}, 2), Case("v", [4], {4, 2}, 2)]
    # u: items 0 and 1 are seen, so the target is first; v: the target ties with 3 others (median place)
    assert target_ranks(scores, cases).tolist() == [1, 2]


def test_metrics_for_one_relevant_item():
    metrics = ranking_metrics(np.array([1, 3, 11]))
    assert metrics["recall@10"] == pytest.approx(2 / 3)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / 3)
    assert metrics["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 11) / 3)


INTERACTIONS = Interactions({"u1": [0, 1, 2], "u2": [0, 1], "u3": [3, 0]},
                            {"u1": {0, 1, 2}, "u2": {0, 1}, "u3": {3, 0}})


def test_popularity_cooccurrence_and_transitions_count_users():
    counts = baselines.count_items(INTERACTIONS, 4)
    case = [Case("x", [0], {0}, 1)]
    assert baselines.popularity(counts)(case)[0].tolist() == [3, 2, 1, 1]
    cooc = baselines.cooccurrence(counts, recent=1)(case)[0]
    assert np.round(cooc).tolist() == [0, 2, 1, 1]  # users who took item 0 and each other item
    assert cooc[1] > 2  # ties are broken by popularity, by a hair
    assert np.round(baselines.transitions(counts)(case)[0]).tolist() == [0, 2, 0, 0]


def test_similarity_and_recent_transitions_weigh_what_they_count():
    counts = baselines.count_items(INTERACTIONS, 4)
    case = [Case("x", [1, 0], {0, 1}, 2)]
    # item 0 with item 1: 2 users, popularities 3 and 2; with item 3: 1 user, popularities 3 and 1
    cosine = baselines.similarity(counts, recent=1)(case)[0]
    assert cosine[1] == pytest.approx(2 / math.sqrt(6), abs=1e-5) and cosine[3] == pytest.approx(1 / math.sqrt(3), abs=1e-5)
    # after item 0 came item 1 twice; after item 1 (one step further back, half weight) came item 2 once
    following = baselines.recent_transitions(counts, recent=2)(case)[0]
    assert following[1] == pytest.approx(2, abs=1e-5) and following[2] == pytest.approx(0.5, abs=1e-5)


def test_counts_roundtrip_through_safetensors(tmp_path):
    counts = baselines.count_items(INTERACTIONS, 4)
    baselines.save_counts(counts, tmp_path / "counts.safetensors")
    loaded = baselines.load_counts(tmp_path / "counts.safetensors")
    assert loaded.popularity.tolist() == counts.popularity.tolist()
    assert (loaded.together != counts.together).nnz == 0 and (loaded.following != counts.following).nnz == 0


def test_bm25_finds_the_item_sharing_words_with_the_history():
    catalog = Catalog(["a", "b", "c"], ["red apple pie", "green rocket engine", "apple orchard tour"],
                      ["red apple pie", "green rocket engine", "apple orchard tour"])
    scores = baselines.bm25(catalog, history_items=1)([Case("x", [0], {0}, 2)])[0]
    assert scores[2] > scores[1]


def test_last_items_are_held_out_for_the_ranker():
    earlier, cases = without_last_items(INTERACTIONS)
    assert earlier.sequences == {"u1": [0, 1], "u2": [0, 1], "u3": [3, 0]}
    assert [(c.user, c.history, c.target) for c in cases] == [("u1", [0, 1], 2)]
    assert 2 not in earlier.seen["u1"]


def test_ranker_learns_which_feature_finds_the_target():
    rng = np.random.default_rng(0)
    cases = [Case(str(i), [0], {0}, int(rng.integers(1, 50))) for i in range(60)]
    useful = rng.normal(size=(60, 50))
    for row, case in enumerate(cases):
        useful[row, case.target] += 4.0
    scorers = {"useful": lambda c: useful[[int(x.user) for x in c]],
               "noise": lambda c: rng.normal(size=(len(c), 50))}
    ranker = fit_ranker(list(scorers), feature_scores(scorers, cases), cases, seed=0)
    assert ranker.weights[0] > 5 * abs(ranker.weights[1])
    assert target_ranks(ranker.score(feature_scores(scorers, cases)), cases).mean() < 2


def test_exact_index_searches_removes_and_roundtrips(tmp_path):
    vectors = np.eye(4, dtype=np.float32)
    index = build_index(vectors, [0, 1, 2, 3], exact_below=100, lists=None, probe=1)
    scores, found = search(index, vectors[[2]], 2)
    assert found[0][0] == 2 and scores[0][0] == pytest.approx(1.0)
    assert remove_positions(index, [2]) == 1
    assert 2 not in search(index, vectors[[2]], 3)[1][0]
    save_index(index, tmp_path / "items.faiss")
    assert load_index(tmp_path / "items.faiss", expected_fingerprint="x", recorded_fingerprint="x", dim=4,
                      indexed=3).ntotal == 3


def test_approximate_index_above_the_threshold():
    vectors = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_index(vectors, list(range(300)), exact_below=100, lists=4, probe=4)
    assert type(index).__name__ == "IndexIVFFlat"
    assert search(index, vectors[[7]], 1)[1][0][0] == 7  # all lists probed: as exact
    assert index.reconstruct(7) == pytest.approx(vectors[7])


def test_an_index_from_another_encoder_is_refused(tmp_path):
    index = build_index(np.eye(4, dtype=np.float32), [0, 1, 2, 3], exact_below=100, lists=None, probe=1)
    save_index(index, tmp_path / "items.faiss")
    with pytest.raises(ModelError, match=r"built with other encoder weights \(sha256 aaaaaaaaaaaa, the encoder beside "
                                         r"it is bbbbbbbbbbbb\); rebuild it with whet recommend index"):
        load_index(tmp_path / "items.faiss", expected_fingerprint="b" * 64, recorded_fingerprint="a" * 64, dim=4,
                   indexed=4)
    with pytest.raises(ModelError, match=r"holds 4-dimensional vectors but the encoder makes 8"):
        load_index(tmp_path / "items.faiss", expected_fingerprint="b", recorded_fingerprint="b", dim=8, indexed=4)
    with pytest.raises(ModelError, match=r"holds 4 items but items\.jsonl lists 5 as indexed"):
        load_index(tmp_path / "items.faiss", expected_fingerprint="b", recorded_fingerprint="b", dim=4, indexed=5)


def test_fingerprint_follows_the_weights(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"one")
    first = encoder_fingerprint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"two")
    assert encoder_fingerprint(tmp_path) != first
    with pytest.raises(ModelError, match="holds no .safetensors weights"):
        encoder_fingerprint(tmp_path / "empty")


def test_category_affinity_is_the_share_of_recent_items_sharing_a_category():
    categories = [("crime",), ("crime", "history"), ("space",), (), ("history",)]
    score = baselines.category_affinity(categories, recent=2)
    rows = score([Case("u", [2, 0, 1], set(), None), Case("v", [], set(), None)])
    # the two latest items are 0 (crime) and 1 (crime, history)
    assert rows[0].tolist() == pytest.approx([1.0, 1.0, 0.0, 0.0, 0.5])
    assert rows[1].tolist() == [0.0] * 5


def test_the_ranker_takes_category_affinity_as_a_feature_when_the_catalog_has_categories():
    from whet.recommend.ranker import feature_scorers

    counts = baselines.count_items(Interactions({"u": [0, 1]}, {"u": {0, 1}}), 3)
    plain = feature_scorers(lambda cases: np.zeros((len(cases), 3)), counts, recent=5)
    with_categories = feature_scorers(lambda cases: np.zeros((len(cases), 3)), counts, recent=5,
                                      categories=[("a",), ("b",), ("a",)])
    assert "category_affinity" not in plain and list(with_categories)[-1] == "category_affinity"
    features = feature_scores(with_categories, [Case("u", [0], {0}, 2)])
    assert features.shape == (7, 1, 3) and features[-1, 0].tolist() == [1.0, 0.0, 1.0]
