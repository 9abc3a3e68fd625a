"""The training data as one process's batches, and the optimizer steps they make.

The steps are counted here, once, before the model is built: a method may need them
(AdaLoRA's rank schedule), and the learning-rate schedule does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from whet.config import TrainingConfig
from whet.data.token_batches import TokenBudgetBatchSampler, feature_length, feature_sentences


@dataclass
class TrainingBatches:
    sampler: TokenBudgetBatchSampler  # length-grouped, token-budget batches, new each epoch, resumable mid-epoch
    loader: torch.utils.data.DataLoader
    steps: int  # optimizer steps of the whole run


def training_batches(features: list[dict], collate: Callable[[list[dict]], dict], training: TrainingConfig, *,
                     rank: int = 0, world_size: int = 1) -> TrainingBatches:
    """The batches of process ``rank`` of ``world_size``; every process takes the same number of steps."""
    from torch.utils.data import DataLoader

    sampler = TokenBudgetBatchSampler([feature_length(f) for f in features], training.batch_size,
                                      training.max_tokens, shuffle=True, seed=training.seed, rank=rank,
                                      world_size=world_size, sentences=[feature_sentences(f) for f in features])
    # Its own generator: a DataLoader iterator otherwise draws from the global RNG when created,
    # which would shift the dropout masks of a run resumed mid-epoch.
    loader = DataLoader(features, batch_sampler=sampler, collate_fn=collate, generator=torch.Generator())
    return TrainingBatches(sampler=sampler, loader=loader, steps=training.max_steps or run_steps(sampler, training))


def run_steps(sampler: TokenBudgetBatchSampler, training: TrainingConfig) -> int:
    """Optimizer steps over all epochs, counted from each epoch's own batches: their number varies
    a little from epoch to epoch (the token budget, passages of several sentences), and the
    learning-rate schedule should end on the last step."""
    steps = 0
    for epoch in range(training.epochs):
        sampler.set_epoch(epoch)
        steps += math.ceil(len(sampler.epoch_batches) / training.grad_accum)
    sampler.set_epoch(0)
    return steps
