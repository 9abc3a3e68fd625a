"""What the methods share: finding the task head, freezing, and counting parameters."""

from __future__ import annotations

from typing import Any


def head_module_names(model: Any) -> list[str]:
    """Top-level modules with weights outside the pretrained body: the task head (e.g. 'classifier').

    A language model's output layer (``lm_head``) is pretrained, often tied to the input
    embeddings, so it is part of the body, not a new head.
    """
    prefix = getattr(model, "base_model_prefix", "")
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return [name for name, module in model.named_children()
            if name != prefix and module is not output and any(True for _ in module.parameters())]


def freeze_all_but(model: Any, trainable: Any) -> Any:
    """Set ``requires_grad`` from ``trainable(name) -> bool`` for every parameter."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(bool(trainable(name)))
    return model


def is_head_parameter(name: str, heads: list[str]) -> bool:
    return name.split(".", 1)[0] in heads


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return trainable, total
