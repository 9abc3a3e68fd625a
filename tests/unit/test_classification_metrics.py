"""Classification metrics against brute-force counting with scikit-learn's definitions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whet.metrics.classification import (
    averages,
    classification_report,
    label_table,
    multilabel_report,
    per_class_prf,
)

LABELS = ["a", "b", "c"]


# -- Reference: scikit-learn's definitions, spelled out one count at a time. ----------------


def ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def reference_row(tp: int, fp: int, fn: int) -> dict:
    return {
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "support": tp + fn,
    }


def reference_single(gold: list[str], pred: list[str], labels: list[str]) -> dict[str, dict]:
    rows = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred) if g == label and p != label)
        rows[label] = reference_row(tp, fp, fn)
    return rows


def reference_multi(gold: list[set[str]], pred: list[set[str]], labels: list[str]) -> dict[str, dict]:
    rows = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred) if label in g and label in p)
        fp = sum(1 for g, p in zip(gold, pred) if label not in g and label in p)
        fn = sum(1 for g, p in zip(gold, pred) if label in g and label not in p)
        rows[label] = reference_row(tp, fp, fn)
    return rows


def reference_averages(rows: dict[str, dict]) -> tuple[dict, dict]:
    total = sum(r["support"] for r in rows.values())
    macro = {k: sum(r[k] for r in rows.values()) / len(rows) for k in ("precision", "recall", "f1")}
    if total:
        weighted = {k: sum(r[k] * r["support"] for r in rows.values()) / total for k in macro}
    else:
        weighted = dict(macro)  # scikit-learn's fallback when every weight is zero
    return {**macro, "support": total}, {**weighted, "support": total}


def approx_rows(rows: dict[str, dict]) -> dict:
    return {name: pytest.approx(row, rel=1e-12, abs=1e-12) for name, row in rows.items()}


# -- Single label. -----------------------------------------------------------------------

single_label_data = st.integers(1, 30).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from("abcd"), min_size=n, max_size=n),
        st.lists(st.sampled_from("abcd"), min_size=n, max_size=n),
    )
)


@settings(max_examples=200, deadline=None)
@given(single_label_data, st.permutations(LABELS))
def test_classification_report_matches_brute_force(data, labels):
    gold, pred = data
    report = classification_report(gold, pred, labels)
    # "d" is outside the given labels; if it occurs it is appended, never dropped.
    expected_labels = labels + (["d"] if "d" in gold or "d" in pred else [])
    assert report["labels"] == expected_labels
    assert report["per_class"] == approx_rows(reference_single(gold, pred, expected_labels))
    macro, weighted = reference_averages(reference_single(gold, pred, expected_labels))
    assert report["macro"] == pytest.approx(macro, rel=1e-12)
    assert report["weighted"] == pytest.approx(weighted, rel=1e-12)
    assert report["accuracy"] == sum(g == p for g, p in zip(gold, pred)) / len(gold)
    assert report["samples"] == len(gold)
    pairs = list(zip(gold, pred))
    assert report["confusion_matrix"] == [[pairs.count((x, y)) for y in expected_labels] for x in expected_labels]


@settings(max_examples=100, deadline=None)
@given(single_label_data)
def test_per_class_prf_counts_labels_outside_the_list_as_errors(data):
    gold, pred = data
    assert per_class_prf(gold, pred, LABELS) == approx_rows(reference_single(gold, pred, LABELS))


def test_hand_worked_single_label_example():
    gold = ["cat", "cat", "cat", "dog", "dog", "bird"]
    pred = ["cat", "cat", "dog", "dog", "cat", "dog"]
    report = classification_report(gold, pred, ["cat", "dog", "bird"])
    # cat: tp 2, fp 1, fn 1; dog: tp 1, fp 2, fn 1; bird: tp 0, fp 0, fn 1.
    assert report["per_class"]["cat"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert report["per_class"]["dog"] == pytest.approx({"precision": 1 / 3, "recall": 1 / 2, "f1": 2 / 5, "support": 2})
    assert report["per_class"]["bird"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["accuracy"] == pytest.approx(3 / 6)
    assert report["macro"]["f1"] == pytest.approx((2 / 3 + 2 / 5 + 0) / 3)
    assert report["weighted"]["f1"] == pytest.approx((3 * 2 / 3 + 2 * 2 / 5) / 6)
    assert report["confusion_matrix"] == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]


def test_gold_label_unseen_in_training_is_appended_and_counted_wrong():
    report = classification_report(["pos", "neg", "neutral"], ["pos", "neg", "pos"], ["pos", "neg"])
    assert report["labels"] == ["pos", "neg", "neutral"]
    assert report["per_class"]["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["confusion_matrix"][2] == [1, 0, 0]
    assert report["accuracy"] == pytest.approx(2 / 3)


def test_labels_without_examples_still_get_a_row_as_in_scikit_learn():
    report = classification_report(["a", "a"], ["a", "a"], ["a", "b"])
    assert report["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert report["macro"]["f1"] == 0.5
    assert report["weighted"]["f1"] == 1.0


def test_label_table_has_no_confusion_matrix():
    table = label_table(["x", "y"], ["x", "x"], ["x", "y"])
    assert set(table) == {"labels", "per_class", "accuracy", "macro", "weighted", "samples"}


def test_averages_of_no_rows_are_zero():
    assert averages({}) == {
        "macro": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "weighted": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
    }


@pytest.mark.parametrize(
    ("gold", "pred", "labels", "message"),
    [
        (["a"], ["a", "b"], ["a"], "gold has 1 examples but pred has 2"),
        ([], [], ["a"], "no examples to evaluate"),
        (["a"], ["a"], ["a", "b", "a"], "labels must be unique; repeated: 'a'"),
    ],
)
def test_bad_input_is_rejected(gold, pred, labels, message):
    with pytest.raises(ValueError, match=message):
        classification_report(gold, pred, labels)


# -- Multi label. ------------------------------------------------------------------------

label_sets = st.sets(st.sampled_from("wxyz"), max_size=3)
multi_label_data = st.integers(1, 20).flatmap(
    lambda n: st.tuples(
        st.lists(label_sets, min_size=n, max_size=n),
        st.lists(label_sets, min_size=n, max_size=n),
    )
)


@settings(max_examples=100, deadline=None)
@given(multi_label_data)
def test_multilabel_report_matches_brute_force(data):
    gold, pred = data
    report = multilabel_report(gold, pred, ["x", "w", "y"])
    expected_labels = ["x", "w", "y"] + (["z"] if any("z" in s for s in gold + pred) else [])
    assert report["labels"] == expected_labels
    rows = reference_multi(gold, pred, expected_labels)
    assert report["per_class"] == approx_rows(rows)
    macro, weighted = reference_averages(rows)
    assert report["macro"] == pytest.approx(macro, rel=1e-12)
    assert report["weighted"] == pytest.approx(weighted, rel=1e-12)
    tp = sum(len(g & p) for g, p in zip(gold, pred))
    fp = sum(len(p - g) for g, p in zip(gold, pred))
    fn = sum(len(g - p) for g, p in zip(gold, pred))
    assert report["micro"] == pytest.approx(reference_row(tp, fp, fn), rel=1e-12)
    assert report["subset_accuracy"] == sum(g == p for g, p in zip(gold, pred)) / len(gold)
    assert report["samples"] == len(gold)


def test_hand_worked_multilabel_example():
    gold = [{"sports"}, {"sports", "politics"}, set()]
    pred = [{"sports"}, {"politics"}, {"tech"}]
    report = multilabel_report(gold, pred, ["sports", "politics", "tech"])
    assert report["per_class"]["sports"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert report["per_class"]["tech"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # tp 2 (sports, politics), fp 1 (tech), fn 1 (sports).
    assert report["micro"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert report["subset_accuracy"] == pytest.approx(1 / 3)
    assert report["samples"] == 3


def test_multilabel_without_gold_labels_falls_back_to_macro_weights():
    report = multilabel_report([set(), set()], [{"a"}, set()], ["a", "b"])
    assert report["weighted"] == report["macro"]
    assert report["subset_accuracy"] == 0.5


# -- Cross-check with scikit-learn itself, where it happens to be installed. ---------------


@settings(max_examples=25, deadline=None)
@given(single_label_data, multi_label_data)
def test_agrees_with_scikit_learn_when_available(single, multi):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    gold, pred = single
    labels = classification_report(gold, pred, LABELS)["labels"]
    theirs = sklearn_metrics.classification_report(gold, pred, labels=labels, output_dict=True, zero_division=0)
    ours = classification_report(gold, pred, LABELS)
    for label in labels:
        assert ours["per_class"][label]["f1"] == pytest.approx(theirs[label]["f1-score"], rel=1e-12)
    assert ours["macro"]["f1"] == pytest.approx(theirs["macro avg"]["f1-score"], rel=1e-12)
    assert ours["weighted"]["precision"] == pytest.approx(theirs["weighted avg"]["precision"], rel=1e-12)

    gold_sets, pred_sets = multi
    ours = multilabel_report(gold_sets, pred_sets, ["w", "x", "y", "z"])
    binarize = lambda sets: [[int(x in s) for x in "wxyz"] for s in sets]  # noqa: E731
    for average in ("micro", "macro", "weighted"):
        p, r, f, _ = sklearn_metrics.precision_recall_fscore_support(
            binarize(gold_sets), binarize(pred_sets), average=average, zero_division=0
        )
        row = ours[average]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p, r, f), rel=1e-12)
    accuracy = sklearn_metrics.accuracy_score(binarize(gold_sets), binarize(pred_sets))
    assert ours["subset_accuracy"] == pytest.approx(accuracy)
