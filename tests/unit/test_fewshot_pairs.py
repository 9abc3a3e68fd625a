"""Few-shot data: k examples per class, and the contrastive pairs SetFit learns from."""

from __future__ import annotations

from collections import Counter

import pytest

from whet.data.examples import TextExample
from whet.errors import DataError
from whet.setfit.pairs import contrastive_pairs
from whet.setfit.shots import sample_per_class


def examples(counts: dict[str, int]) -> list[TextExample]:
    return [TextExample(text=f"{label} {i}", labels=[label]) for label, n in counts.items() for i in range(n)]


def test_k_per_class_is_reproducible_and_keeps_file_order():
    data = examples({"a": 5, "b": 3, "c": 8})
    first = sample_per_class(data, 3, seed=1, source="train.jsonl", setting="shots")
    assert Counter(ex.labels[0] for ex in first) == {"a": 3, "b": 3, "c": 3}
    assert first == sample_per_class(data, 3, seed=1, source="train.jsonl", setting="shots")
    assert first == sorted(first, key=data.index)
    assert first != sample_per_class(data, 3, seed=2, source="train.jsonl", setting="shots")


def test_k_larger_than_a_class_names_the_classes_and_the_fix():
    with pytest.raises(DataError, match=r"train\.jsonl: method\.fewshot\.shots is 4 but 2 label\(s\) have fewer "
                                        r"examples: 'b' \(2\), 'c' \(3\); lower method\.fewshot\.shots to at most 2"):
        sample_per_class(examples({"a": 5, "b": 2, "c": 3}), 4, seed=0, source="train.jsonl",
                         setting="method.fewshot.shots")


def test_each_iteration_gives_every_example_a_positive_and_a_negative_partner():
    texts = ["a0", "a1", "b0", "b1", "c0"]
    labels = [0, 0, 1, 1, 2]
    pairs = contrastive_pairs(texts, labels, iterations=3, seed=0)
    assert len(pairs) == 2 * 3 * len(texts)
    label_of = dict(zip(texts, labels))
    for pair in pairs:
        assert (label_of[pair.first] == label_of[pair.second]) == (pair.similarity == 1.0)
    # The lone example of class 2 is its own positive partner; others never are.
    assert all(pair.first != pair.second for pair in pairs if pair.first != "c0")
    assert Counter(pair.first for pair in pairs) == {text: 6 for text in texts}
    assert pairs == contrastive_pairs(texts, labels, iterations=3, seed=0)
