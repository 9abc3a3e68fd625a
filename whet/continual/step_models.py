"""The model each step starts from, and the model directory each step leaves behind.

A step starts from the previous step's saved model (or, for the first step and for joint
training, from the plan's ``model``) with its head grown to the step's labels. The plan's
``model`` is either a pretrained model (a new head is added) or a model saved by whet,
whose labels come first in the grown head.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from whet.continual.heads import expand_head
from whet.errors import ModelError
from whet.io.atomic import existing_directory, write_json_atomic
from whet.models.saved_model import METADATA

STATE_FILE = "continual.json"


def is_whet_model(name: str | Path) -> bool:
    found = existing_directory(Path(name).expanduser())
    return found is not None and (found / METADATA).is_file()


def load_plain_model(directory: str | Path) -> Any:
    """A model saved by whet as a plain transformers model (a LoRA adapter is merged in)."""
    from whet.models.saved_model import is_peft_model, load_saved_model

    model, _, info = load_saved_model(Path(directory))
    if info.quantization:
        raise ModelError(f"{directory} is quantized for prediction; continue training from the float model")
    return model.merge_and_unload() if is_peft_model(model) else model


def whet_model_labels(directory: str | Path) -> tuple[str, list[str]]:
    """(task, labels) of a model saved by whet."""
    from whet.models.saved_model import read_info

    info = read_info(Path(directory))
    return info.task, list(info.labels)


def starting_model(source: str | Path, labels: list[str], *, task: Any, data: Any,
                   model_settings: dict[str, Any] | None = None) -> Any:
    """``source`` with a head for ``labels``: a whet model's head grown (its configuration as saved),
    or a new head on a pretrained body with ``model_settings`` changed in its configuration."""
    from whet.training.setup import build_model

    if is_whet_model(source):
        model = load_plain_model(source)
        expand_head(model, labels)
    else:
        model = build_model(str(source), task, labels, data, model_settings=model_settings)
    model.train()
    return model


def read_state(directory: str | Path | None) -> dict:
    """The continual state saved with a model ({} for a model that never went through a plan)."""
    if directory is None:
        return {}
    path = Path(directory) / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_state(directory: Path, state: dict) -> None:
    write_json_atomic(Path(directory) / STATE_FILE, state)
