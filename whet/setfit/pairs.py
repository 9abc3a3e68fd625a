"""Sentence pairs for contrastive fine-tuning, drawn from a few labelled examples (SetFit).

Each iteration gives every example one positive partner (same label, similarity target 1)
and one negative partner (another label, target 0), as in Tunstall et al. (2022): with k
examples per class and C classes, ``iterations`` yields 2 * iterations * k * C pairs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class SentencePair:
    first: str
    second: str
    similarity: float  # 1.0: same label, 0.0: different labels


def contrastive_pairs(texts: list[str], labels: list[int], iterations: int, seed: int) -> list[SentencePair]:
    """Positive and negative pairs for every example, ``iterations`` times over, shuffled."""
    rng = random.Random(seed)
    by_label: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    pairs = []
    for _ in range(iterations):
        for index, label in enumerate(labels):
            # The example itself is a positive partner only when it is its label's sole example.
            same = [i for i in by_label[label] if i != index] or [index]
            pairs.append(SentencePair(texts[index], texts[rng.choice(same)], 1.0))
            if len(by_label) > 1:
                pairs.append(SentencePair(texts[index], texts[_other_label(labels, label, rng)], 0.0))
    rng.shuffle(pairs)
    return pairs


def _other_label(labels: list[int], label: int, rng: random.Random) -> int:
    # Rejection sampling: a few draws on average, where listing the other examples would cost
    # O(examples) for every pair.
    while True:
        index = rng.randrange(len(labels))
        if labels[index] != label:
            return index
