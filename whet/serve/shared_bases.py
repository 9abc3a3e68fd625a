"""LoRA adapters that share one base model: checks, and loading one adapter onto the base.

Every adapter whose whet.json names the same task and base model is added to one
``PeftModel`` under its own peft adapter name; a batch switches to its adapter with
``set_adapter``. Each adapter keeps its own copy of the task head (peft's
``modules_to_save``), resized here when its label count differs from the base's.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from whet.errors import ModelError

NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.ckpt")
ADAPTER_WEIGHTS = "adapter_model.safetensors"


class AdapterNotFound(ModelError):
    """No such adapter in the adapter directory."""


def check_name(name: str, what: str = "model name") -> str:
    """A served name: letters, digits, '_', '.', '-'; never a path or only dots."""
    if not NAME.fullmatch(name) or set(name) == {"."}:
        raise ModelError(f"{what} {name!r} is not allowed; use 1-64 letters, digits, '_', '.' or '-'")
    return name


def adapter_source(adapter_dir: Path, name: str) -> Path:
    """The directory ``name`` under ``adapter_dir``; names cannot leave it (no separators, no '..')."""
    check_name(name, "adapter source")
    root = adapter_dir.resolve()
    path = (root / name).resolve()
    if path.parent != root:  # a symlink pointing elsewhere
        raise ModelError(f"adapter source {name!r} resolves outside the adapter directory")
    if not path.is_dir():
        raise AdapterNotFound(f"no adapter {name!r} in the adapter directory")
    return path


def check_safetensors_only(directory: Path) -> None:
    """Refuse directories holding pickled weights: unpickling can run arbitrary code."""
    pickled = sorted(p.name for pattern in PICKLED_WEIGHTS for p in directory.glob(pattern))
    if pickled:
        raise ModelError(f"{directory.name} holds pickled weights ({', '.join(pickled)}); "
                         f"only safetensors are loaded, remove them or re-save the model")


def read_adapter_config(directory: Path) -> Any:
    from peft import PeftConfig
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    config = PEFT_TYPE_TO_CONFIG_MAPPING[PeftConfig._get_peft_type(str(directory))].from_pretrained(str(directory))
    config.inference_mode = True
    return config


def read_adapter_weights(directory: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    check_safetensors_only(directory)
    path = directory / ADAPTER_WEIGHTS
    if not path.is_file():
        raise ModelError(f"{directory.name} has no {ADAPTER_WEIGHTS}; give a LoRA model directory saved by whet train")
    return load_file(str(path))


def wrap_base(base: Any, key: str, directory: Path) -> Any:
    """A ``PeftModel`` around ``base`` holding the adapter in ``directory`` as ``key``."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notes from transformers' internals
        model = get_peft_model(base, read_adapter_config(directory), adapter_name=key)
    _load_weights(model, key, directory)
    model.eval()
    return model


def load_adapter(model: Any, key: str, directory: Path) -> None:
    """Add the adapter of a whet LoRA model directory to the shared ``PeftModel`` as ``key``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.add_adapter(key, read_adapter_config(directory))
    try:
        _load_weights(model, key, directory)
    except Exception:
        model.delete_adapter(key)
        raise
    model.eval()


def _load_weights(model: Any, key: str, directory: Path) -> None:
    from peft.utils import set_peft_model_state_dict

    weights = read_adapter_weights(directory)
    _fit_heads(model, key, weights)
    result = set_peft_model_state_dict(model, weights, adapter_name=key)
    missing = [k for k in result.missing_keys if f".{key}." in k]
    if missing:
        raise ModelError(f"{directory.name}: the adapter weights lack {len(missing)} tensors (e.g. {missing[0]}); "
                         f"the adapter does not fit its base model")


def _fit_heads(model: Any, key: str, weights: dict[str, Any]) -> None:
    """Give this adapter's head copies the shapes of its saved weights (its own label count)."""
    import torch
    from peft.utils.other import ModulesToSaveWrapper

    for wrapper_name, wrapper in model.named_modules():
        if not isinstance(wrapper, ModulesToSaveWrapper) or key not in wrapper.modules_to_save:
            continue
        head = wrapper.modules_to_save[key]
        for sub_name, layer in list(head.named_modules()):
            saved = weights.get(".".join(p for p in (wrapper_name, sub_name, "weight") if p))
            if not isinstance(layer, torch.nn.Linear) or saved is None or saved.shape == layer.weight.shape:
                continue
            resized = torch.nn.Linear(saved.shape[1], saved.shape[0], bias=layer.bias is not None,
                                      device=layer.weight.device, dtype=layer.weight.dtype)
            if not sub_name:
                wrapper.modules_to_save[key] = resized
                continue
            parent, _, attribute = sub_name.rpartition(".")
            setattr(head.get_submodule(parent) if parent else head, attribute, resized)
