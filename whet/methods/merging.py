"""Adapters and merging: telling a model that saves as an adapter on its base from a whole one,
and folding the adapter of a method that changes weights (``Method.merges``) into the base.

``whet export --merge`` and ``output.merge`` (the ``merged/`` copy beside a saved adapter) both
merge through ``merge_adapter``.
"""

from __future__ import annotations

from typing import Any

from whet.errors import ModelError


def is_peft_model(model: Any) -> bool:
    return hasattr(model, "peft_config")


def is_adapter_model(model: Any) -> bool:
    """True when the model saves as an adapter on a base (peft or bottleneck) rather than whole."""
    from whet.methods.bottleneck import is_bottleneck_model

    return is_peft_model(model) or is_bottleneck_model(model)


def check_mergeable(method: str, has_adapter: bool) -> None:
    """Raise ModelError unless a model trained with ``method`` holds an adapter that can merge."""
    from whet.methods import METHODS

    if not has_adapter:
        raise ModelError(f"this model was trained with method '{method}' and holds no adapter to merge; "
                         f"it already is a full model (drop --merge)")
    if method not in METHODS or not METHODS.get(method).merges:
        mergeable = [name for name in METHODS.names() if METHODS.get(name).merges]
        raise ModelError(f"method '{method}' cannot be merged into the base weights (it adds inputs or layers "
                         f"rather than changing weights); merging works for {', '.join(mergeable)}")


def merge_adapter(model: Any, method: str) -> Any:
    """Fold a LoRA-family or IA3 adapter into the base weights; return a plain transformers model.

    The trained head (peft's modules_to_save copy) replaces the base model's head.
    """
    check_mergeable(method, is_adapter_model(model))
    return model.merge_and_unload()
