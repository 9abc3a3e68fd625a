"""Resumable training checkpoints, written atomically and read without unpickling.

A checkpoint holds everything a resumed run needs to continue as if never stopped: the
trainable weights, AdamW's moments, the scheduler position, the random number generator
states and the loop state (epoch, batch within the epoch, best score, history). Tensors go
to safetensors files; everything else to JSON. Beside it, the best weights seen on dev are
kept (the trainable ones only), to be loaded back when training ends.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from whet.errors import WhetError
from whet.io.atomic import atomic_directory, existing_directory, write_json_atomic


@dataclass(frozen=True)
class CheckpointPaths:
    """Where a run's checkpoints go, as one process of the run sees them."""

    last: Path  # the latest complete checkpoint, written by the main process
    best: Path  # the trainable weights that scored best on dev
    process_rng: Path | None  # this process's own random state beside ``last``; None on the main process


def checkpoint_paths(run_dir: Path, process_index: int) -> CheckpointPaths:
    checkpoints = run_dir / "checkpoints"
    # Each process draws its own dropout masks, so each other process keeps its random state beside the checkpoint.
    process_rng = checkpoints / f"last-rng-{process_index}" if process_index else None
    return CheckpointPaths(last=checkpoints / "last", best=checkpoints / "best", process_rng=process_rng)


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


def write_checkpoint(paths: CheckpointPaths, *, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any,
                     loop_state: dict) -> None:
    """This process's part of a checkpoint: all of it on the main process, its random state on the others."""
    if paths.process_rng is None:
        save_checkpoint(paths.last, model=model, optimizer=optimizer, scheduler=scheduler, loop_state=loop_state)
    else:
        save_process_rng(paths.process_rng, step=loop_state["step"])


def save_process_rng(path: Path, *, step: int) -> None:
    """Write the random state of a process other than the one writing the checkpoint: in a
    distributed run each process draws its own dropout masks."""
    rng_tensors, rng_meta = _rng_state()
    with atomic_directory(path) as tmp:
        save_file(rng_tensors, str(tmp / "rng.safetensors"))
        write_json_atomic(tmp / "state.json", {"step": step, "rng": rng_meta})


def _mismatch(model: Any, weights: dict[str, torch.Tensor]) -> str | None:
    """How a checkpoint's weights differ from the model's trainable parameters, if they do."""
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    missing = [name for name in trainable if name not in weights]
    if missing:
        return f"{len(missing)} parameters missing, e.g. {missing[0]}"
    extra = [name for name in weights if name not in trainable]
    if extra:
        return f"{len(extra)} parameters this model does not train, e.g. {extra[0]}"
    for name, parameter in trainable.items():
        if weights[name].shape != parameter.shape:
            return f"{name} has shape {list(weights[name].shape)} there, {list(parameter.shape)} here"
    return None


def load_checkpoint(path: Path, *, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any,
                    process_rng: Path | None = None) -> dict:
    """Restore a checkpoint into the given objects; return the loop state.

    ``process_rng``: where this process's own random state was saved (``save_process_rng``),
    for a process other than the one that wrote the checkpoint.
    """
    found = existing_directory(path)
    if found is None:
        raise WhetError(f"no checkpoint to resume from in {path}; start the run without --resume")
    state = json.loads((found / "state.json").read_text(encoding="utf-8"))
    weights = load_file(str(found / "trainable.safetensors"))
    mismatch = _mismatch(model, weights)
    if mismatch:
        raise WhetError(f"checkpoint {found} does not match this model ({mismatch}); "
                        f"was the config's model or method changed?")
    # Not strict: the checkpoint holds the trainable parameters only, the frozen ones come from the model.
    model.load_state_dict(weights, strict=False)
    optimizer.load_state_dict(_optimizer_state(load_file(str(found / "optimizer.safetensors")), state["optimizer"]))
    scheduler.load_state_dict(state["scheduler"])
    _restore_rng(load_file(str(found / "rng.safetensors")), state["rng"])
    own = existing_directory(process_rng) if process_rng is not None else None
    if own is not None:
        own_state = json.loads((own / "state.json").read_text(encoding="utf-8"))
        # Saved at another step (by an older run, or a crash between the two writes): keep the main process's state.
        if own_state["step"] == state["loop"]["step"]:
            _restore_rng(load_file(str(own / "rng.safetensors")), own_state["rng"])
    return state["loop"]


def save_trainable_weights(path: Path, model: Any) -> None:
    """The model's trainable weights alone (the best seen on dev), replacing any older ones atomically."""
    with atomic_directory(path) as tmp:
        save_file(trainable_state(model), str(tmp / "trainable.safetensors"))


def load_trainable_weights(path: Path, model: Any) -> None:
    """Load what ``save_trainable_weights`` wrote, if it wrote anything."""
    found = existing_directory(path)
    if found is not None:
        model.load_state_dict(load_file(str(found / "trainable.safetensors")), strict=False)
