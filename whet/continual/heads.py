"""Growing a classification head for new labels, and restricting its outputs to a task's labels.

The head's output layer is the linear layer of the task head whose outputs are the labels
(``classifier`` for BERT sequence and token classification, ``classifier.out_proj`` for
RoBERTa). Growing it keeps the old rows bit for bit and initialises the new rows as the
model initialises a new head (normal with the config's ``initializer_range``, zero bias).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from whet.errors import ModelError
from whet.methods.trainable import head_module_names

MASKED = -1e4  # a logit that no softmax gives any weight, yet finite (no NaN in fp32 or bf16)


def model_labels(model: Any) -> list[str]:
    id2label = model.config.id2label or {}
    return [id2label[i] for i in range(len(id2label))]


def output_layers(model: Any) -> list[tuple[str, nn.Linear]]:
    """(name, layer) of every linear layer in the task head with one output per label."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    heads = head_module_names(base)
    count = len(model_labels(base))
    return [(name, module) for name, module in base.named_modules()
            if name.split(".", 1)[0] in heads and isinstance(module, nn.Linear) and module.out_features == count]


def expand_head(model: Any, labels: list[str]) -> None:
    """Grow a plain transformers classifier (in place) from its labels to ``labels``.

    ``labels`` must start with the model's labels in their order: old rows keep their index.
    """
    old = model_labels(model)
    if labels[: len(old)] != old:
        raise ModelError(f"the model's labels {old[:5]}... are not the first of the new label list; "
                         f"a grown head must keep the old labels in their order")
    if len(labels) > len(old):
        layers = output_layers(model)
        if len(layers) != 1:
            raise ModelError(f"cannot find the one output layer of the task head to grow (found {len(layers)})")
        name, layer = layers[0]
        grown = nn.Linear(layer.in_features, len(labels), bias=layer.bias is not None,
                          device=layer.weight.device, dtype=layer.weight.dtype)
        with torch.no_grad():
            grown.weight.normal_(0.0, getattr(model.config, "initializer_range", 0.02))
            grown.weight[: len(old)] = layer.weight
            if layer.bias is not None:
                grown.bias.zero_()
                grown.bias[: len(old)] = layer.bias
        parent_name, _, attribute = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attribute, grown)
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {label: i for i, label in enumerate(labels)}
    model.num_labels = len(labels)  # the forward pass reshapes logits with it to compute the loss


@contextlib.contextmanager
def restricted_to(model: Any, allowed: torch.Tensor | None) -> Iterator[None]:
    """Within the block the model predicts only the labels where ``allowed`` (labels,) is true."""
    if allowed is None:
        yield
        return

    def mask(module: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return output.masked_fill(~allowed.to(output.device), MASKED)

    handles = [layer.register_forward_hook(mask) for _, layer in output_layers(model)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with each example's logits restricted to its task's labels.

    logits: (batch, labels) or (batch, seq, labels); labels: (batch,) or (batch, seq), -100 ignored;
    allowed: (batch, labels) bool.
    """
    if logits.dim() == 3:
        allowed = allowed[:, None, :]
    masked = logits.float().masked_fill(~allowed, MASKED)
    return nn.functional.cross_entropy(masked.reshape(-1, masked.shape[-1]), labels.reshape(-1), ignore_index=-100)
