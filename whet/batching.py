"""Batches bounded by a token budget as well as a sentence count.

Sentences of similar length are batched together so little compute goes to padding; a
batch holds at most ``max_sentences`` sentences and at most ``max_tokens`` padded tokens.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence


def feature_length(feature: dict) -> int:
    """Tokens a feature adds to a batch: its own "length" when it holds several sequences
    (the options of a multiple-choice question), else its input_ids."""
    return feature.get("length") or len(feature["input_ids"])


def length_grouped_batches(lengths: Sequence[int], max_sentences: int, max_tokens: int,
                           *, shuffle: bool, seed: int = 0) -> list[list[int]]:
    """Split ``range(len(lengths))`` into batches of similar length.

    With ``shuffle`` the data is shuffled, cut into buckets of ~50 batches, each bucket
    sorted by length and packed, and the batch order shuffled: batches differ from epoch
    to epoch (pass a different seed) while padding stays low. Without it, sentences are
    packed in length order (evaluation and prediction).
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
        longest = 0
        for index in bucket_order:
            longest_if_added = max(longest, lengths[index])
            if batch and (len(batch) >= max_sentences or longest_if_added * (len(batch) + 1) > max_tokens):
                batches.append(batch)
                batch, longest_if_added = [], lengths[index]
            batch.append(index)
            longest = longest_if_added
        if batch:
            batches.append(batch)
    if shuffle:
        rng.shuffle(batches)
    return batches


class TokenBudgetBatchSampler:
    """A batch sampler over features, new batches each epoch, resumable mid-epoch.

    ``set_epoch(epoch, skip)`` picks the epoch's batches (seeded by ``seed`` and the epoch,
    so a resumed run sees exactly the batches the interrupted run would have) and skips the
    first ``skip`` of them. ``rank``/``world_size`` give each process every world_size-th batch.
    """

    def __init__(self, lengths: Sequence[int], max_sentences: int, max_tokens: int, *, shuffle: bool = True,
                 seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.lengths = list(lengths)
        self.max_sentences = max_sentences
        self.max_tokens = max_tokens
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.set_epoch(0)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        batches = length_grouped_batches(self.lengths, self.max_sentences, self.max_tokens,
                                         shuffle=self.shuffle, seed=self.seed * 1000 + epoch)
        # Every process must take the same number of steps: drop the ragged tail of batches.
        usable = len(batches) - len(batches) % self.world_size if self.world_size > 1 else len(batches)
        self.epoch_batches = batches[self.rank:usable:self.world_size]
        self.skip = skip

    def __len__(self) -> int:
        return len(self.epoch_batches) - self.skip

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches[self.skip:]
