from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from whet.data.token_batches import TokenBudgetBatchSampler, length_grouped_batches, padding_aware_batches


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


def pass_cost(batches, lengths, overhead):
    return sum(overhead + len(b) * max(lengths[i] for i in b) for b in batches)


def cheapest_cut_by_enumeration(lengths, max_sentences, max_tokens, overhead):
    """Every way to cut the length-sorted list into consecutive batches, the cheapest."""
    ordered = sorted(lengths)
    n = len(ordered)
    best = None
    for mask in range(1 << (n - 1)):
        bounds = [0] + [i + 1 for i in range(n - 1) if mask >> i & 1] + [n]
        parts = [ordered[a:b] for a, b in zip(bounds, bounds[1:])]
        if any(len(p) > max_sentences or (len(p) > 1 and len(p) * p[-1] > max_tokens) for p in parts):
            continue
        cost = sum(overhead + len(p) * p[-1] for p in parts)
        best = cost if best is None else min(best, cost)
    return best


@given(st.lists(st.integers(1, 64), min_size=1, max_size=300), st.integers(1, 16), st.integers(64, 512),
       st.integers(0, 200))
@settings(max_examples=200, deadline=None)
def test_padding_aware_batches_hold_every_index_once_within_budget(lengths, max_sentences, max_tokens, overhead):
    batches = padding_aware_batches(lengths, max_sentences, max_tokens, overhead_tokens=overhead)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= max_sentences
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= max_tokens
    # never costlier than packing full batches in length order
    greedy = length_grouped_batches(lengths, max_sentences, max_tokens, shuffle=False)
    assert pass_cost(batches, lengths, overhead) <= pass_cost(greedy, lengths, overhead)


@given(st.lists(st.integers(1, 40), min_size=1, max_size=11), st.integers(1, 6), st.integers(40, 200),
       st.integers(0, 80))
@settings(max_examples=150, deadline=None)
def test_padding_aware_batches_are_the_cheapest_cut(lengths, max_sentences, max_tokens, overhead):
    batches = padding_aware_batches(lengths, max_sentences, max_tokens, overhead_tokens=overhead)
    assert pass_cost(batches, lengths, overhead) == cheapest_cut_by_enumeration(lengths, max_sentences, max_tokens,
                                                                                  overhead)


def test_padding_aware_batches_cut_a_wide_batch_and_keep_a_narrow_one():
    wide = [8] * 10 + [60] * 10  # one pass pads 20 x 60 = 1200 tokens; two passes 80 + 600
    assert sorted(map(len, padding_aware_batches(wide, 64, 10**6, overhead_tokens=48))) == [10, 10]
    assert len(padding_aware_batches(wide, 64, 10**6, overhead_tokens=10**4)) == 1  # a pass too dear to add
    narrow = [20] * 20 + [21] * 20
    assert len(padding_aware_batches(narrow, 64, 10**6, overhead_tokens=48)) == 1


def test_under_bf16_on_a_cpu_a_server_batch_of_short_texts_stays_one_pass():
    import torch

    from whet.models.inference import batch_overhead_tokens

    cpu = torch.device("cpu")
    lengths = list(range(7, 26)) * 2  # a batch of the demo queries' lengths, in tokens
    assert len(padding_aware_batches(lengths, 64, 10**6, overhead_tokens=batch_overhead_tokens(cpu, "fp32"))) > 1
    assert len(padding_aware_batches(lengths, 64, 10**6, overhead_tokens=batch_overhead_tokens(cpu, "bf16"))) == 1


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
