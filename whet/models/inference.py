"""Running a model over encoded features without gradients, in length-sorted batches cut
where the padding saved is worth another forward pass."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from whet.data.token_batches import feature_length, padding_aware_batches
from whet.models.precision import resolve_precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``bf16`` (and for ``auto`` where the device is fast at it), else nothing."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cast_linear_weights_for_autocast(model: torch.nn.Module) -> int:
    """Hold every Linear layer's weight and bias in bf16, for a model that only ever runs under
    bf16 autocast; returns how many layers changed.

    Autocast casts a float32 weight to bf16 at each call, so each forward pass of MiniLM cast its
    10.6M Linear weights again: about 3 ms of a pass on a CPU with AMX (``forward_cost.py``).
    Cast once, the outputs are the same to the bit (autocast computes with a bf16 weight as it
    did with the cast one), and the Linear weights take half the memory. The model must not run
    outside autocast afterwards: a float32 input would meet a bf16 weight."""
    changed = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and module.weight.dtype == torch.float32:
            module.to(torch.bfloat16)
            changed += 1
    return changed


def move_to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "labels", "use_cache",
                "output_hidden_states",  # asked for by the out-of-scope feature scorers
                "start_positions", "end_positions")


def batch_overhead_tokens(device: torch.device, precision: str = "fp32") -> int:
    """What one more forward pass costs, in padded tokens' worth. On a CPU the weights are
    read once per pass whatever its size (``benchmarks/forward_cost.py`` measures it: MiniLM
    on 2 cores, 8.27 ms a pass and 0.133 ms a token, about 62 tokens; 48 cuts a little more
    readily). Under bf16 autocast on a CPU with AMX a token costs about a fifth as much: with the
    Linear weights held in bf16 (``cast_linear_weights_for_autocast``) 5.1 ms a pass and 0.028 ms
    a token, about 190 tokens (``forward_cost.py --precision bf16``; 7.9 ms a pass, 270 tokens,
    when autocast casts the weights at each call), so a server's batch of short requests is rarely
    worth cutting. On a GPU a pass costs launches and synchronisation that a few hundred more
    tokens do not change."""
    if device.type != "cpu":
        return 1024
    return 192 if resolve_precision(precision, device) == "bf16" else 48


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The tensors the model's forward takes (collated batches also carry bookkeeping)."""
    return {k: v for k, v in batch.items() if k in MODEL_INPUTS}


def batched_logits(model: Any, features: list[dict], collate: Callable[[list[dict]], dict], *,
                   max_sentences: int, max_tokens: int, device: torch.device, precision: str = "fp32",
                   reduce: Callable[[Any, dict], np.ndarray] | None = None
                   ) -> Iterator[tuple[list[int], np.ndarray, float, int]]:
    """Yield ``(feature indices, logits, summed loss, loss count)`` batch by batch.

    Logits are float32 numpy arrays: (batch, seq, labels) or (batch, labels). The loss is
    summed over labelled items (tokens or examples) so callers can average it exactly.
    ``reduce(outputs, batch)``, when given, replaces the logits with what it returns (one row
    per feature), for tasks whose logits are too large to keep (a language model's vocabulary)
    or that have more than one (a span head's start and end logits).
    """
    lengths = [feature_length(f) for f in features]
    was_training = model.training
    if was_training:  # switching modes walks every module (~2 ms for MiniLM): only when needed
        model.eval()
    try:
        with torch.inference_mode(), autocast(device, precision):
            for indices in padding_aware_batches(lengths, max_sentences, max_tokens,
                                                 overhead_tokens=batch_overhead_tokens(device, precision)):
                batch = move_to(collate([features[i] for i in indices]), device)
                outputs = model(**model_inputs(batch))
                count = _loss_count(batch)
                loss = float(outputs.loss) * count if getattr(outputs, "loss", None) is not None else 0.0
                values = reduce(outputs, batch) if reduce else outputs.logits.float().cpu().numpy()
                yield indices, values, loss, count
    finally:
        if was_training:
            model.train()


def _loss_count(batch: dict[str, Any]) -> int:
    # Span heads are scored once per window, at its answer's start_positions.
    labels = batch.get("labels", batch.get("start_positions"))
    if labels is None:
        return 0
    if labels.dtype.is_floating_point:  # multi-label: one multi-hot row per example
        return int(labels.shape[0])
    return int((labels != -100).sum())


def run_model(model: Any, features: list[dict], collate: Callable[[list[dict]], dict], *,
              max_sentences: int, max_tokens: int, device: torch.device,
              precision: str = "fp32", progress: Callable[[int], None] | None = None,
              reduce: Callable[[Any, dict], np.ndarray] | None = None) -> tuple[list[np.ndarray], float, int]:
    """Logits for every feature (padding removed), in feature order, with the summed loss and
    the number of labelled items it sums over (0 when the features carry no labels)."""
    logits: list[np.ndarray | None] = [None] * len(features)
    loss_sum, loss_count = 0.0, 0
    for indices, batch_logits, loss, count in batched_logits(model, features, collate, max_sentences=max_sentences,
                                                             max_tokens=max_tokens, device=device, precision=precision,
                                                             reduce=reduce):
        for row, index in enumerate(indices):
            value = batch_logits[row]
            logits[index] = value[: len(features[index]["input_ids"])] if value.ndim == 2 else value
        loss_sum += loss
        loss_count += count
        if progress:
            progress(len(indices))
    return logits, loss_sum, loss_count
