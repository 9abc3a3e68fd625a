"""``training.gradient_checkpointing``: less activation memory for about 30% more compute."""

from __future__ import annotations

import logging
from typing import Any

from whet.errors import ConfigError

log = logging.getLogger("whet")


def enable_gradient_checkpointing(model: Any) -> None:
    """Recompute each layer's activations in the backward pass instead of keeping them, in the
    pretrained model inside ``model`` (itself, or the one a peft model, PET's classifier or a
    sentence encoder wraps).

    Checkpointing is non-reentrant: with peft, the layers after frozen embeddings get their
    gradients without the embeddings' outputs requiring any.
    """
    pretrained = _pretrained_inside(model)
    if pretrained is None or not pretrained.supports_gradient_checkpointing:
        kind = pretrained.config.model_type if pretrained is not None else type(model).__name__
        raise ConfigError(f"training.gradient_checkpointing: {kind} models do not support gradient checkpointing; "
                          f"set training.gradient_checkpointing to false")
    # transformers 5.25 renamed it activation_checkpointing_enable and deprecated the old name.
    enable = getattr(pretrained, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        pretrained.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    # transformers also hooks the input embeddings so that their outputs require gradients, which
    # only reentrant checkpointing needs; with the hook a frozen body would build a graph for nothing.
    pretrained.disable_input_require_grads()
    log.info("gradient checkpointing on: each layer's activations are recomputed in the backward pass")


def disable_gradient_checkpointing(model: Any) -> None:
    """Undo ``enable_gradient_checkpointing``, so a trained model is handed on as it was loaded."""
    pretrained = _pretrained_inside(model)
    if pretrained is None or not pretrained.supports_gradient_checkpointing:
        return
    disable = getattr(pretrained, "activation_checkpointing_disable", None)
    (disable or pretrained.gradient_checkpointing_disable)()


def _pretrained_inside(model: Any) -> Any:
    from transformers import PreTrainedModel

    # modules() walks from the outside in, so this is the outermost pretrained model.
    return next((m for m in model.modules() if isinstance(m, PreTrainedModel)), None)
