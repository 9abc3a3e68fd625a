"""``whet export``: load a saved model, transform it, write a new model directory.

Each option is one step applied in turn to the loaded model (today ``merge``), so options
compose: a later step such as quantisation takes the merged model. Without options the model
is written as loaded, which turns a named adapter of a store into a standalone directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from whet.errors import ModelError


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
    from whet.saved_model import is_adapter_model

    check_mergeable(method, is_adapter_model(model))
    return model.merge_and_unload()


def export_model(source: Path, output: Path, *, merge: bool = False, adapter: str | None = None) -> Path:
    """Write ``source`` (or its named ``adapter``) to a new directory ``output``, merged if asked.

    Example:
        >>> export_model(Path("runs/intents-lora/model"), Path("dist/intents"), merge=True)
    """
    from whet.io import existing_directory
    from whet.saved_model import load_saved_model, read_info, save_model

    if existing_directory(output) is not None:
        raise ModelError(f"{output} already exists; choose a new --output directory or remove it first")
    if merge:  # answered from whet.json, before any weights load
        if adapter is not None:
            from whet.adapters import adapter_directory

            info = read_info(adapter_directory(Path(source), adapter))
        else:
            info = read_info(Path(source))
        check_mergeable(info.method, info.adapter)
    model, tokenizer, info = load_saved_model(source, adapter)
    if merge:
        model = merge_adapter(model, info.method)
    return save_model(output, model, tokenizer, info)
