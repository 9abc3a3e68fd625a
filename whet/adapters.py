"""``whet adapters``: add, list and remove the named adapters of an adapter store, and load them.

``whet adapters add STORE NAME MODEL`` copies an adapter run's ``model/`` into the store
(creating it, and copying the base, on first use). ``load_saved_model(STORE, adapter=NAME)``
loads one; ``load_adapters`` loads several over one copy of the base weights in memory. The
store's layout is described in ``whet.models.adapter_store``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from whet.errors import ModelError
from whet.models.adapter_store import (adapter_directory, adapters_folder, check_adapter_name, is_adapter_store,
                                       list_adapters, store_base_model, write_store_index)

__all__ = ["add_adapter", "check_adapter_name", "list_adapters", "load_adapters", "remove_adapter"]

_BASE_FILES = ("config.json", "*.safetensors", "model.safetensors.index.json")


def _same_base(a: str, b: str) -> bool:
    from whet.models.pretrained import resolve_model

    return a == b or resolve_model(a) == resolve_model(b)


def _copy_base(base_model: str, destination: Path) -> None:
    """Copy the base model's config and safetensors weights (a local directory, builtin, or cached hub model)."""
    from whet.io.atomic import atomic_directory
    from whet.models.pretrained import resolve_model

    location = Path(resolve_model(base_model))
    if not location.is_dir():
        from huggingface_hub import snapshot_download

        location = Path(snapshot_download(base_model, allow_patterns=list(_BASE_FILES)))
    files = sorted({f for pattern in _BASE_FILES for f in location.glob(pattern) if f.is_file()})
    if not any(f.suffix == ".safetensors" for f in files):
        raise ModelError(f"base model {base_model} has no safetensors weights to copy into the store")
    with atomic_directory(destination) as tmp:
        for file in files:
            shutil.copy2(file, tmp / file.name)


def add_adapter(store: str | Path, name: str, model_dir: str | Path) -> Path:
    """Copy the adapter model at ``model_dir`` into ``store`` as ``name``; return its directory.

    The store is created on first use with a copy of the adapter's base model; later adapters
    must have been trained on the same base.
    """
    from whet.io.atomic import atomic_directory, existing_directory
    from whet.models.saved_model import read_info

    store, model_dir = Path(store), Path(model_dir)
    check_adapter_name(name)
    info = read_info(model_dir)
    if not info.adapter:
        raise ModelError(f"{model_dir} is a full model (method '{info.method}'); only adapter models can share a "
                         f"base: train with an adapter method such as method.name=lora")
    if is_adapter_store(store):
        base_model = store_base_model(store)
        if not _same_base(base_model, info.base_model):
            raise ModelError(f"{model_dir} was trained on {info.base_model}, but the adapters in {store} share "
                             f"{base_model}; use another store")
        if name in list_adapters(store):
            raise ModelError(f"{store} already has an adapter '{name}'; remove it first "
                             f"(whet adapters remove {store} {name}) or choose another name")
    else:
        if store.exists() and any(store.iterdir()):
            raise ModelError(f"{store} exists and is not an adapter store; choose a new directory")
        _copy_base(info.base_model, store / "base")
        write_store_index(store, info.base_model)
    source = existing_directory(model_dir)
    destination = adapters_folder(store) / name
    with atomic_directory(destination) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("merged"))
    return destination


def remove_adapter(store: str | Path, name: str) -> None:
    shutil.rmtree(adapter_directory(Path(store), name))


def load_adapters(store: str | Path, names: list[str] | None = None, device: Any = None) -> dict[str, Any]:
    """``{name: Predictor}`` for the named adapters (default: all), with one copy of the base weights.

    Each adapter keeps its own head, labels, task and tokenizer; only the pretrained weights are
    shared, which no adapter changes.

    Example:
        >>> predictors = load_adapters("stores/support")
        >>> predictors["intents"].predict(["my card was stolen"])
    """
    from whet.predict import Predictor
    from whet.models.saved_model import load_saved_model

    store = Path(store)
    base_weights: dict[str, Any] = {}
    predictors = {}
    for name in names if names is not None else list_adapters(store):
        model, tokenizer, info = load_saved_model(store, name, base_weights=base_weights)
        # Moved to the device before the next load, so the shared tensors are already there.
        predictors[name] = Predictor(model, tokenizer, info, device=device)
    return predictors
