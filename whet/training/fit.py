"""``fit``: the training loop (``whet.training.loop``) and what happens between its steps.

``whet train`` and every step of ``whet continual`` train through it. Each step's event goes
through a few handlers, in this order: the progress bar; the history and the trackers (every
``log_every`` steps and at every evaluation); on an evaluation the dev line, the best weights
and a checkpoint; the caller's ``on_step``; a requested stop (``STOP``, set by Ctrl-C); patience.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from collections.abc import Collection, Sequence
from typing import Any, Callable

import torch

from whet.config import TrainingConfig
from whet.errors import Interrupted
from whet.training.adversarial import adversarial_pass
from whet.training.batches import TrainingBatches
from whet.training.checkpoints import (checkpoint_paths, load_checkpoint, load_trainable_weights,
                                       save_trainable_weights, write_checkpoint)
from whet.training.dropout import cheap_dropout
from whet.training.gradient_checkpointing import disable_gradient_checkpointing, enable_gradient_checkpointing
from whet.training.interrupt import STOP, install_ctrl_c
from whet.tasks.base import LOWER_IS_BETTER
from whet.training.loop import LoopState, StepEvent, training_steps
from whet.training.optimizer import build_optimizer, linear_schedule
from whet.training.progress import TrainingProgress
from whet.training.trackers.base import Tracker

log = logging.getLogger("whet")


def fit(model: Any, batches: TrainingBatches, *, heads: list[str], evaluate: Callable[[Any], dict[str, float]],
        training: TrainingConfig, metric: str, run_dir: Path, accelerator: Any, resume: bool = False,
        on_step: Callable[[StepEvent], None] | None = None,
        batch_loss: Callable[[Any, dict], torch.Tensor] | None = None, method: Any = None,
        lower_is_better: Collection[str] = LOWER_IS_BETTER,
        trackers: Sequence[Tracker] = ()) -> tuple[Any, LoopState]:
    """Train ``model`` on ``batches``: the loop with checkpoints, logging, early stopping and Ctrl-C.

    ``heads`` names the new task head (it may train at ``training.head_lr``). ``evaluate(model)``
    gives the dev metrics; the weights that score best on ``metric`` (lowest where it is in
    ``lower_is_better``, as the task says, highest otherwise) are kept under
    ``run_dir/checkpoints/best`` and loaded back at the end. ``batch_loss(model, batch)``
    replaces the model's own loss when given (R-Drop's is ``whet.training.rdrop.rdrop_loss``);
    ``training.adversarial`` trains each batch on perturbed embeddings too. ``method`` (a ``whet.methods`` record) adds its
    per-step work and its finishing step. ``trackers`` (``whet.training.trackers.tracking``) receive
    the logged steps. Returns the unwrapped model holding the best weights,
    and the final ``LoopState``.
    """
    STOP.clear()
    main = accelerator.is_main_process
    paths = checkpoint_paths(run_dir, accelerator.process_index)
    model, optimizer, scheduler, after_step = prepare_optimisation(model, heads, training, batches.steps,
                                                                   accelerator, method)
    # The embedding module to perturb is found on the bare model; accelerate's wrapper calls the same module.
    train_pass = adversarial_pass(training.adversarial, accelerator.unwrap_model(model))
    state = LoopState()
    if resume:
        state = LoopState(**load_checkpoint(paths.last, model=accelerator.unwrap_model(model), optimizer=optimizer,
                                            scheduler=scheduler, process_rng=paths.process_rng))
        log.info("resuming at step %d (epoch %d, batch %d)", state.step, state.epoch + 1, state.batch)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)

    def checkpoint() -> None:
        write_checkpoint(paths, model=accelerator.unwrap_model(model), optimizer=optimizer, scheduler=scheduler,
                         loop_state=asdict(state))

    progress = TrainingProgress(batches.steps, start=state.step, enabled=main)
    restore_ctrl_c = install_ctrl_c()
    try:
        with progress, cheap_dropout(accelerator.unwrap_model(model), accelerator.device):
            for event in training_steps(model=model, optimizer=optimizer, scheduler=scheduler,
                                        accelerator=accelerator, loader=batches.loader, sampler=batches.sampler,
                                        state=state, epochs=training.epochs, max_steps=training.max_steps,
                                        grad_accum=training.grad_accum, max_grad_norm=training.max_grad_norm,
                                        evaluate=lambda: evaluate(accelerator.unwrap_model(model)),
                                        eval_every=training.eval_every, metric=metric, lower_is_better=lower_is_better,
                                        precision=training.precision, after_step=after_step,
                                        batch_loss=batch_loss, train_pass=train_pass):
                lr = scheduler.get_last_lr()[0]
                progress.update(event)
                if event.step % training.log_every == 0 or event.metrics is not None:
                    record_history(state.history, event, lr)
                    for tracker in trackers:
                        tracker.log_step(event, lr)
                if event.metrics is not None:
                    progress.log(dev_line(event))
                    if event.is_best and main:
                        save_trainable_weights(paths.best, accelerator.unwrap_model(model))
                # A run evaluated rarely (eval_every end, or more steps than an epoch) can still resume
                # from the last epoch after a crash.
                if event.metrics is not None or event.epoch_end:
                    checkpoint()
                if on_step:
                    on_step(event)
                stop_if_asked(event, checkpoint)
                if out_of_patience(event, state, training.patience):
                    progress.log(f"early stopping: no {metric} improvement in {training.patience} evaluations")
                    break
    finally:
        restore_ctrl_c()
    checkpoint()
    return finished_model(accelerator.unwrap_model(model), paths.best, training, method), state


def prepare_optimisation(model: Any, heads: list[str], training: TrainingConfig, total_steps: int, accelerator: Any,
                         method: Any) -> tuple[Any, torch.optim.Optimizer, Any, Callable[[int], None] | None]:
    """The model and optimizer as accelerate wraps them, the schedule, and the method's per-step work."""
    if training.gradient_checkpointing:  # on the bare model, before accelerate wraps it
        enable_gradient_checkpointing(model)
    optimizer = build_optimizer(model, lr=training.lr, head_lr=training.head_lr,
                                weight_decay=training.weight_decay, heads=heads, layer_decay=training.layer_decay)
    scheduler = linear_schedule(optimizer, warmup_ratio=training.warmup_ratio, total_steps=total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    step_callback = method.step_callback if method is not None else None
    after_step = step_callback(accelerator.unwrap_model(model)) if step_callback else None
    return model, optimizer, scheduler, after_step


def record_history(history: list[dict], event: StepEvent, lr: float) -> None:
    """The step's training loss and learning rate, then its dev metrics when it evaluated."""
    history.append({"step": event.step, "epoch": round(event.epoch, 4), "train_loss": event.loss, "lr": lr})
    if event.metrics is not None:
        history.append({"step": event.step, "epoch": round(event.epoch, 4),
                        **{f"dev_{k}": v for k, v in event.metrics.items()}})


def dev_line(event: StepEvent) -> str:
    shown = " ".join(f"{k}={v:.4f}" for k, v in event.metrics.items())
    return f"step {event.step} epoch {event.epoch:.2f} dev {shown}" + (" (best)" if event.is_best else "")


def stop_if_asked(event: StepEvent, checkpoint: Callable[[], None]) -> None:
    """After a stop is asked for (``STOP``): save, then stop with how to continue."""
    if STOP.is_set():
        checkpoint()
        raise Interrupted(f"interrupted at step {event.step}; continue with --resume")


def out_of_patience(event: StepEvent, state: LoopState, patience: int | None) -> bool:
    """Whether this evaluation is the ``patience``-th in a row without improvement."""
    return bool(patience) and event.metrics is not None and state.evals_without_improvement >= patience


def finished_model(model: Any, best: Path, training: TrainingConfig, method: Any) -> Any:
    """The trained (unwrapped) model with the best weights seen on dev, as it was loaded (no
    checkpointing), after the method's finishing step."""
    if training.gradient_checkpointing:
        disable_gradient_checkpointing(model)
    load_trainable_weights(best, model)
    if method is not None and method.finish:
        method.finish(model)
    return model
