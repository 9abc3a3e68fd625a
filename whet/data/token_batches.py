"""Batches bounded by a token budget as well as a sentence count.

Sentences of similar length are batched together so little compute goes to padding; a
batch holds at most ``max_sentences`` sentences and at most ``max_tokens`` padded tokens.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import numpy as np


def feature_sentences(feature: dict) -> int:
    """Sentences a feature adds to a batch: more than one for a passage of joined sentences."""
    return feature.get("sentences", 1)


def feature_length(feature: dict) -> int:
    """Tokens a feature adds to a batch: its own "length" when it holds several sequences
    (the options of a multiple-choice question), else its input_ids."""
    return feature.get("length") or len(feature["input_ids"])


def length_grouped_batches(lengths: Sequence[int], max_sentences: int, max_tokens: int,
                           *, shuffle: bool, seed: int = 0, sentences: Sequence[int] | None = None) -> list[list[int]]:
    """Split ``range(len(lengths))`` into batches of similar length.

    With ``shuffle`` the data is shuffled, cut into buckets of ~50 batches, each bucket
    sorted by length and packed, and the batch order shuffled: batches differ from epoch
    to epoch (pass a different seed) while padding stays low. Without it, sentences are
    packed in length order (evaluation and prediction). ``sentences`` counts each item's
    sentences against ``max_sentences`` (one each when not given).
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(order)
        bucket = max_sentences * 50
        buckets = [sorted(order[i:i + bucket], key=lengths.__getitem__) for i in range(0, len(order), bucket)]
    else:
        buckets = [sorted(order, key=lengths.__getitem__)]
    batches = []
    for bucket_order in buckets:
        batch: list[int] = []
        longest = count = 0
        for index in bucket_order:
            longest_if_added = max(longest, lengths[index])
            size = sentences[index] if sentences is not None else 1
            if batch and (count + size > max_sentences or longest_if_added * (len(batch) + 1) > max_tokens):
                batches.append(batch)
                batch, longest_if_added, count = [], lengths[index], 0
            batch.append(index)
            longest = longest_if_added
            count += size
        if batch:
            batches.append(batch)
    if shuffle:
        rng.shuffle(batches)
    return batches


def padding_aware_batches(lengths: Sequence[int], max_sentences: int, max_tokens: int,
                          *, overhead_tokens: int) -> list[list[int]]:
    """Split ``range(len(lengths))`` into batches in length order at the cheapest cut points.

    A forward pass costs about ``overhead_tokens`` (reading the weights, launching the
    operations) plus its padded tokens. Packing fixed-size batches in length order still
    pads a batch of mixed lengths to its longest; this chooses how many batches and where
    to cut so that the sum of those costs is least (exact, by dynamic programming), within
    the ``max_sentences`` and ``max_tokens`` bounds. A server's batch of requests with
    lengths 7 to 25 is cut in two when the padding saved is worth one more pass; a sorted
    chunk of similar lengths stays in full batches.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    ordered = np.array([lengths[i] for i in order], dtype=np.int64)
    n = len(order)
    best = np.zeros(n + 1, dtype=np.int64)  # best[j]: least cost of the first j in length order
    cut = np.zeros(n + 1, dtype=np.int64)  # where the last batch of that solution starts
    for j in range(1, n + 1):
        longest = int(ordered[j - 1])
        fits = max(1, min(max_sentences, max_tokens // max(longest, 1)))
        starts = np.arange(max(0, j - fits), j)
        costs = best[starts] + overhead_tokens + (j - starts) * longest
        pick = int(np.argmin(costs))
        best[j], cut[j] = costs[pick], starts[pick]
    batches = []
    end = n
    while end > 0:
        start = int(cut[end])
        batches.append(order[start:end])
        end = start
    return batches[::-1]


class TokenBudgetBatchSampler:
    """A batch sampler over features, new batches each epoch, resumable mid-epoch.

    ``set_epoch(epoch, skip)`` picks the epoch's batches (seeded by ``seed`` and the epoch,
    so a resumed run sees exactly the batches the interrupted run would have) and skips the
    first ``skip`` of them. ``rank``/``world_size`` give each process every world_size-th batch.
    """

    def __init__(self, lengths: Sequence[int], max_sentences: int, max_tokens: int, *, shuffle: bool = True,
                 seed: int = 0, rank: int = 0, world_size: int = 1, sentences: Sequence[int] | None = None) -> None:
        self.lengths = list(lengths)
        self.sentences = list(sentences) if sentences is not None else None
        self.max_sentences = max_sentences
        self.max_tokens = max_tokens
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.set_epoch(0)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        batches = length_grouped_batches(self.lengths, self.max_sentences, self.max_tokens,
                                         shuffle=self.shuffle, seed=self.seed * 1000 + epoch, sentences=self.sentences)
        # Every process must take the same number of steps: drop the ragged tail of batches.
        usable = len(batches) - len(batches) % self.world_size if self.world_size > 1 else len(batches)
        self.epoch_batches = batches[self.rank:usable:self.world_size]
        self.skip = skip

    def __len__(self) -> int:
        return len(self.epoch_batches) - self.skip

    def sentences_in(self, index: int) -> int:
        """Sentences of the epoch's batch ``index``: a passage counts its joined sentences."""
        batch = self.epoch_batches[index]
        return sum(self.sentences[i] for i in batch) if self.sentences is not None else len(batch)

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches[self.skip:]
