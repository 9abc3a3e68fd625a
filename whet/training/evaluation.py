"""Scoring a model on a dev or test set during and after training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from whet.config import DataConfig, EvalConfig, TrainingConfig


@dataclass(frozen=True)
class EvalSettings:
    """How a split is scored, read once from a run's (or a plan's) sections."""

    batch_size: int  # most sentences in one batch
    max_tokens: int  # most padded tokens in one batch
    precision: str  # "fp32", "bf16" autocast, or "auto" (whet.models.precision decides per device)
    mode: str  # NER entity matching: "default" or "strict"
    generate: bool  # a generating task also scores generated text
    max_new_tokens: int
    data: DataConfig  # how the task reads its labels (e.g. the NER tag scheme)


def eval_settings(eval_config: EvalConfig, training: TrainingConfig, data: DataConfig) -> EvalSettings:
    # Without gradients to keep, an evaluation batch takes twice the training batch's tokens.
    return EvalSettings(batch_size=eval_config.batch_size, max_tokens=training.max_tokens * 2,
                        precision=training.precision, mode=eval_config.mode, generate=eval_config.generate,
                        max_new_tokens=eval_config.max_new_tokens, data=data)


def evaluate_features(model: Any, task: Any, examples: list, features: list[dict], labels: list[str],
                      settings: EvalSettings, collate: Callable, device: torch.device,
                      accelerator: Any = None, tokenizer: Any = None) -> tuple[dict, dict[str, float]]:
    """The report and metrics of ``model`` on ``examples`` (encoded as ``features``).

    In a distributed run each process scores every N-th feature and the logits are gathered,
    so no feature is scored twice and every process gets the same result. With
    ``settings.generate`` (and a ``tokenizer``), a generating task also scores generated text.
    """
    from whet.models.inference import run_model

    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    mine = list(range(rank, len(features), world))
    logits_part, loss_sum, loss_count = run_model(
        model, [features[i] for i in mine], collate, max_sentences=settings.batch_size,
        max_tokens=settings.max_tokens, device=device, precision=settings.precision,
        reduce=task.reduce_outputs)
    pieces = [(mine, logits_part, loss_sum, loss_count)]
    if world > 1:
        from accelerate.utils import gather_object

        pieces = gather_object(pieces)
    logits: list[Any] = [None] * len(features)
    loss_sum, loss_count = 0.0, 0
    for indices, part, piece_loss, piece_count in pieces:
        for index, value in zip(indices, part):
            logits[index] = value
        loss_sum += piece_loss
        loss_count += piece_count
    report, metrics = task.evaluate(examples, features, logits, labels, settings.data, settings.mode)
    if loss_count:
        metrics["loss"] = loss_sum / loss_count
    if settings.generate and tokenizer is not None and task.generation_metrics is not None:
        # Each process generates for every example: generation is deterministic (greedy), so all agree.
        extra_report, extra_metrics = task.generation_metrics(model, tokenizer, examples,
                                                              max_new_tokens=settings.max_new_tokens,
                                                              batch_size=settings.batch_size)
        report.update(extra_report)
        metrics.update(extra_metrics)
    return report, metrics
