"""The training loop as a generator: it trains and evaluates, and the caller decides the rest.

``training_steps`` yields a ``StepEvent`` after every optimizer step. Early stopping,
checkpoints, logging and interruption live in the caller (``whet.training.fit``), not in
flags here, so the loop reads top to bottom in one sitting.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from whet.data.token_batches import TokenBudgetBatchSampler
from whet.models.inference import autocast, move_to, model_inputs
from whet.training.adversarial import TrainPass, plain_pass
from whet.tasks.base import LOWER_IS_BETTER


def training_attention(device: torch.device) -> contextlib.AbstractContextManager:
    """On a CPU, attention trains through torch's unfused kernels (products and softmax), the path
    it takes anyway whenever attention dropout is on: with dropout off its fused CPU attention is
    chosen, and that kernel's backward pass made a bf16 training step 1.2-1.4x slower
    (benchmarks/profile_train.py). Evaluation keeps the fused kernel, faster for inference."""
    if device.type != "cpu":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])


@dataclass
class LoopState:
    """Where the loop is; saved in checkpoints so a resumed run continues exactly."""

    epoch: int = 0
    batch: int = 0  # batches of ``epoch`` already trained on
    step: int = 0  # optimizer steps taken
    sentences: int = 0
    best_score: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    history: list[dict] = field(default_factory=list)


@dataclass
class StepEvent:
    step: int
    epoch: float
    loss: float  # mean training loss since the last event
    sentences_per_second: float
    metrics: dict[str, float] | None = None  # dev metrics when this step evaluated
    is_best: bool = False
    epoch_end: bool = False  # the step that finished an epoch


def improved(score: float, best: float | None, metric: str,
             lower_is_better: Collection[str] = LOWER_IS_BETTER) -> bool:
    if best is None:
        return True
    return score < best if metric in lower_is_better else score > best


def training_steps(*, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any, accelerator: Any,
                   loader: torch.utils.data.DataLoader, sampler: TokenBudgetBatchSampler, state: LoopState,
                   epochs: int, max_steps: int | None, grad_accum: int, max_grad_norm: float | None,
                   evaluate: Callable[[], dict[str, float]], eval_every: int | str | None, metric: str,
                   lower_is_better: Collection[str] = LOWER_IS_BETTER,
                   precision: str = "fp32", after_step: Callable[[int], None] | None = None,
                   batch_loss: Callable[[Any, dict], torch.Tensor] | None = None,
                   train_pass: TrainPass = plain_pass) -> Iterator[StepEvent]:
    """Train for ``epochs``, or for ``max_steps`` when given however many epochs that takes,
    yielding after every optimizer step.

    ``after_step(step)`` runs after each optimizer step while the gradients are still there
    (a method's own per-step work, e.g. AdaLoRA's rank allocation); ``step`` counts from 0.
    ``batch_loss(model, batch)`` replaces the model's own loss when given (continual-learning
    strategies add penalties and label masks there, R-Drop a second pass).
    ``train_pass`` runs a batch's forward and backward passes (``whet.training.adversarial``:
    one of each, or an adversarial method's several) and returns the loss to report.
    ``eval_every``: steps between dev evaluations, None for each epoch's end, ``"end"`` for none
    before the last step; the last step is evaluated in every case.
    """
    device = accelerator.device
    loss_of = batch_loss or (lambda model, batch: model(**model_inputs(batch)).loss)

    def backward(loss: torch.Tensor) -> None:
        accelerator.backward(loss / grad_accum)

    started = time.perf_counter()
    sentences_at_start = state.sentences
    loss_sum, loss_batches = 0.0, 0
    total_steps = max_steps or math.inf
    epochs = math.inf if max_steps else epochs  # max_steps overrides epochs: as many passes as it takes
    model.train()
    while state.epoch < epochs and state.step < total_steps:
        sampler.set_epoch(state.epoch, skip=state.batch)
        batches_in_epoch = len(sampler.epoch_batches)
        for batch in loader:
            state.batch += 1
            last_of_epoch = state.batch == batches_in_epoch
            stepping = state.batch % grad_accum == 0 or last_of_epoch
            state.sentences += sampler.sentences_in(state.batch - 1)
            batch = move_to(batch, device)
            # Gradients of non-stepping micro-batches are summed locally, without a DDP all-reduce;
            # a pass with several backward passes keeps all but its last local too (``quiet``).
            with (accelerator.no_sync(model) if not stepping else contextlib.nullcontext(), autocast(device, precision),
                  training_attention(device)):
                loss = train_pass(model, batch, loss_of, backward, lambda: accelerator.no_sync(model))
            loss_sum += float(loss.detach())
            loss_batches += 1
            if not stepping:
                continue
            if max_grad_norm is not None:
                accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            if after_step is not None:
                after_step(state.step)
            optimizer.zero_grad(set_to_none=True)
            state.step += 1

            done = state.step >= total_steps or (last_of_epoch and state.epoch + 1 >= epochs)
            evaluate_now = done or (last_of_epoch and eval_every is None) or (
                isinstance(eval_every, int) and state.step % eval_every == 0)
            metrics, is_best = None, False
            if evaluate_now:
                metrics = evaluate()
                is_best = improved(metrics[metric], state.best_score, metric, lower_is_better)
                if is_best:
                    state.best_score, state.best_step = metrics[metric], state.step
                    state.evals_without_improvement = 0
                else:
                    state.evals_without_improvement += 1
                model.train()
            elapsed = time.perf_counter() - started
            epoch_progress = state.epoch + state.batch / batches_in_epoch
            yield StepEvent(step=state.step, epoch=epoch_progress, loss=loss_sum / max(loss_batches, 1),
                            sentences_per_second=(state.sentences - sentences_at_start) / max(elapsed, 1e-9),
                            metrics=metrics, is_best=is_best, epoch_end=last_of_epoch)
            loss_sum, loss_batches = 0.0, 0
            if done:
                if last_of_epoch:  # as the end of the epoch below would leave it
                    state.epoch, state.batch = state.epoch + 1, 0
                return
        state.epoch += 1
        state.batch = 0

