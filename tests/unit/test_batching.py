from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from whet.batching import TokenBudgetBatchSampler, length_grouped_batches


@given(st.lists(st.integers(1, 64), min_size=1, max_size=300), st.integers(1, 16), st.integers(64, 512),
       st.booleans(), st.integers(0, 5))
@settings(max_examples=200, deadline=None)
def test_batches_hold_every_index_once_within_budget(lengths, max_sentences, max_tokens, shuffle, seed):
    batches = length_grouped_batches(lengths, max_sentences, max_tokens, shuffle=shuffle, seed=seed)
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= max_sentences
        # a single over-long sentence still forms a batch of its own
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= max_tokens


def test_length_grouping_reduces_padding():
    import random

    rng = random.Random(0)
    lengths = [rng.randint(5, 120) for _ in range(2000)]
    batches = length_grouped_batches(lengths, 32, 10**9, shuffle=True, seed=1)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    naive = sum(max(lengths[i] for i in lengths_chunk) * len(lengths_chunk)
                for lengths_chunk in [list(range(k, min(k + 32, 2000))) for k in range(0, 2000, 32)])
    assert padded < 0.7 * naive


def test_sampler_epochs_differ_repeat_and_resume():
    lengths = [(i * 7) % 50 + 1 for i in range(500)]
    sampler = TokenBudgetBatchSampler(lengths, 16, 400, seed=3)
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert first != second
    sampler.set_epoch(0)
    assert list(sampler) == first
    sampler.set_epoch(0, skip=5)
    assert list(sampler) == first[5:] and len(sampler) == len(first) - 5


def test_sampler_shards_batches_between_processes():
    lengths = [(i * 13) % 40 + 1 for i in range(301)]
    whole = TokenBudgetBatchSampler(lengths, 8, 200, seed=0)
    ranks = [TokenBudgetBatchSampler(lengths, 8, 200, seed=0, rank=r, world_size=2) for r in range(2)]
    assert len(list(ranks[0])) == len(list(ranks[1]))
    together = sorted(tuple(b) for r in ranks for b in r)
    assert set(together) <= {tuple(b) for b in whole}
    assert len(together) >= len(list(whole)) - 1
