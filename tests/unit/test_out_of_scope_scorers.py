"""Out-of-scope detection: threshold choice and figures on hand-made scores, each scorer on
synthetic outputs, and the detector saved with a model and loaded again."""

from __future__ import annotations

import json

import numpy as np
import pytest

from whet.config import validation_problems
from whet.metrics.out_of_scope import choose_threshold, fpr_at_recall, out_of_scope_metrics
from whet.models.out_of_scope import (SCORERS, Detector, ExampleOutputs, fit_detector, load_detector, save_detector,
                                      score)


# -- threshold ----------------------------------------------------------------------------------
def test_threshold_maximises_oos_f1_when_dev_has_oos_texts():
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    is_oos = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    # Flagging the top 1..6: F1 = 2TP / (flagged + 3) = 0.5, 0.8, 0.667, 0.857, 0.75, 0.667.
    choice = choose_threshold(scores, is_oos)
    assert choice.rule == "oos_f1"
    assert choice.threshold == 0.2
    assert list(scores > choice.threshold) == [True, True, True, True, False, False]
    assert (choice.in_scope, choice.out_of_scope) == (3, 3)


def test_threshold_keeps_ties_together_and_can_flag_everything():
    # Flagging 0.9 alone gives F1 0.667, both 0.5s as well 0.857 (one in-scope text shares the score).
    choice = choose_threshold(np.array([0.9, 0.5, 0.5, 0.5]), np.array([1, 1, 1, 0], dtype=bool))
    assert choice.threshold < 0.5 and choice.threshold >= 0.0
    # The only OOS text scores lowest: flagging everything is best, the threshold goes below it.
    everything = choose_threshold(np.array([0.5, 0.1]), np.array([False, True]))
    assert everything.threshold < 0.1


def test_threshold_keeps_target_recall_without_oos_texts():
    scores = np.arange(1.0, 21.0)  # 20 in-scope texts
    choice = choose_threshold(scores, np.zeros(20, dtype=bool), target_recall=0.95)
    assert choice.rule == "in_scope_recall"
    assert choice.threshold == 19.0  # 19 of 20 kept at or below it
    assert (scores <= choice.threshold).mean() == 0.95
    assert choose_threshold(scores, np.zeros(20, dtype=bool), target_recall=0.5).threshold == 10.0


def test_threshold_needs_in_scope_texts():
    with pytest.raises(ValueError, match="all out of scope"):
        choose_threshold(np.array([0.1, 0.2]), np.array([True, True]))


# -- figures ------------------------------------------------------------------------------------
def test_figures_on_hand_made_scores():
    scores = np.array([0.9, 0.6, 0.8, 0.1, 0.2])
    is_oos = np.array([True, True, False, False, False])
    correct = np.array([False, False, True, True, False])
    figures = out_of_scope_metrics(scores, 0.5, is_oos, correct)
    # Flagged: 0.9, 0.6 (both OOS) and 0.8 (in scope, correct): in scope 1 of 3 correct and kept.
    assert figures["in_scope_accuracy"] == pytest.approx(1 / 3)
    assert figures["in_scope_flagged"] == pytest.approx(1 / 3)
    assert (figures["oos_precision"], figures["oos_recall"]) == (pytest.approx(2 / 3), 1.0)
    assert figures["oos_f1"] == pytest.approx(0.8)
    # OOS over in-scope pairs ranked right: 0.9 beats all 3, 0.6 beats 0.1 and 0.2: 5 of 6.
    assert figures["auroc"] == pytest.approx(5 / 6)
    # Keeping 95 % of 3 in-scope texts keeps all 3 (threshold 0.8): OOS 0.6 stays in scope.
    assert figures["fpr_at_95"] == pytest.approx(0.5)


def test_figures_match_sklearn_on_random_scores():
    from sklearn.metrics import f1_score, roc_auc_score, roc_curve

    rng = np.random.default_rng(0)
    is_oos = rng.random(400) < 0.2
    scores = rng.normal(size=400) + 1.5 * is_oos
    figures = out_of_scope_metrics(scores, 0.7, is_oos, np.ones(400, dtype=bool))
    assert figures["auroc"] == pytest.approx(roc_auc_score(is_oos, scores))
    assert figures["oos_f1"] == pytest.approx(f1_score(is_oos, scores > 0.7))
    # FPR@95 with in-scope positive: the share of OOS texts kept where 95 % of in-scope texts are.
    fpr, tpr, _ = roc_curve(~is_oos, -scores)
    assert fpr_at_recall(scores, is_oos) == pytest.approx(fpr[np.searchsorted(tpr, 0.95)])


def test_figures_without_oos_texts_leave_out_oos_figures():
    figures = out_of_scope_metrics(np.array([0.1, 0.9]), 0.5, np.array([False, False]), np.array([True, True]))
    assert figures["in_scope_accuracy"] == 0.5
    assert "auroc" not in figures


# -- scorers ------------------------------------------------------------------------------------
def _clusters(rng: np.random.Generator, n: int, centres: np.ndarray, spread: float = 0.1) -> np.ndarray:
    return centres[np.arange(n) % len(centres)] + spread * rng.normal(size=(n, centres.shape[1]))


@pytest.mark.parametrize("scorer", SCORERS)
def test_each_scorer_puts_far_texts_above_near_ones(scorer):
    rng = np.random.default_rng(1)
    centres = np.eye(8)[:4] * 3.0  # four classes on four axes
    train = _clusters(rng, 80, centres)
    train_gold = [f"c{i % 4}" for i in range(80)]
    near = _clusters(rng, 20, centres)
    far = rng.normal(size=(20, 8)) * 0.3 - np.eye(8)[5] * 3.0  # on an axis no class uses
    # Logits as a head on these features would give them: peaked for near texts, flat and small for far ones.
    logits = np.vstack([near @ centres.T * 2, far @ centres.T * 2])
    outputs = ExampleOutputs(logits=logits, features=np.vstack([near, far]))
    detector = fit_detector(scorer, ["c0", "c1", "c2", "c3"], outputs, ["c0"] * 20 + ["oos"] * 20,
                            train=ExampleOutputs(logits=train @ centres.T, features=train), train_gold=train_gold, k=3)
    scores = detector.scores(outputs)
    assert scores[20:].min() > scores[:20].max()
    assert detector.fitted["dev"]["auroc"] == 1.0
    assert detector.fitted["dev"]["oos_recall"] == 1.0 and detector.fitted["dev"]["oos_precision"] == 1.0


def test_knn_score_is_the_kth_cosine_distance():
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    query = ExampleOutputs(logits=np.zeros((1, 2)), features=np.array([[2.0, 0.0]]))
    assert score("knn", query, {"train_features": bank}, k=1)[0] == pytest.approx(0.0)
    assert score("knn", query, {"train_features": bank}, k=2)[0] == pytest.approx(1.0)
    assert score("knn", query, {"train_features": bank}, k=3)[0] == pytest.approx(2.0)


def test_mahalanobis_score_matches_the_definition():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(60, 3)) + np.repeat(np.eye(3) * 4, 20, axis=0)
    detector = fit_detector("mahalanobis", ["a", "b", "c"], ExampleOutputs(np.zeros((1, 3)), features[:1]), ["a"],
                            train=ExampleOutputs(np.zeros((60, 3)), features), train_gold=["a"] * 20 + ["b"] * 20 + ["c"] * 20)
    means, precision = detector.arrays["class_means"], detector.arrays["precision"]
    centred = features - np.repeat(means, 20, axis=0)
    np.testing.assert_allclose(precision, np.linalg.inv(centred.T @ centred / 60), rtol=1e-4)
    query = np.array([1.0, 2.0, -1.0])
    expected = min(float((query - m) @ precision @ (query - m)) for m in means)
    assert detector.scores(ExampleOutputs(np.zeros((1, 3)), query[None]))[0] == pytest.approx(expected, rel=1e-4)


def test_out_of_scope_class_predictions_are_flagged_whatever_the_score():
    detector = Detector(scorer="msp", threshold=0.5, oos_label="oos")
    records = detector.relabel([{"label": "oos"}, {"label": "a"}, {"label": "a"}], np.array([0.1, 0.2, 0.7]))
    assert [r["label"] for r in records] == ["none", "a", "none"]
    assert [r.get("in_scope_label") for r in records] == ["oos", None, "a"]
    assert records[2]["out_of_scope_score"] == 0.7


# -- saved with the model -----------------------------------------------------------------------
@pytest.mark.parametrize("scorer", ["knn", "mahalanobis", "energy"])
def test_detector_saves_and_loads(tmp_path, scorer):
    rng = np.random.default_rng(3)
    train = ExampleOutputs(rng.normal(size=(30, 3)), rng.normal(size=(30, 5)))
    dev = ExampleOutputs(rng.normal(size=(10, 3)), rng.normal(size=(10, 5)))
    detector = fit_detector(scorer, ["a", "b", "c"], dev, ["a"] * 8 + ["oos"] * 2, train=train,
                            train_gold=["a", "b", "c"] * 10, none_label="unknown", k=4)
    save_detector(tmp_path, detector)
    saved = json.loads((tmp_path / "out_of_scope.json").read_text())
    assert saved["scorer"] == scorer and saved["threshold"] == detector.threshold and saved["k"] == 4
    assert (tmp_path / "out_of_scope.safetensors").exists() == (scorer != "energy")
    loaded = load_detector(tmp_path)
    assert loaded.none_label == "unknown"
    np.testing.assert_allclose(loaded.scores(dev), detector.scores(dev), rtol=1e-6)


def test_loading_without_the_arrays_names_the_fix(tmp_path):
    from whet.errors import ModelError

    (tmp_path / "out_of_scope.json").write_text(json.dumps({"scorer": "knn", "threshold": 0.3}))
    with pytest.raises(ModelError, match="no out_of_scope.safetensors; copy the whole model directory"):
        load_detector(tmp_path)
    assert load_detector(tmp_path / "elsewhere") is None


# -- config -------------------------------------------------------------------------------------
def test_config_refuses_out_of_scope_where_it_cannot_work():
    base = {"task": "sequence-classification", "data": {"train": "t.jsonl"}}
    assert validation_problems({**base, "out_of_scope": {"scorer": "knn", "k": 5}}) == []
    assert validation_problems({**base, "out_of_scope": {"scorer": "knnn"}})[0].startswith("out_of_scope.scorer:")
    assert validation_problems({**base, "out_of_scope": {"scorrer": "knn"}}) == [
        "out_of_scope.scorrer: unknown key; did you mean 'scorer'?"]
    problems = validation_problems({**base, "data": {"train": "t.jsonl", "multi_label": True},
                                    "out_of_scope": {"scorer": "msp"}})
    assert problems == ["out_of_scope.scorer: msp needs single-label sequence classification; set "
                        "out_of_scope.scorer: none"]
    assert "target_recall" in validation_problems({**base, "out_of_scope": {"target_recall": 1.5}})[0]
