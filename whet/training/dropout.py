"""Dropout with cheaper random masks, for training on a CPU.

torch's CPU dropout draws one Bernoulli sample per element, and drawing those masks took
11-15 % of a bf16 training step of the builtin MiniLM (benchmarks/profile_train.py), the
largest cost after the matrix products. Here a mask is cut from 16 random bits per element,
four elements to each 64-bit draw of the same generator, and applied with torch's own fused
kernel (the one dropout's backward pass uses). The drop probability becomes a multiple of
1/65536 (0.1 becomes 0.100006); the masks come from torch's default generator, so a seeded run
draws the same masks again and a resumed run continues the generator's state as before.

On a GPU torch's dropout already draws its masks in the fused kernel, and it is left alone.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import torch

_LEVELS = 1 << 16  # random values per element: 16 bits each


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """A boolean mask of ``shape``, each element True (kept) with probability 1 - ``p``."""
    count = shape.numel()
    # The full int64 range: random_() would leave each word's top bit 0, and with it every
    # fourth element's top bit.
    words = torch.randint(-(1 << 63), (1 << 63) - 1, ((count + 3) // 4,), dtype=torch.int64, device=device)
    values = words.view(torch.int16)[:count].view(shape)  # uniform over -32768 .. 32767
    return values >= -(1 << 15) + round(p * _LEVELS)


class _MaskedDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float) -> torch.Tensor:
        mask = keep_mask(x.shape, p, x.device)
        ctx.scale = 1.0 / (1.0 - p)
        ctx.save_for_backward(mask)
        return torch.ops.aten.native_dropout_backward(x, mask, ctx.scale)  # x * mask * scale, one pass

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (mask,) = ctx.saved_tensors
        return torch.ops.aten.native_dropout_backward(grad, mask, ctx.scale), None


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``torch.nn.functional.dropout`` with the masks of ``keep_mask``."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    return _MaskedDropout.apply(x, p)


def _forward(module: torch.nn.Dropout, x: torch.Tensor) -> torch.Tensor:
    return dropout(x, module.p, module.training)


@contextlib.contextmanager
def cheap_dropout(model: torch.nn.Module, device: torch.device) -> Iterator[int]:
    """While open, the model's ``torch.nn.Dropout`` layers draw their masks with ``keep_mask``
    when training on a CPU; yields how many layers that is (0 elsewhere). Dropout called as a
    function inside a model's code (attention dropout in torch's attention kernel) is unchanged."""
    layers = [m for m in model.modules() if type(m) is torch.nn.Dropout and m.p > 0] if device.type == "cpu" else []
    for layer in layers:
        layer.forward = types.MethodType(_forward, layer)
    try:
        yield len(layers)
    finally:
        for layer in layers:
            del layer.forward  # back to the class's own forward
