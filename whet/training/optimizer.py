"""The optimizer and its learning-rate schedule."""

from __future__ import annotations

import logging
import re
from typing import Any

import torch

log = logging.getLogger("whet")

# The index of a transformer layer in a parameter's name: BERT-like (encoder.layer.3), Llama-like
# (layers.3), GPT-2 (h.3), T5 (block.3).
LAYER_INDEX = re.compile(r"\.(?:layer|layers|h|block)\.(\d+)\.")


def no_decay(name: str) -> bool:
    """Biases and normalisation weights are not decayed (the BERT recipe)."""
    lowered = name.lower()
    return lowered.endswith("bias") or "layernorm" in lowered or "layer_norm" in lowered or ".norm" in lowered


def layer_depths(names: list[str]) -> tuple[dict[str, int], int]:
    """How deep each parameter sits: 0 the embeddings, i + 1 the i-th transformer layer, and one
    above the top layer (returned too) everything else: pooler, final norm, task head."""
    indices = {name: int(match.group(1)) for name in names if (match := LAYER_INDEX.search(name))}
    top = max(indices.values(), default=-1) + 2

    def depth(name: str) -> int:
        if name in indices:
            return indices[name] + 1
        return 0 if "embed" in name.lower() or re.search(r"\.(?:wte|wpe)\.", name) else top
    return {name: depth(name) for name in names}, top


def build_optimizer(model: Any, *, lr: float, head_lr: float | None, weight_decay: float,
                    heads: list[str], layer_decay: float = 1.0) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; the new task head (``heads``) trains at ``head_lr`` when given.

    ``layer_decay`` below 1 trains each layer at that fraction of the rate of the layer above it
    (layer-wise learning-rate decay): the top transformer layer at ``lr * layer_decay``, the
    embeddings at ``lr * layer_decay ** (layers + 1)``, the pooler and head at their own rate; the
    lower layers hold the general knowledge fine-tuning should change least."""
    named = [(name, parameter) for name, parameter in model.named_parameters() if parameter.requires_grad]
    # Without decay every parameter sits at the top: the same groups as an optimizer without the option.
    depths, top = layer_depths([name for name, _ in named]) if layer_decay < 1 else ({}, 0)
    groups: dict[tuple[bool, bool, int], list] = {}
    for name, parameter in named:
        # peft wraps modules as base_model.model.<head>...; the head is the part after that prefix
        bare = name.removeprefix("base_model.model.")
        is_head = bare.split(".", 1)[0] in heads
        depth = top if is_head else depths.get(name, top)
        groups.setdefault((is_head, no_decay(name), depth), []).append(parameter)
    param_groups = [{"params": params,
                     "lr": (head_lr or lr) if is_head else lr * layer_decay ** (top - depth),
                     "weight_decay": 0.0 if skip_decay else weight_decay}
                    for (is_head, skip_decay, depth), params in sorted(groups.items())]
    if layer_decay < 1:
        log.info("layer-wise lr decay %g: the top layer at lr %.3g, the embeddings at %.3g", layer_decay,
                 lr * layer_decay, lr * layer_decay ** top)
    try:
        # The fused kernel is several times faster than foreach on CPU (one pass over the 30k-row
        # word embedding instead of several); fall back where a device or dtype lacks it.
        return torch.optim.AdamW(param_groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(param_groups, lr=lr, foreach=True)


def linear_schedule(optimizer: torch.optim.Optimizer, *, warmup_ratio: float, total_steps: int) -> Any:
    """Linear warmup over ``warmup_ratio`` of the steps, then linear decay to zero."""
    import transformers

    return transformers.get_linear_schedule_with_warmup(optimizer, int(warmup_ratio * total_steps), total_steps)
