"""Resumable training checkpoints, written atomically and read without unpickling.

A checkpoint holds everything a resumed run needs to continue as if never stopped: the
trainable weights, AdamW's moments, the scheduler position, the random number generator
states and the loop state (epoch, batch within the epoch, best score, history). Tensors go
to safetensors files; everything else to JSON.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from whet.errors import WhetError
from whet.io import atomic_directory, existing_directory, write_json_atomic


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    np_state = np.random.get_state()
    py_state = random.getstate()
    meta = {"numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "python": [py_state[0], list(py_state[1]), py_state[2]]}
    return tensors, meta


def _restore_rng(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, keys, *rest = meta["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(path: Path, *, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any,
                    loop_state: dict) -> None:
    """Write a complete checkpoint to ``path`` (replacing any older one atomically)."""
    with atomic_directory(path) as tmp:
        save_file(trainable_state(model), str(tmp / "trainable.safetensors"))
        optimizer_tensors, optimizer_meta = _optimizer_tensors(optimizer)
        save_file(optimizer_tensors, str(tmp / "optimizer.safetensors"))
        rng_tensors, rng_meta = _rng_state()
        save_file(rng_tensors, str(tmp / "rng.safetensors"))
        write_json_atomic(tmp / "state.json", {"loop": loop_state, "optimizer": optimizer_meta,
                                               "scheduler": scheduler.state_dict(), "rng": rng_meta})


def load_checkpoint(path: Path, *, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict:
    """Restore a checkpoint into the given objects; return the loop state."""
    found = existing_directory(path)
    if found is None:
        raise WhetError(f"no checkpoint to resume from in {path}; start the run without --resume")
    state = json.loads((found / "state.json").read_text(encoding="utf-8"))
    weights = load_file(str(found / "trainable.safetensors"))
    missing = [name for name, p in model.named_parameters() if p.requires_grad and name not in weights]
    if missing:
        raise WhetError(f"checkpoint {found} does not match this model ({len(missing)} parameters missing, "
                        f"e.g. {missing[0]}); was the config's model or method changed?")
    model.load_state_dict(weights, strict=False)
    optimizer.load_state_dict(_optimizer_state(load_file(str(found / "optimizer.safetensors")), state["optimizer"]))
    scheduler.load_state_dict(state["scheduler"])
    _restore_rng(load_file(str(found / "rng.safetensors")), state["rng"])
    return state["loop"]
